/* Prometheus text writer: exact output, escaping, validation, promtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "meter/prom.h"

#define LABELS(...) ((const struct vxpu_prom_label[]){__VA_ARGS__})
#define NLABELS(...)                                                                               \
	(sizeof((const struct vxpu_prom_label[]){__VA_ARGS__}) / sizeof(struct vxpu_prom_label))

static char *finish(struct vxpu_prom *w)
{
	size_t len = 0;
	char *text = vxpu_prom_finish(w, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	return text;
}

static void test_exact_output(void **state)
{
	(void)state;
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	assert_int_equal(vxpu_prom_family(&w, "vxpu_device_memory_used_bytes", VXPU_PROM_GAUGE,
	                                  "Device memory in use, in bytes."),
	                 0);
	/* Labels come out sorted by name whatever order they are given in. */
	assert_int_equal(
	        vxpu_prom_sample(&w, LABELS({"uuid", "GPU-1"}, {"device", "0"}), 2, 1073741824), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"device", "1"}, {"uuid", "GPU-2"}), 2, 0.5),
	                 0);
	assert_int_equal(vxpu_prom_family(&w, "vxpu_allocations_started_total", VXPU_PROM_COUNTER,
	                                  "Allocations started since the process began."),
	                 0);
	assert_int_equal(vxpu_prom_sample(&w, NULL, 0, 42), 0);
	assert_int_equal(vxpu_prom_family(&w, "vxpu_up", VXPU_PROM_GAUGE, "Always 1."), 0);
	assert_int_equal(vxpu_prom_sample(&w, NULL, 0, 1), 0);
	char *text = finish(&w);
	assert_string_equal(
	        text, "# HELP vxpu_device_memory_used_bytes Device memory in use, in bytes.\n"
	              "# TYPE vxpu_device_memory_used_bytes gauge\n"
	              "vxpu_device_memory_used_bytes{device=\"0\",uuid=\"GPU-1\"} 1073741824\n"
	              "vxpu_device_memory_used_bytes{device=\"1\",uuid=\"GPU-2\"} 0.5\n"
	              "# HELP vxpu_allocations_started_total Allocations started since the "
	              "process began.\n"
	              "# TYPE vxpu_allocations_started_total counter\n"
	              "vxpu_allocations_started_total 42\n"
	              "# HELP vxpu_up Always 1.\n"
	              "# TYPE vxpu_up gauge\n"
	              "vxpu_up 1\n");
	free(text);
}

static void test_escaping(void **state)
{
	(void)state;
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	/* HELP escapes backslash and newline, not quotes. */
	assert_int_equal(vxpu_prom_family(&w, "m", VXPU_PROM_GAUGE, "a \\ b \"q\"\nline2"), 0);
	/* Label values escape backslash, quote and newline; UTF-8 passes. */
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"cmd", "say \"hi\"\\\nbye"}), 1, 1), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"cmd", "caf\xc3\xa9"}), 1, 2), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"cmd", ""}), 1, 3), 0);
	char *text = finish(&w);
	assert_string_equal(text, "# HELP m a \\\\ b \"q\"\\nline2\n"
	                          "# TYPE m gauge\n"
	                          "m{cmd=\"say \\\"hi\\\"\\\\\\nbye\"} 1\n"
	                          "m{cmd=\"caf\xc3\xa9\"} 2\n"
	                          "m{cmd=\"\"} 3\n");
	free(text);
}

static void test_values(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *text;
	} cases[] = {
	        {0, "0"},
	        {-0.0, "0"},
	        {1, "1"},
	        {-3, "-3"},
	        {0.1, "0.1"},
	        {1.0 / 3, "0.3333333333333333"},
	        {1e21, "1e+21"},
	        {123456789012345678.0, "1.2345678901234568e+17"},
	        {2.5e-7, "2.5e-07"},
	        {85899345920.0, "85899345920"},
	        {9007199254740991.0, "9007199254740991"},
	        {-42, "-42"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vxpu_prom w;
		vxpu_prom_init(&w);
		assert_int_equal(vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "h"), 0);
		assert_int_equal(vxpu_prom_sample(&w, NULL, 0, cases[i].v), 0);
		char *text = finish(&w);
		char want[128];
		snprintf(want, sizeof(want), "# HELP g h\n# TYPE g gauge\ng %s\n", cases[i].text);
		assert_string_equal(text, want);
		/* The text reads back as the same double. */
		assert_true(strtod(strrchr(text, ' ') + 1, NULL) == cases[i].v);
		free(text);
	}
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	assert_int_equal(vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "h"), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"k", "nan"}), 1, NAN), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"k", "pinf"}), 1, INFINITY), 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"k", "ninf"}), 1, -INFINITY), 0);
	char *text = finish(&w);
	assert_string_equal(text, "# HELP g h\n# TYPE g gauge\n"
	                          "g{k=\"nan\"} NaN\ng{k=\"pinf\"} +Inf\ng{k=\"ninf\"} -Inf\n");
	free(text);
}

