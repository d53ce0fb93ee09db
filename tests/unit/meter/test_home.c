/* State directory rule: VXPU_HOME, root default, XDG_STATE_HOME, HOME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "meter/home.h"

static void test_rule(void **state)
{
	(void)state;
	static const struct {
		struct vxpu_home_env env;
		const char *want;
	} cases[] = {
	        {{"/srv/vxpu", "/x", "/home/a", true}, "/srv/vxpu"},
	        {{"/srv/vxpu//", NULL, NULL, false}, "/srv/vxpu"},
	        {{"/", NULL, NULL, false}, "/"},
	        {{NULL, "/x", "/home/a", true}, "/var/lib/vxpu"},
	        {{NULL, "/x/state", "/home/a", false}, "/x/state/vxpu"},
	        {{NULL, "relative", "/home/a", false}, "/home/a/.local/state/vxpu"},
	        {{NULL, "", "/home/a/", false}, "/home/a/.local/state/vxpu"},
	        {{NULL, NULL, "/home/a", false}, "/home/a/.local/state/vxpu"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[256], err[256] = "";
		if (vxpu_home_resolve(&cases[i].env, dir, sizeof(dir), err, sizeof(err)) != 0)
			fail_msg("case %zu refused: %s", i, err);
		assert_string_equal(dir, cases[i].want);
	}
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		struct vxpu_home_env env;
		const char *reason;
	} cases[] = {
	        {{"", NULL, "/home/a", false}, "invalid VXPU_HOME \"\""},
	        {{"state", NULL, "/home/a", true}, "invalid VXPU_HOME \"state\""},
	        {{NULL, NULL, NULL, false}, "HOME is not set"},
	        {{NULL, NULL, "home", false}, "HOME is \"home\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[256] = "unchanged", err[256] = "";
		assert_int_equal(
		        vxpu_home_resolve(&cases[i].env, dir, sizeof(dir), err, sizeof(err)), -1);
		if (!strstr(err, cases[i].reason))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].reason);
	}
	char small[8], err[256];
	struct vxpu_home_env env = {"/a/long/directory", NULL, NULL, false};
	assert_int_equal(vxpu_home_resolve(&env, small, sizeof(small), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
}

static void test_process_env_and_mkdir(void **state)
{
	(void)state;
	char base[] = "/tmp/vxpu-home-XXXXXX";
	assert_non_null(mkdtemp(base));
	char home[128];
	snprintf(home, sizeof(home), "%s/a/b/c", base);
	setenv("VXPU_HOME", home, 1);
	char path[256], err[256];
	assert_int_equal(vxpu_home_db_path(path, sizeof(path), err, sizeof(err)), 0);
	char want[256];
	snprintf(want, sizeof(want), "%s/vxpu.db", home);
	assert_string_equal(path, want);
	assert_int_equal(vxpu_home_make_dirs(home, err, sizeof(err)), 0);
	assert_int_equal(vxpu_home_make_dirs(home, err, sizeof(err)), 0); /* idempotent */
	struct stat st;
	assert_int_equal(stat(home, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* A file in the way is reported with its path. */
	char blocker[256];
	snprintf(blocker, sizeof(blocker), "%s/file", base);
	FILE *f = fopen(blocker, "w");
	assert_non_null(f);
	fclose(f);
	char below[300];
	snprintf(below, sizeof(below), "%s/sub", blocker);
	assert_int_equal(vxpu_home_make_dirs(below, err, sizeof(err)), -1);
	assert_non_null(strstr(err, blocker));
	unsetenv("VXPU_HOME");
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rule),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_process_env_and_mkdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
