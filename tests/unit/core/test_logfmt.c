/* Log line format: fixed fields, quoting and escaping, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/logfmt.h"

static void test_line(void **state)
{
	(void)state;
	char buf[256];
	/* 2026-11-28T11:47:49.123Z */
	size_t len =
	        vxpu_logfmt_begin(buf, sizeof(buf), 1795866469123LL, VXPU_LOG_WARN, "device lost");
	vxpu_logfmt_field(buf, sizeof(buf), &len, "dev", "0");
	vxpu_logfmt_field(buf, sizeof(buf), &len, "why", "a \"b\"\\c\nd");
	vxpu_logfmt_field(buf, sizeof(buf), &len, "empty", "");
	assert_string_equal(buf, "ts=2026-11-28T11:47:49.123Z level=warn msg=\"device lost\" dev=0 "
	                         "why=\"a \\\"b\\\"\\\\c\\nd\" empty=\"\"");
	assert_int_equal(len, strlen(buf));
}

static void test_timestamps(void **state)
{
	(void)state;
	char ts[40];
	vxpu_format_rfc3339_ms(0, ts, sizeof(ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	vxpu_format_rfc3339_ms(951782400000LL, ts, sizeof(ts)); /* leap day */
	assert_string_equal(ts, "2000-02-29T00:00:00.000Z");
	vxpu_format_rfc3339_ms(-1, ts, sizeof(ts));
	assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
	vxpu_format_rfc3339_ms(4102444799999LL, ts, sizeof(ts));
	assert_string_equal(ts, "2099-12-31T23:59:59.999Z");
}

static void test_truncation(void **state)
{
	(void)state;
	char buf[40];
	memset(buf, 'x', sizeof(buf));
	size_t len = vxpu_logfmt_begin(buf, sizeof(buf), 0, VXPU_LOG_ERROR,
	                               "a long message that will not fit");
	vxpu_logfmt_field(buf, sizeof(buf), &len, "k", "v");
	assert_int_equal(len, sizeof(buf) - 1);
	assert_int_equal(buf[sizeof(buf) - 1], '\0');
}

static void test_levels(void **state)
{
	(void)state;
	enum vxpu_log_level l;
	assert_int_equal(vxpu_log_level_parse("debug", &l), 0);
	assert_int_equal(l, VXPU_LOG_DEBUG);
	assert_int_equal(vxpu_log_level_parse("off", &l), 0);
	assert_int_equal(l, VXPU_LOG_OFF);
	assert_int_equal(vxpu_log_level_parse("WARN", &l), -1);
	assert_int_equal(vxpu_log_level_parse("", &l), -1);
	assert_string_equal(vxpu_log_level_name(VXPU_LOG_INFO), "info");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_line),
	        cmocka_unit_test(test_timestamps),
	        cmocka_unit_test(test_truncation),
	        cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
