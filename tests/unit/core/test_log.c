/* The stderr writer: threshold from VXPU_LOG, one line per event. Each case
 * runs in a child process because the threshold is read once per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* Runs fn in a child with VXPU_LOG=env (NULL: unset); returns its stderr. */
static void capture(const char *env, void (*fn)(void), char *out, size_t cap)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		if (env)
			setenv("VXPU_LOG", env, 1);
		else
			unsetenv("VXPU_LOG");
		fn();
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void emit_all_levels(void)
{
	vxpu_log(VXPU_LOG_ERROR, "e1", "k", "v", NULL);
	vxpu_log(VXPU_LOG_WARN, "w1", NULL);
	vxpu_log(VXPU_LOG_INFO, "i1", NULL);
	vxpu_log(VXPU_LOG_DEBUG, "d1", "space", "a b", NULL);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_default_is_warn(void **state)
{
	(void)state;
	char out[4096];
	capture(NULL, emit_all_levels, out, sizeof(out));
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, "level=error msg=e1 k=v\n"));
	assert_non_null(strstr(out, "level=warn msg=w1\n"));
	assert_null(strstr(out, "msg=i1"));
	assert_true(strncmp(out, "ts=", 3) == 0);
}

static void test_debug_shows_all(void **state)
{
	(void)state;
	char out[4096];
	capture("debug", emit_all_levels, out, sizeof(out));
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(out, "level=debug msg=d1 space=\"a b\"\n"));
}

static void test_off_is_silent(void **state)
{
	(void)state;
	char out[4096];
	capture("off", emit_all_levels, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_invalid_env_is_reported(void **state)
{
	(void)state;
	char out[4096];
	capture("verbose", emit_all_levels, out, sizeof(out));
	assert_non_null(strstr(out, "msg=\"invalid VXPU_LOG, using warn\" value=verbose"));
	assert_non_null(strstr(out, "msg=w1"));
	assert_null(strstr(out, "msg=i1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_default_is_warn),
	        cmocka_unit_test(test_debug_shows_all),
	        cmocka_unit_test(test_off_is_silent),
	        cmocka_unit_test(test_invalid_env_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