/* A refused call names the problem and leaves the output as it was. */
static void refused(struct vxpu_prom *w, int rc, const char *reason)
{
	assert_int_equal(rc, -1);
	if (!strstr(vxpu_prom_error(w), reason))
		fail_msg("error \"%s\" lacks \"%s\"", vxpu_prom_error(w), reason);
}

static void test_refusals(void **state)
{
	(void)state;
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	refused(&w, vxpu_prom_sample(&w, NULL, 0, 1), "needs a family");
	refused(&w, vxpu_prom_family(&w, "", VXPU_PROM_GAUGE, "h"), "invalid metric name");
	refused(&w, vxpu_prom_family(&w, "1abc", VXPU_PROM_GAUGE, "h"), "\"1abc\"");
	refused(&w, vxpu_prom_family(&w, "a-b", VXPU_PROM_GAUGE, "h"), "\"a-b\"");
	refused(&w, vxpu_prom_family(&w, "a:b", VXPU_PROM_GAUGE, "h"), "\"a:b\"");
	refused(&w, vxpu_prom_family(&w, "a b", VXPU_PROM_GAUGE, "h"), "\"a b\"");
	refused(&w, vxpu_prom_family(&w, "requests", VXPU_PROM_COUNTER, "h"), "_total");
	refused(&w, vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, ""), "help");
	refused(&w, vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "bad \xff utf8"), "help");
	assert_int_equal(vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "h"), 0);
	refused(&w, vxpu_prom_sample(&w, LABELS({"__name", "x"}), 1, 1), "\"__name\"");
	refused(&w, vxpu_prom_sample(&w, LABELS({"0dev", "x"}), 1, 1), "\"0dev\"");
	refused(&w, vxpu_prom_sample(&w, LABELS({"de-v", "x"}), 1, 1), "\"de-v\"");
	refused(&w, vxpu_prom_sample(&w, LABELS({"dev", "\xc0\xaf"}), 1, 1), "not UTF-8");
	refused(&w, vxpu_prom_sample(&w, LABELS({"dev", "1"}, {"dev", "2"}), 2, 1), "twice");
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"a", "1"}, {"b", "2"}), 2, 1), 0);
	/* The same label set in another order is the same series. */
	refused(&w, vxpu_prom_sample(&w, LABELS({"b", "2"}, {"a", "1"}), 2, 7), "already written");
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"a", "1"}, {"b", "3"}), 2, 1), 0);
	refused(&w, vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "again"), "already written");
	assert_int_equal(vxpu_prom_family(&w, "c_total", VXPU_PROM_COUNTER, "h"), 0);
	refused(&w, vxpu_prom_sample(&w, NULL, 0, -1), "counter c_total");
	refused(&w, vxpu_prom_sample(&w, NULL, 0, NAN), "counter c_total");
	refused(&w, vxpu_prom_sample(&w, NULL, 0, INFINITY), "counter c_total");
	assert_int_equal(vxpu_prom_sample(&w, NULL, 0, 0), 0);
	char *text = finish(&w);
	assert_string_equal(text, "# HELP g h\n# TYPE g gauge\n"
	                          "g{a=\"1\",b=\"2\"} 1\ng{a=\"1\",b=\"3\"} 1\n"
	                          "# HELP c_total h\n# TYPE c_total counter\nc_total 0\n");
	free(text);
}

static void test_many_series(void **state)
{
	(void)state;
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	assert_int_equal(vxpu_prom_family(&w, "g", VXPU_PROM_GAUGE, "h"), 0);
	for (int i = 0; i < 500; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(vxpu_prom_sample(&w, LABELS({"i", v}), 1, i), 0);
	}
	refused(&w, vxpu_prom_sample(&w, LABELS({"i", "250"}), 1, 0), "already written");
	char *text = finish(&w);
	assert_non_null(strstr(text, "g{i=\"499\"} 499\n"));
	free(text);
}

/* promtool, when installed, accepts what the writer produces. */
static void test_promtool(void **state)
{
	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0)
		skip();
	struct vxpu_prom w;
	vxpu_prom_init(&w);
	assert_int_equal(
	        vxpu_prom_family(&w, "vxpu_device_memory_used_bytes", VXPU_PROM_GAUGE,
	                         "Device memory in use.\nBy \"all\" processes \\ tenants."),
	        0);
	assert_int_equal(vxpu_prom_sample(&w,
	                                  LABELS({"device", "0"}, {"model", "A \"big\" \\ GPU\n"}),
	                                  2, 1024),
	                 0);
	assert_int_equal(
	        vxpu_prom_sample(&w, LABELS({"device", "1"}, {"model", "caf\xc3\xa9"}), 2, NAN), 0);
	assert_int_equal(vxpu_prom_family(&w, "vxpu_allocations_total", VXPU_PROM_COUNTER,
	                                  "Allocations made."),
	                 0);
	assert_int_equal(vxpu_prom_sample(&w, LABELS({"tenant", "acme"}), 1, 3), 0);
	char *text = finish(&w);
	char path[] = "/tmp/vxpu-prom-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	int rc = system(cmd);
	unlink(path);
	free(text);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact_output), cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_values),       cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_many_series),  cmocka_unit_test(test_promtool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
