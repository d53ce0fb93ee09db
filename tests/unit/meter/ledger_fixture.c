/*
 * ledger_fixture - writes known rows into a ledger through the ledger API,
 * for the `vxpu report` integration tests (tests/integration/report*.sh).
 * Not installed; not part of vxpu.
 *
 *   ledger_fixture DB start ID DEV NODE UUID MODEL DEVICE_MIB MEM_MIB CPU_PCT
 *                            TENANT PROJECT USER START
 *   ledger_fixture DB end ID END EXIT_STATUS|-
 *   ledger_fixture DB sample ID DEV MINUTE USED_MIB UTIL_PCT
 * Times are anything vxpu_time_arg_parse accepts (RFC 3339, "-2h", ...).
 * Exits 0, or 1 with the ledger's error on stderr, or 2 on bad usage.
 */
#include "meter/ledger.h"
#include "meter/timearg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(const char *why)
{
	fprintf(stderr, "ledger_fixture: %s\n", why);
	return 2;
}

static int number(const char *text, long long *out)
{
	char *end;
	errno = 0;
	*out = strtoll(text, &end, 10);
	return errno || end == text || *end ? -1 : 0;
}

static int when(const char *text, int64_t *ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char err[256];
	if (vxpu_time_arg_parse(text, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, ms, err,
	                        sizeof(err)) != 0) {
		fprintf(stderr, "ledger_fixture: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage("usage: ledger_fixture DB start|end|sample ...");
	struct vxpu_ledger *l;
	char err[1024];
	if (vxpu_ledger_open(argv[1], VXPU_LEDGER_OPEN_CREATE, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int rc = 0;
	long long n[4];
	if (strcmp(argv[2], "start") == 0 && argc == 15) {
		struct vxpu_ledger_interval iv = {
		        .allocation_id = argv[3],
		        .node = argv[5],
		        .device_uuid = argv[6],
		        .device_model = argv[7],
		        .tenant = argv[11],
		        .project = argv[12],
		        .user = argv[13],
		        .command = "fixture",
		};
		if (number(argv[4], &n[0]) || number(argv[8], &n[1]) || number(argv[9], &n[2]) ||
		    number(argv[10], &n[3]) || when(argv[14], &iv.start_ms))
			return usage("bad number or time");
		iv.device_index = (int)n[0];
		iv.device_memory_mib = n[1];
		iv.memory_mib = n[2];
		iv.compute_percent = (int)n[3];
		rc = vxpu_ledger_interval_start(l, &iv, err, sizeof(err));
	} else if (strcmp(argv[2], "end") == 0 && argc == 6) {
		int64_t end_ms;
		bool exited = strcmp(argv[5], "-") != 0;
		if (when(argv[4], &end_ms) || (exited && number(argv[5], &n[0])))
			return usage("bad time or exit status");
		rc = vxpu_ledger_interval_end(l, argv[3], end_ms, exited, exited ? (int)n[0] : 0,
		                              NULL, err, sizeof(err));
	} else if (strcmp(argv[2], "sample") == 0 && argc == 8) {
		struct vxpu_ledger_sample s = {.allocation_id = argv[3]};
		if (number(argv[4], &n[0]) || when(argv[5], &s.minute_ms) ||
		    number(argv[6], &n[1]) || number(argv[7], &n[2]))
			return usage("bad number or time");
		s.device_index = (int)n[0];
		s.used_memory_mib = (double)n[1];
		s.utilisation_percent = (double)n[2];
		rc = vxpu_ledger_sample_record(l, &s, err, sizeof(err));
	} else {
		vxpu_ledger_close(l);
		return usage("unknown operation or wrong number of arguments");
	}
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	vxpu_ledger_close(l);
	return rc == 0 ? 0 : 1;
}
