/*
 * Ledger: opening and refusing files, recording and reading intervals and
 * samples, validation, transactions shared with other components, and 50
 * concurrent writer processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "meter/ledger.h"

static char dir[64];
static char db[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vxpu-ledger-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/state/vxpu.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct vxpu_ledger *open_create(void)
{
	struct vxpu_ledger *l = NULL;
	char err[512] = "";
	if (vxpu_ledger_open(db, VXPU_LEDGER_OPEN_CREATE, &l, err, sizeof(err)) != VXPU_LEDGER_OK)
		fail_msg("open: %s", err);
	return l;
}

static struct vxpu_ledger_interval interval(const char *id, int device, int64_t start_ms)
{
	return (struct vxpu_ledger_interval){
	        .allocation_id = id,
	        .device_index = device,
	        .node = "node-1",
	        .device_uuid = "GPU-0000-1111",
	        .device_model = "NVIDIA A100-SXM4-80GB",
	        .device_memory_mib = 81920,
	        .memory_mib = 20480,
	        .compute_percent = 30,
	        .tenant = "acme",
	        .project = "vision",
	        .user = "alice",
	        .command = "python train.py --epochs 3",
	        .start_ms = start_ms,
	};
}

static void start_ok(struct vxpu_ledger *l, const struct vxpu_ledger_interval *iv)
{
	char err[512] = "";
	if (vxpu_ledger_interval_start(l, iv, err, sizeof(err)) != 0)
		fail_msg("start %s/%d: %s", iv->allocation_id, iv->device_index, err);
}

/* Whole-file contents, to prove a refused file was not written. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

static void expect_refused_untouched(const char *reason)
{
	size_t before_len, after_len;
	char *before = slurp(db, &before_len);
	for (int mode = 0; mode < 2; mode++) {
		struct vxpu_ledger *l = NULL;
		char err[512] = "";
		int rc = vxpu_ledger_open(
		        db, mode ? VXPU_LEDGER_OPEN_CREATE : VXPU_LEDGER_OPEN_EXISTING, &l, err,
		        sizeof(err));
		assert_int_equal(rc, VXPU_LEDGER_FAILED);
		assert_null(l);
		if (!strstr(err, db) || !strstr(err, reason) || !strstr(err, "untouched"))
			fail_msg("error \"%s\" lacks the path, \"%s\" or \"untouched\"", err,
			         reason);
	}
	char *after = slurp(db, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
}

static void test_create_and_reopen(void **state)
{
	(void)state;
	struct vxpu_ledger *l = NULL;
	char err[512] = "";
	/* Missing file: absent, and nothing is created. */
	assert_int_equal(vxpu_ledger_open(db, VXPU_LEDGER_OPEN_EXISTING, &l, err, sizeof(err)),
	                 VXPU_LEDGER_ABSENT);
	assert_null(l);
	assert_int_equal(access(db, F_OK), -1);

	l = open_create(); /* creates the state/ directory too */
	assert_string_equal(vxpu_ledger_path(l), db);
	sqlite3_stmt *stmt;
	assert_int_equal(
	        sqlite3_prepare_v2(vxpu_ledger_sqlite(l),
	                           "SELECT version FROM vxpu_schema WHERE component = 'ledger'", -1,
	                           &stmt, NULL),
	        SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), VXPU_LEDGER_SCHEMA_VERSION);
	sqlite3_finalize(stmt);
	assert_int_equal(
	        sqlite3_prepare_v2(vxpu_ledger_sqlite(l), "PRAGMA journal_mode", -1, &stmt, NULL),
	        SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	struct vxpu_ledger_interval iv = interval("a1", 0, 1000);
	start_ok(l, &iv);
	vxpu_ledger_close(l);

	/* Reopened, existing or create, the data is there and nothing doubles. */
	l = open_create();
	vxpu_ledger_close(l);
	assert_int_equal(vxpu_ledger_open(db, VXPU_LEDGER_OPEN_EXISTING, &l, err, sizeof(err)),
	                 VXPU_LEDGER_OK);
	int ended = -1;
	assert_int_equal(vxpu_ledger_interval_end(l, "a1", 2000, true, 0, &ended, err, sizeof(err)),
	                 0);
	assert_int_equal(ended, 1);
	vxpu_ledger_close(l);
}

