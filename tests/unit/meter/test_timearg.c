/* Report time bounds: RFC 3339, dates, "now", durations ago; strict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meter/timearg.h"

/* 2026-03-01T12:00:00Z */
#define NOW_MS INT64_C(1772366400000)

static void test_good(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t want;
	} cases[] = {
	        {"1970-01-01T00:00:00Z", 0},
	        {"1970-01-01", 0},
	        {"2026-03-01T12:00:00Z", NOW_MS},
	        {"2026-03-01", NOW_MS - 12 * 3600000},
	        {"2026-03-01T12:00:00.5Z", NOW_MS + 500},
	        {"2026-03-01T12:00:00.123456789Z", NOW_MS + 123},
	        {"2026-03-01T14:00:00+02:00", NOW_MS},
	        {"2026-03-01T11:30:00-00:30", NOW_MS},
	        {"2024-02-29T00:00:00Z", INT64_C(1709164800000)},
	        {"2000-02-29", INT64_C(951782400000)},
	        {"2026-12-31T23:59:59Z", INT64_C(1798761599000)},
	        {"now", NOW_MS},
	        {"24h", NOW_MS - 24 * 3600000},
	        {"-24h", NOW_MS - 24 * 3600000},
	        {"7d", NOW_MS - 7 * 86400000LL},
	        {"2w", NOW_MS - 14 * 86400000LL},
	        {"90m", NOW_MS - 90 * 60000},
	        {"30s", NOW_MS - 30000},
	        {"0s", NOW_MS},
	        {"007d", NOW_MS - 7 * 86400000LL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -1;
		char err[256] = "";
		if (vxpu_time_arg_parse(cases[i].text, NOW_MS, &got, err, sizeof(err)) != 0)
			fail_msg("\"%s\" refused: %s", cases[i].text, err);
		if (got != cases[i].want)
			fail_msg("\"%s\": got %lld, want %lld", cases[i].text, (long long)got,
			         (long long)cases[i].want);
	}
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
	        {"", "want RFC 3339"},
	        {"yesterday", "want RFC 3339"},
	        {"2026-02-30", "day 30 does not exist in 2026-02"},
	        {"2025-02-29", "day 29 does not exist"},
	        {"1900-02-29", "before 1970"},
	        {"2026-13-01", "month 13"},
	        {"2026-00-10", "month 00"},
	        {"2026-3-01", "want RFC 3339"},
	        {"2026-03-01T12:00:00", "missing UTC offset"},
	        {"2026-03-01T12:00Z", "want RFC 3339"},
	        {"2026-03-01t12:00:00z", "want RFC 3339"},
	        {"2026-03-01 12:00:00Z", "want RFC 3339"},
	        {"2026-03-01T24:00:00Z", "out of range"},
	        {"2026-03-01T12:60:00Z", "out of range"},
	        {"2026-03-01T23:59:60Z", "out of range"},
	        {"2026-03-01T12:00:00.Z", "1..9 digits"},
	        {"2026-03-01T12:00:00.1234567890Z", "1..9 digits"},
	        {"2026-03-01T12:00:00+0200", "invalid UTC offset"},
	        {"2026-03-01T12:00:00+24:00", "invalid UTC offset"},
	        {"2026-03-01T12:00:00Zjunk", "want RFC 3339"},
	        {"1970-01-01T00:30:00+01:00", "before 1970"},
	        {"24", "needs a unit"},
	        {"24H", "unknown duration unit"},
	        {"1.5h", "unknown duration unit"},
	        {"+24h", "want RFC 3339"},
	        {"--24h", "want RFC 3339"},
	        {"-h", "want RFC 3339"},
	        {"24 h", "unknown duration unit"},
	        {"1000000000s", "at most 9 digits"},
	        {"999999999w", "before 1970"},
	        {"Now", "want RFC 3339"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -7;
		char err[256] = "";
		if (vxpu_time_arg_parse(cases[i].text, NOW_MS, &got, err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted as %lld", cases[i].text, (long long)got);
		assert_int_equal(got, -7);
		if (!strstr(err, "invalid time") || !strstr(err, cases[i].reason))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", cases[i].text, err,
			         cases[i].reason);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good),
	        cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
