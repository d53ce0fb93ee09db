/* Percent grammar: 1..100, optional '%', nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/percent.h"

static void test_good(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int want;
	} cases[] = {{"1", 1},      {"30", 30},  {"30%", 30}, {"100", 100},
	             {"100%", 100}, {"050", 50}, {"007%", 7}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int pct = -1;
		char err[128];
		assert_int_equal(vxpu_percent_parse(cases[i].text, &pct, err, sizeof(err)), 0);
		assert_int_equal(pct, cases[i].want);
	}
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const cases[] = {
	        "",    "0",    "0%", "101",  "1000", "-5",  "+5",
	        "1.5", "30%%", "%",  "30 %", " 30",  "abc", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int pct = -1;
		char err[128] = "";
		if (vxpu_percent_parse(cases[i], &pct, err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted", cases[i]);
		assert_int_equal(pct, -1);
		assert_non_null(strstr(err, "invalid percentage"));
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
