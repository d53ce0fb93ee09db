/* Size grammar: every accepted and refused form, with exact byte values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/size.h"

struct good_case {
	const char *text;
	enum vxpu_size_bare bare;
	uint64_t bytes;
};

static const struct good_case good_cases[] = {
        {"1073741824", VXPU_SIZE_BARE_BYTES, VXPU_GIB},
        {"1024MiB", VXPU_SIZE_BARE_BYTES, VXPU_GIB},
        {"1GiB", VXPU_SIZE_BARE_BYTES, VXPU_GIB},
        {"1.5GiB", VXPU_SIZE_BARE_BYTES, 1610612736ULL},
        {"512KiB", VXPU_SIZE_BARE_BYTES, 524288ULL},
        {"2TiB", VXPU_SIZE_BARE_BYTES, 2 * VXPU_TIB},
        {"1g", VXPU_SIZE_BARE_BYTES, VXPU_GIB},
        {"1024m", VXPU_SIZE_BARE_BYTES, VXPU_GIB},
        {"1k", VXPU_SIZE_BARE_BYTES, 1024},
        {"010g", VXPU_SIZE_BARE_BYTES, 10 * VXPU_GIB},
        {"0", VXPU_SIZE_BARE_BYTES, 0},
        {"100B", VXPU_SIZE_BARE_BYTES, 100},
        {"16GB", VXPU_SIZE_BARE_BYTES, 16 * VXPU_GIB},
        {"1K", VXPU_SIZE_BARE_BYTES, 1024},
        {"3M", VXPU_SIZE_BARE_BYTES, 3 * VXPU_MIB},
        {"1t", VXPU_SIZE_BARE_BYTES, VXPU_TIB},
        {"0.5KiB", VXPU_SIZE_BARE_BYTES, 512},
        {"4096", VXPU_SIZE_BARE_MIB, 4 * VXPU_GIB},
        {"1.5", VXPU_SIZE_BARE_MIB, 1572864ULL},
        {"4096MiB", VXPU_SIZE_BARE_MIB, 4 * VXPU_GIB},
        {"18446744073709551615", VXPU_SIZE_BARE_BYTES, UINT64_MAX},
        {"16777215TiB", VXPU_SIZE_BARE_BYTES, 16777215ULL * VXPU_TIB},
        {"0.25MiB", VXPU_SIZE_BARE_BYTES, 262144ULL},
};

struct bad_case {
	const char *text;
	enum vxpu_size_bare bare;
	const char *reason; /* substring expected in the message */
};

static const struct bad_case bad_cases[] = {
        {"12abc", VXPU_SIZE_BARE_BYTES, "unknown unit \"abc\""},
        {"1Gx", VXPU_SIZE_BARE_BYTES, "unknown unit \"Gx\""},
        {"-1GiB", VXPU_SIZE_BARE_BYTES, "negative"},
        {"-5", VXPU_SIZE_BARE_MIB, "negative"},
        {"", VXPU_SIZE_BARE_BYTES, "empty"},
        {"99999999999TiB", VXPU_SIZE_BARE_BYTES, "too large"},
        {"18446744073709551616", VXPU_SIZE_BARE_BYTES, "too large"},
        {"17592186044416MiB", VXPU_SIZE_BARE_BYTES, "too large"},
        {"GiB", VXPU_SIZE_BARE_BYTES, "expected a number"},
        {" 1GiB", VXPU_SIZE_BARE_BYTES, "expected a number"},
        {"1GiB ", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"1 GiB", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"+1GiB", VXPU_SIZE_BARE_BYTES, "expected a number"},
        {"1.", VXPU_SIZE_BARE_BYTES, "expected digits after '.'"},
        {".5GiB", VXPU_SIZE_BARE_BYTES, "expected a number"},
        {"1.3B", VXPU_SIZE_BARE_BYTES, "not a whole number of bytes"},
        {"1.5", VXPU_SIZE_BARE_BYTES, "not a whole number of bytes"},
        {"1e9", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"0x10", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"1gib", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"1,5GiB", VXPU_SIZE_BARE_BYTES, "unknown unit"},
        {"1.2.3GiB", VXPU_SIZE_BARE_BYTES, "unknown unit"},
};

static void test_good_sizes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		uint64_t bytes = 42;
		char err[256] = "";
		int rc = vxpu_size_parse(good_cases[i].text, good_cases[i].bare, &bytes, err,
		                         sizeof(err));
		if (rc != 0)
			fail_msg("\"%s\" refused: %s", good_cases[i].text, err);
		if (bytes != good_cases[i].bytes)
			fail_msg("\"%s\" = %llu, want %llu", good_cases[i].text,
			         (unsigned long long)bytes,
			         (unsigned long long)good_cases[i].bytes);
	}
}

static void test_bad_sizes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		uint64_t bytes = 42;
		char err[256] = "";
		int rc = vxpu_size_parse(bad_cases[i].text, bad_cases[i].bare, &bytes, err,
		                         sizeof(err));
		if (rc == 0)
			fail_msg("\"%s\" accepted as %llu", bad_cases[i].text,
			         (unsigned long long)bytes);
		assert_int_equal(bytes, 42); /* nothing changes on error */
		if (!strstr(err, bad_cases[i].reason))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad_cases[i].text, err,
			         bad_cases[i].reason);
		/* The message names the input. */
		char quoted[128];
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad_cases[i].text);
		if (!strstr(err, quoted))
			fail_msg("message \"%s\" does not name the input", err);
	}
}

static void test_null_err_buffer(void **state)
{
	(void)state;
	uint64_t bytes = 0;
	assert_int_equal(vxpu_size_parse("bad", VXPU_SIZE_BARE_BYTES, &bytes, NULL, 0), -1);
	assert_int_equal(vxpu_size_parse(NULL, VXPU_SIZE_BARE_BYTES, &bytes, NULL, 0), -1);
}

static void test_format_round_trip(void **state)
{
	(void)state;
	static const uint64_t values[] = {
	        0,         1, 100, 1024, 1536, VXPU_MIB, 1610612736ULL, 16 * VXPU_GIB, 3 * VXPU_TIB,
	        UINT64_MAX};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char buf[64];
		vxpu_size_format(values[i], buf, sizeof(buf));
		uint64_t back = 0;
		char err[128];
		assert_int_equal(
		        vxpu_size_parse(buf, VXPU_SIZE_BARE_BYTES, &back, err, sizeof(err)), 0);
		assert_true(back == values[i]);
	}
	char buf[64];
	vxpu_size_format(1610612736ULL, buf, sizeof(buf));
	assert_string_equal(buf, "1536MiB");
	vxpu_size_format(16 * VXPU_GIB, buf, sizeof(buf));
	assert_string_equal(buf, "16GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_sizes),
	        cmocka_unit_test(test_bad_sizes),
	        cmocka_unit_test(test_null_err_buffer),
	        cmocka_unit_test(test_format_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