static void test_empty_file_is_absent(void **state)
{
	(void)state;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/state", dir);
	mkdir(sub, 0700);
	int fd = open(db, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	struct vxpu_ledger *l = NULL;
	char err[512];
	assert_int_equal(vxpu_ledger_open(db, VXPU_LEDGER_OPEN_EXISTING, &l, err, sizeof(err)),
	                 VXPU_LEDGER_ABSENT);
	struct stat st;
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_size, 0);
	l = open_create(); /* an empty file is ours to initialise */
	vxpu_ledger_close(l);
}

static int ignore_interval(const struct vxpu_ledger_interval *iv, void *ctx)
{
	(void)iv;
	(void)ctx;
	return 0;
}

static void test_corrupt_file_refused(void **state)
{
	(void)state;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/state", dir);
	mkdir(sub, 0700);
	FILE *f = fopen(db, "wb");
	assert_non_null(f);
	for (int i = 0; i < 8192; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	expect_refused_untouched("not a usable vxpu database");

	/* A real ledger whose pages were damaged after the header. */
	unlink(db);
	struct vxpu_ledger *l = open_create();
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "c%d", i);
		struct vxpu_ledger_interval iv = interval(id, 0, 1000);
		start_ok(l, &iv);
	}
	vxpu_ledger_close(l);
	int fd = open(db, O_WRONLY);
	assert_true(fd >= 0);
	char junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, 100, 0 + 100), 100);        /* first page, past header */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), 4096); /* second page */
	close(fd);
	size_t before_len, after_len;
	char *before = slurp(db, &before_len);
	char err[512] = "";
	int rc = vxpu_ledger_open(db, VXPU_LEDGER_OPEN_CREATE, &l, err, sizeof(err));
	if (rc == VXPU_LEDGER_OK) {
		/* Damage the catalogue did not show surfaces on first read. */
		rc = vxpu_ledger_each_interval(l, 0, INT64_MAX, ignore_interval, NULL, err,
		                               sizeof(err));
		vxpu_ledger_close(l);
	}
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, db));
	char *after = slurp(db, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
}

static void set_version(const char *component, int version)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	char sql[200];
	snprintf(sql, sizeof(sql), "UPDATE vxpu_schema SET version = %d WHERE component = '%s'",
	         version, component);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(h), 1);
	sqlite3_close(h);
}

static void test_newer_and_older_schema_refused(void **state)
{
	(void)state;
	struct vxpu_ledger *l = open_create();
	vxpu_ledger_close(l);
	set_version("ledger", VXPU_LEDGER_SCHEMA_VERSION + 1);
	expect_refused_untouched("ledger schema version 2 is newer than this vxpu understands (1)");
	set_version("ledger", 0);
	expect_refused_untouched("ledger schema version 0 is older");
}

static void test_foreign_database_refused(void **state)
{
	(void)state;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/state", dir);
	mkdir(sub, 0700);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE photos (id INTEGER)", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
	expect_refused_untouched("another program (it has table \"photos\"");
}

static int collect_interval(const struct vxpu_ledger_interval *iv, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 4096 - n,
	         "%s/%d %s %s %s %s %s %lld %lld %d %s %s %s [%s] %lld %s%lld %s%d\n",
	         iv->allocation_id, iv->device_index, iv->node, iv->device_uuid, iv->device_model,
	         "", "", (long long)iv->device_memory_mib, (long long)iv->memory_mib,
	         iv->compute_percent, iv->tenant, iv->project, iv->user, iv->command,
	         (long long)iv->start_ms, iv->ended ? "" : "running:", (long long)iv->end_ms,
	         iv->exited ? "exit=" : "noexit:", iv->exit_status);
	return 0;
}

static int collect_sample(const struct vxpu_ledger_sample *s, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 4096 - n, "%s/%d %lld %g %g\n", s->allocation_id, s->device_index,
	         (long long)s->minute_ms, s->used_memory_mib, s->utilisation_percent);
	return 0;
}

/* Collected lines, sorted (the ledger promises no order). */
static void sort_lines(char *text)
{
	char *lines[64];
	size_t n = 0;
	for (char *p = strtok(text, "\n"); p && n < 64; p = strtok(NULL, "\n"))
		lines[n++] = strdup(p);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	text[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(text, lines[i]);
		strcat(text, "\n");
		free(lines[i]);
	}
}

static void test_record_and_read(void **state)
{
	(void)state;
	struct vxpu_ledger *l = open_create();
	char err[512] = "";
	struct vxpu_ledger_interval a0 = interval("job-1", 0, 60000);
	struct vxpu_ledger_interval a1 = interval("job-1", 1, 60000);
	a1.device_uuid = "GPU-2222";
	a1.memory_mib = 81920;
	a1.compute_percent = 0;
	struct vxpu_ledger_interval b0 = interval("job-2", 0, 150000);
	b0.command = "";
	b0.user = "bob@example.com";
	start_ok(l, &a0);
	start_ok(l, &a1);
	start_ok(l, &b0);

	struct vxpu_ledger_sample s = {"job-1", 1, 60000, 1024.5, 12.5};
	assert_int_equal(vxpu_ledger_sample_record(l, &s, err, sizeof(err)), 0);
	s.used_memory_mib = 2048; /* same minute again: replaces */
	s.utilisation_percent = 50;
	assert_int_equal(vxpu_ledger_sample_record(l, &s, err, sizeof(err)), 0);
	/* The minute that contains the start counts even if it began earlier. */
	struct vxpu_ledger_sample s2 = {"job-2", 0, 120000, 0, 100};
	assert_int_equal(vxpu_ledger_sample_record(l, &s2, err, sizeof(err)), 0);

	int ended = -1;
	assert_int_equal(
	        vxpu_ledger_interval_end(l, "job-1", 3600000, true, 137, &ended, err, sizeof(err)),
	        0);
	assert_int_equal(ended, 2);
	/* Ending again is harmless and says so. */
	assert_int_equal(
	        vxpu_ledger_interval_end(l, "job-1", 4000000, true, 0, &ended, err, sizeof(err)),
	        0);
	assert_int_equal(ended, 0);
	/* Unknown allocation: nothing to end. */
	assert_int_equal(
	        vxpu_ledger_interval_end(l, "nope", 4000000, false, 0, &ended, err, sizeof(err)),
	        0);
	assert_int_equal(ended, 0);

	char out[4096] = "";
	assert_int_equal(
	        vxpu_ledger_each_interval(l, 0, INT64_MAX, collect_interval, out, err, sizeof(err)),
	        0);
	sort_lines(out);
	assert_string_equal(
	        out,
	        "job-1/0 node-1 GPU-0000-1111 NVIDIA A100-SXM4-80GB   81920 20480 30 acme vision "
	        "alice [python train.py --epochs 3] 60000 3600000 exit=137\n"
	        "job-1/1 node-1 GPU-2222 NVIDIA A100-SXM4-80GB   81920 81920 0 acme vision alice "
	        "[python train.py --epochs 3] 60000 3600000 exit=137\n"
	        "job-2/0 node-1 GPU-0000-1111 NVIDIA A100-SXM4-80GB   81920 20480 30 acme vision "
	        "bob@example.com [] 150000 running:0 noexit:0\n");

	/* Window: [3600000, 3600001) sees only the running job-2. */
	out[0] = '\0';
	assert_int_equal(vxpu_ledger_each_interval(l, 3600000, 3600001, collect_interval, out, err,
	                                           sizeof(err)),
	                 0);
	assert_non_null(strstr(out, "job-2/0"));
	assert_null(strstr(out, "job-1"));
	/* A window that ends at a start excludes it (until is exclusive). */
	out[0] = '\0';
	assert_int_equal(
	        vxpu_ledger_each_interval(l, 0, 60000, collect_interval, out, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	out[0] = '\0';
	assert_int_equal(vxpu_ledger_each_running(l, collect_interval, out, err, sizeof(err)), 0);
	assert_non_null(strstr(out, "job-2/0"));
	assert_null(strstr(out, "job-1"));

	out[0] = '\0';
	assert_int_equal(
	        vxpu_ledger_each_sample(l, 0, INT64_MAX, collect_sample, out, err, sizeof(err)), 0);
	sort_lines(out);
	assert_string_equal(out, "job-1/1 60000 2048 50\njob-2/0 120000 0 100\n");
	/* The sample window includes a minute that overlaps its start. */
	out[0] = '\0';
	assert_int_equal(
	        vxpu_ledger_each_sample(l, 179999, 180000, collect_sample, out, err, sizeof(err)),
	        0);
	assert_string_equal(out, "job-2/0 120000 0 100\n");
	out[0] = '\0';
	assert_int_equal(
	        vxpu_ledger_each_sample(l, 180000, 240000, collect_sample, out, err, sizeof(err)),
	        0);
	assert_string_equal(out, "");

	/* Ending with an unknown exit status. */
	assert_int_equal(
	        vxpu_ledger_interval_end(l, "job-2", 150000, false, 0, &ended, err, sizeof(err)),
	        0);
	assert_int_equal(ended, 1);
	vxpu_ledger_close(l);
}

static int stop_early(const struct vxpu_ledger_interval *iv, void *ctx)
{
	(void)iv;
	++*(int *)ctx;
	return 7;
}

static void test_callback_stops(void **state)
{
	(void)state;
	struct vxpu_ledger *l = open_create();
	for (int i = 0; i < 3; i++) {
		struct vxpu_ledger_interval iv = interval(i == 0   ? "x0"
		                                          : i == 1 ? "x1"
		                                                   : "x2",
		                                          0, 5);
		start_ok(l, &iv);
	}
	int calls = 0;
	char err[256];
	assert_int_equal(vxpu_ledger_each_interval(l, 0, 100, stop_early, &calls, err, sizeof(err)),
	                 7);
	assert_int_equal(calls, 1);
	vxpu_ledger_close(l);
}

static int count_intervals(const struct vxpu_ledger_interval *iv, void *ctx)
{
	(void)iv;
	++*(int *)ctx;
	return 0;
}

static int count_all(struct vxpu_ledger *l)
{
	int n = 0;
	char err[256];
	assert_int_equal(
	        vxpu_ledger_each_interval(l, 0, INT64_MAX, count_intervals, &n, err, sizeof(err)),
	        0);
	return n;
}

static void test_refused_writes_change_nothing(void **state)
{
	(void)state;
	struct vxpu_ledger *l = open_create();
	char long_name[200];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	char long_command[VXPU_LEDGER_COMMAND_MAX + 2];
	memset(long_command, 'c', sizeof(long_command) - 1);
	long_command[sizeof(long_command) - 1] = '\0';
	static const char *const bad_ids[] = {
	        "", "a b", "a/b", "ä",
	        "0123456789012345678901234567890123456789012345678901234567890123456789"};
	static const char *const bad_names[] = {"",    "-lead", "=cmd()", "a b",
	                                        "a,b", "a\"b",  "a\nb",   ".x"};
	char err[512];
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		struct vxpu_ledger_interval iv = interval(bad_ids[i], 0, 5);
		assert_int_equal(vxpu_ledger_interval_start(l, &iv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "invalid allocation id"));
	}
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct vxpu_ledger_interval iv = interval("ok", 0, 5);
		iv.project = bad_names[i];
		assert_int_equal(vxpu_ledger_interval_start(l, &iv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "invalid project"));
	}
	struct {
		struct vxpu_ledger_interval iv;
		const char *reason;
	} cases[] = {
	        {interval("ok", -1, 5), "invalid device index -1"},
	        {interval("ok", 0, -5), "invalid start time -5"},
	};
	struct vxpu_ledger_interval t = interval("ok", 0, 5);
	t.tenant = long_name;
	cases[0].iv.tenant = "acme";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(vxpu_ledger_interval_start(l, &cases[i].iv, err, sizeof(err)), -1);
		if (!strstr(err, cases[i].reason))
			fail_msg("\"%s\" lacks \"%s\"", err, cases[i].reason);
	}
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid tenant \"aaaa"));
	t = interval("ok", 0, 5);
	t.user = NULL;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid user \"(null)\""));
	t = interval("ok", 0, 5);
	t.node = "node 1";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid node \"node 1\""));
	t.node = "-node";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid node \"-node\""));
	t = interval("ok", 0, 5);
	t.device_model = "=HYPERLINK(\"x\")";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid device model \"=HYPERLINK(\\x22x\\x22)\""));
	t = interval("ok", 0, 5);
	t.device_uuid = "GPU-1 ";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid device uuid"));
	t = interval("ok", 0, 5);
	t.command = "echo \x1b[2J";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid command \"echo \\x1b[2J\""));
	t.command = "bad \xff utf8";
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	t.command = long_command;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid command \"cccc"));
	t.command = "caf\xc3\xa9 \t ok";
	t.memory_mib = 0;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid memory share 0 MiB: must be 1..81920"));
	t.memory_mib = 81921;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	t.memory_mib = 1;
	t.device_memory_mib = 0;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid device memory 0 MiB"));
	t.device_memory_mib = 1;
	t.compute_percent = 101;
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid compute share 101%"));
	assert_int_equal(count_all(l), 0);

	t.compute_percent = 100;
	start_ok(l, &t);
	assert_int_equal(vxpu_ledger_interval_start(l, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "allocation ok device 0 is already recorded"));
	assert_int_equal(count_all(l), 1);

	/* Ends and samples. */
	int ended = -1;
	assert_int_equal(vxpu_ledger_interval_end(l, "ok", 4, true, 0, &ended, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "invalid end time 4 ms for allocation ok: before its start 5"));
	assert_int_equal(ended, 0);
	assert_int_equal(vxpu_ledger_interval_end(l, "ok", 10, true, 256, NULL, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "invalid exit status 256"));
	assert_int_equal(vxpu_ledger_interval_end(l, "o k", 10, true, 0, NULL, err, sizeof(err)),
	                 -1);
	assert_int_equal(vxpu_ledger_interval_end(l, "ok", -1, true, 0, NULL, err, sizeof(err)),
	                 -1);
	struct {
		struct vxpu_ledger_sample s;
		const char *reason;
	} samples[] = {
	        {{"ok", 0, 30000, 0, 0}, "invalid sample minute 30000"},
	        {{"ok", 0, -60000, 0, 0}, "invalid sample minute"},
	        {{"ok", 0, 0, -1, 0}, "invalid used memory -1"},
	        {{"ok", 0, 0, NAN, 0}, "invalid used memory"},
	        {{"ok", 0, 0, 2, 0}, "invalid used memory 2 MiB: the device has 1 MiB"},
	        {{"ok", 0, 0, 0, 100.01}, "invalid utilisation 100.01%"},
	        {{"ok", 0, 0, 0, -1}, "invalid utilisation"},
	        {{"ok", 1, 0, 0, 0}, "no interval for allocation ok device 1"},
	        {{"ok", -1, 0, 0, 0}, "invalid device index"},
	        {{"o k", 0, 0, 0, 0}, "invalid allocation id"},
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		assert_int_equal(vxpu_ledger_sample_record(l, &samples[i].s, err, sizeof(err)), -1);
		if (!strstr(err, samples[i].reason))
			fail_msg("\"%s\" lacks \"%s\"", err, samples[i].reason);
	}
	assert_int_equal(vxpu_ledger_interval_end(l, "ok", 120000, true, 0, NULL, err, sizeof(err)),
	                 0);
	struct vxpu_ledger_sample late = {"ok", 0, 120000, 0, 0};
	assert_int_equal(vxpu_ledger_sample_record(l, &late, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside allocation ok device 0"));
	late.minute_ms = 60000;
	assert_int_equal(vxpu_ledger_sample_record(l, &late, err, sizeof(err)), 0);
	vxpu_ledger_close(l);
}

static void test_transactions_and_components(void **state)
{
	(void)state;
	struct vxpu_ledger *l = open_create();
	char err[512] = "";
	static const char *const ddl[] = {
	        "CREATE TABLE local_allocation (id VARCHAR(64) NOT NULL PRIMARY KEY, pid INTEGER)",
	        NULL};
	assert_int_equal(vxpu_ledger_ensure_component(l, "localstate", 1, ddl, err, sizeof(err)),
	                 0);
	assert_int_equal(vxpu_ledger_ensure_component(l, "localstate", 1, ddl, err, sizeof(err)),
	                 0);
	assert_int_equal(vxpu_ledger_ensure_component(l, "localstate", 2, ddl, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "localstate schema version 1 is older"));
	assert_int_equal(vxpu_ledger_ensure_component(l, "", 1, ddl, err, sizeof(err)), -1);

	/* Rolled back: neither the caller's row nor the intervals remain. */
	assert_int_equal(vxpu_ledger_begin(l, err, sizeof(err)), 0);
	assert_true(vxpu_ledger_in_transaction(l));
	assert_int_equal(vxpu_ledger_begin(l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "do not nest"));
	assert_int_equal(sqlite3_exec(vxpu_ledger_sqlite(l),
	                              "INSERT INTO local_allocation VALUES ('t1', 42)", NULL, NULL,
	                              NULL),
	                 SQLITE_OK);
	struct vxpu_ledger_interval iv = interval("t1", 0, 10);
	start_ok(l, &iv);
	iv.device_index = 1;
	start_ok(l, &iv);
	assert_true(vxpu_ledger_in_transaction(l)); /* the calls joined it */
	assert_int_equal(vxpu_ledger_ensure_component(l, "other", 1, ddl, err, sizeof(err)), -1);
	vxpu_ledger_rollback(l);
	assert_false(vxpu_ledger_in_transaction(l));
	assert_int_equal(count_all(l), 0);

	/* Committed: both. */
	assert_int_equal(vxpu_ledger_begin(l, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_exec(vxpu_ledger_sqlite(l),
	                              "INSERT INTO local_allocation VALUES ('t1', 42)", NULL, NULL,
	                              NULL),
	                 SQLITE_OK);
	iv.device_index = 0;
	start_ok(l, &iv);
	assert_int_equal(vxpu_ledger_commit(l, err, sizeof(err)), 0);
	vxpu_ledger_close(l);

	/* Another connection sees them; a newer localstate is refused. */
	l = open_create();
	assert_int_equal(count_all(l), 1);
	vxpu_ledger_close(l);
	set_version("localstate", 3);
	l = open_create(); /* the ledger itself is fine */
	assert_int_equal(vxpu_ledger_ensure_component(l, "localstate", 1, ddl, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "localstate schema version 3 is newer"));
	vxpu_ledger_close(l);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_int_equal(vxpu_ledger_minute_of(0), 0);
	assert_int_equal(vxpu_ledger_minute_of(59999), 0);
	assert_int_equal(vxpu_ledger_minute_of(60000), 60000);
	assert_int_equal(vxpu_ledger_minute_of(1772366459123), 1772366400000);
	char a[40], b[40], err[128];
	assert_int_equal(vxpu_ledger_new_id(a, sizeof(a), err, sizeof(err)), 0);
	assert_int_equal(vxpu_ledger_new_id(b, sizeof(b), err, sizeof(err)), 0);
	assert_int_equal(strlen(a), 32);
	assert_true(vxpu_ledger_valid_id(a));
	assert_string_not_equal(a, b);
	assert_int_equal(vxpu_ledger_new_id(a, 32, err, sizeof(err)), -1);
	assert_true(vxpu_ledger_valid_name("alice@example.com"));
	assert_true(vxpu_ledger_valid_name("_system"));
	assert_false(vxpu_ledger_valid_name("+1"));
	assert_false(vxpu_ledger_valid_name(NULL));
}

/*
 * 50 processes open one fresh file at the same moment (so they also race
 * to create the schema) and each records allocations of two devices,
 * samples and ends. Every row must arrive; no call may fail.
 */
#define WRITERS 50
#define ALLOCATIONS_PER_WRITER 4

static int writer(int w)
{
	struct vxpu_ledger *l = NULL;
	char err[512];
	if (vxpu_ledger_open(db, VXPU_LEDGER_OPEN_CREATE, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "writer %d: %s\n", w, err);
		return 1;
	}
	for (int a = 0; a < ALLOCATIONS_PER_WRITER; a++) {
		char id[32];
		snprintf(id, sizeof(id), "w%d-a%d", w, a);
		struct vxpu_ledger_interval iv = interval(id, 0, 60000);
		int ended = 0;
		struct vxpu_ledger_sample s = {id, 0, 60000, 100, 50};
		if (vxpu_ledger_begin(l, err, sizeof(err)) != 0 ||
		    vxpu_ledger_interval_start(l, &iv, err, sizeof(err)) != 0 ||
		    (iv.device_index = 1, vxpu_ledger_interval_start(l, &iv, err, sizeof(err))) !=
		            0 ||
		    vxpu_ledger_commit(l, err, sizeof(err)) != 0 ||
		    vxpu_ledger_sample_record(l, &s, err, sizeof(err)) != 0 ||
		    (s.device_index = 1, vxpu_ledger_sample_record(l, &s, err, sizeof(err))) != 0 ||
		    vxpu_ledger_interval_end(l, id, 120000, true, w % 256, &ended, err,
		                             sizeof(err)) != 0 ||
		    ended != 2) {
			fprintf(stderr, "writer %d: %s\n", w, err);
			vxpu_ledger_close(l);
			return 1;
		}
	}
	vxpu_ledger_close(l);
	return 0;
}

static int count_ended(const struct vxpu_ledger_interval *iv, void *ctx)
{
	int *n = ctx;
	if (iv->ended && iv->end_ms == 120000 && iv->exited)
		n[0]++;
	return 0;
}

static int count_samples(const struct vxpu_ledger_sample *s, void *ctx)
{
	(void)s;
	++*(int *)ctx;
	return 0;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/state", dir);
	mkdir(sub, 0700);
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			close(go[1]);
			char c;
			/* Wait until all are forked, then start together. */
			if (read(go[0], &c, 1) != 0)
				_exit(2);
			_exit(writer(w));
		}
	}
	close(go[0]);
	close(go[1]); /* releases every writer at once */
	int failed = 0;
	for (int w = 0; w < WRITERS; w++) {
		int status;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	assert_int_equal(failed, 0);
	struct vxpu_ledger *l = open_create();
	char err[256];
	int ended = 0, samples = 0;
	assert_int_equal(
	        vxpu_ledger_each_interval(l, 0, INT64_MAX, count_ended, &ended, err, sizeof(err)),
	        0);
	assert_int_equal(
	        vxpu_ledger_each_sample(l, 0, INT64_MAX, count_samples, &samples, err, sizeof(err)),
	        0);
	assert_int_equal(count_all(l), WRITERS * ALLOCATIONS_PER_WRITER * 2);
	assert_int_equal(ended, WRITERS * ALLOCATIONS_PER_WRITER * 2);
	assert_int_equal(samples, WRITERS * ALLOCATIONS_PER_WRITER * 2);
	vxpu_ledger_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_file_is_absent, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_corrupt_file_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_newer_and_older_schema_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_record_and_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_callback_stops, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refused_writes_change_nothing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_transactions_and_components, setup, teardown),
	        cmocka_unit_test(test_helpers),
	        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
