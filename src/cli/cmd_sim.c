/*
 * cmd_sim.c - `vxpu sim`: look at and inject faults into the simulated
 * machine of the simulated NVIDIA driver (src/sim, docs/sim.md).
 *
 * The machine is found the way the simulated libraries find it:
 * VXPU_SIM_CONFIG names its description (default: the built-in two-device
 * machine) and VXPU_SIM_STATE its state file (default: derived from the
 * description). Faults act on the shared state at once: an XID or ECC event
 * wakes every NVML event waiter; a lost device fails calls in every process.
 * Arguments are parsed strictly; a bad one changes nothing.
 */
#include "cli/cli.h"
#include "core/size.h"
#include "sim/simstate.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "sim"
#define UTIL_WINDOW_NS 1000000000ULL

static int cmd_sim_run(int argc, char **argv);

static const struct vxpu_command vxpu_cmd_sim = {
        .name = "sim",
        .summary = "inspect the simulated GPU machine and inject faults",
        .usage = "usage: vxpu sim status [--json]\n"
                 "       vxpu sim xid DEV CODE\n"
                 "       vxpu sim ecc DEV single|double\n"
                 "       vxpu sim lost DEV\n"
                 "       vxpu sim clear DEV\n"
                 "       vxpu sim reset-peak DEV\n"
                 "\n"
                 "Acts on the machine of the simulated driver (libcuda.so.1 and\n"
                 "libnvidia-ml.so.1 from build/sim), chosen like the libraries choose it:\n"
                 "VXPU_SIM_CONFIG (machine description, default two 16 GiB devices) and\n"
                 "VXPU_SIM_STATE (state file, default under /dev/shm).\n"
                 "\n"
                 "  status       devices, memory (total, used, peak), processes and\n"
                 "               utilisation over the last second; --json for JSON\n"
                 "  xid          deliver XID CODE (1..65535) on device DEV to NVML event waiters\n"
                 "  ecc          count a single-bit (corrected) or double-bit (uncorrected)\n"
                 "               ECC error and deliver its event (double-bit also XID 48)\n"
                 "  lost         the device falls off the bus: XID 79, and calls on it fail\n"
                 "  clear        the device is healthy again; volatile ECC counters reset\n"
                 "  reset-peak   set the device's peak memory use to its current use\n",
        .run = cmd_sim_run,
};

VXPU_REGISTER_COMMAND(vxpu_cmd_sim);

static int open_machine(struct vxpu_sim_state *st)
{
	char err[512];
	if (vxpu_sim_open_env(st, err, sizeof(err)) != 0)
		return vxpu_cli_fail(CMD, "%s", err);
	return 0;
}

/* Strict unsigned decimal in [min, max]. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_device(const struct vxpu_sim_state *st, const char *s, int *dev)
{
	unsigned long long v;
	if (st->config.device_count == 0 ||
	    parse_uint(s, 0, (unsigned long long)st->config.device_count - 1, &v) != 0)
		return vxpu_cli_usage_error(CMD,
		                            "invalid device \"%s\" (the machine has devices "
		                            "0..%d)",
		                            s ? s : "", st->config.device_count - 1);
	*dev = (int)v;
	return 0;
}

static void size_text(uint64_t bytes, char *buf, size_t len)
{
	vxpu_size_format(bytes, buf, len);
}

/* ---- status -------------------------------------------------------------------------- */

struct device_view {
	uint64_t total, used, peak;
	unsigned int util;
	bool lost;
	uint64_t ecc_corrected, ecc_uncorrected;
	int nprocs;
	struct vxpu_sim_proc procs[64];
	int nbusy;
	struct vxpu_sim_busy busy[64];
};

static void view_device(struct vxpu_sim_state *st, int d, struct device_view *v)
{
	uint64_t now = vxpu_sim_now_ns();
	v->total = vxpu_sim_mem_total(st, d);
	v->used = vxpu_sim_mem_used(st, d);
	v->peak = vxpu_sim_mem_peak(st, d);
	uint64_t busy = vxpu_sim_busy_total(st, d, now - UTIL_WINDOW_NS, now);
	v->util = (unsigned int)((busy * 100 + UTIL_WINDOW_NS / 2) / UTIL_WINDOW_NS);
	if (v->util > 100)
		v->util = 100;
	v->lost = vxpu_sim_is_lost(st, d);
	v->ecc_corrected = vxpu_sim_ecc_count(st, d, true, false);
	v->ecc_uncorrected = vxpu_sim_ecc_count(st, d, false, false);
	v->nprocs = vxpu_sim_procs(st, d, v->procs, 64);
	if (v->nprocs > 64)
		v->nprocs = 64;
	v->nbusy = vxpu_sim_busy_by_pid(st, d, now - UTIL_WINDOW_NS, now, v->busy, 64);
}

static unsigned int proc_util(const struct device_view *v, pid_t pid)
{
	for (int i = 0; i < v->nbusy; i++)
		if (v->busy[i].pid == pid)
			return (unsigned int)((v->busy[i].busy_ns * 100 + UTIL_WINDOW_NS / 2) /
			                      UTIL_WINDOW_NS);
	return 0;
}

static int status_text(struct vxpu_sim_state *st, struct device_view *views)
{
	const struct vxpu_sim_config *cfg = &st->config;
	printf("machine %s (config %s, driver %s, CUDA %d.%d)\n", st->path, cfg->source,
	       cfg->driver_version, cfg->cuda_version / 1000, cfg->cuda_version % 1000 / 10);
	for (int d = 0; d < cfg->device_count; d++) {
		const struct vxpu_sim_device_config *c = &cfg->devices[d];
		const struct device_view *v = &views[d];
		char bus[VXPU_SIM_PCI_LEN], total[32], used[32], peak[32];
		vxpu_sim_format_bus_id(c, 8, bus, sizeof(bus));
		size_text(v->total, total, sizeof(total));
		size_text(v->used, used, sizeof(used));
		size_text(v->peak, peak, sizeof(peak));
		printf("device %d: %s %s %s%s\n", d, c->name, c->uuid, bus, v->lost ? " LOST" : "");
		printf("  memory total=%s used=%s peak=%s\n", total, used, peak);
		printf("  utilisation=%u%% ecc_corrected=%llu ecc_uncorrected=%llu\n", v->util,
		       (unsigned long long)v->ecc_corrected,
		       (unsigned long long)v->ecc_uncorrected);
		for (int i = 0; i < v->nprocs; i++) {
			size_text(v->procs[i].used, used, sizeof(used));
			printf("  process pid=%d used=%s contexts=%u utilisation=%u%%\n",
			       (int)v->procs[i].pid, used, v->procs[i].contexts,
			       proc_util(v, v->procs[i].pid));
		}
	}
	return VXPU_EXIT_OK;
}

static int status_json(struct vxpu_sim_state *st, struct device_view *views)
{
	const struct vxpu_sim_config *cfg = &st->config;
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "state_file", st->path);
	cJSON_AddStringToObject(root, "config", cfg->source);
	cJSON_AddStringToObject(root, "driver_version", cfg->driver_version);
	cJSON_AddNumberToObject(root, "cuda_version", cfg->cuda_version);
	cJSON *devs = cJSON_AddArrayToObject(root, "devices");
	for (int d = 0; d < cfg->device_count; d++) {
		const struct vxpu_sim_device_config *c = &cfg->devices[d];
		const struct device_view *v = &views[d];
		char bus[VXPU_SIM_PCI_LEN];
		vxpu_sim_format_bus_id(c, 8, bus, sizeof(bus));
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "index", d);
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "uuid", c->uuid);
		cJSON_AddStringToObject(o, "pci_bus_id", bus);
		cJSON_AddBoolToObject(o, "lost", v->lost);
		cJSON *mem = cJSON_AddObjectToObject(o, "memory");
		cJSON_AddNumberToObject(mem, "total", (double)v->total);
		cJSON_AddNumberToObject(mem, "used", (double)v->used);
		cJSON_AddNumberToObject(mem, "free", (double)(v->total - v->used));
		cJSON_AddNumberToObject(mem, "peak", (double)v->peak);
		cJSON_AddNumberToObject(o, "utilization_percent", v->util);
		cJSON *ecc = cJSON_AddObjectToObject(o, "ecc");
		cJSON_AddNumberToObject(ecc, "corrected", (double)v->ecc_corrected);
		cJSON_AddNumberToObject(ecc, "uncorrected", (double)v->ecc_uncorrected);
		cJSON *procs = cJSON_AddArrayToObject(o, "processes");
		for (int i = 0; i < v->nprocs; i++) {
			cJSON *p = cJSON_CreateObject();
			cJSON_AddNumberToObject(p, "pid", v->procs[i].pid);
			cJSON_AddNumberToObject(p, "used", (double)v->procs[i].used);
			cJSON_AddNumberToObject(p, "contexts", v->procs[i].contexts);
			cJSON_AddNumberToObject(p, "utilization_percent",
			                        proc_util(v, v->procs[i].pid));
			cJSON_AddItemToArray(procs, p);
		}
		cJSON_AddItemToArray(devs, o);
	}
	char *text = cJSON_Print(root);
	int rc = VXPU_EXIT_OK;
	if (text)
		printf("%s\n", text);
	else
		rc = vxpu_cli_fail(CMD, "out of memory");
	free(text);
	cJSON_Delete(root);
	return rc;
}

static int sim_status(int argc, char **argv)
{
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return vxpu_cli_usage_error(CMD, "unknown argument \"%s\" for status",
			                            argv[i]);
	}
	struct vxpu_sim_state st;
	if (open_machine(&st) != 0)
		return VXPU_EXIT_FAILURE;
	vxpu_sim_reap(&st);
	struct device_view *views = calloc(VXPU_SIM_MAX_DEVICES, sizeof(*views));
	if (!views) {
		vxpu_sim_close(&st);
		return vxpu_cli_fail(CMD, "out of memory");
	}
	for (int d = 0; d < st.config.device_count; d++)
		view_device(&st, d, &views[d]);
	int rc = json ? status_json(&st, views) : status_text(&st, views);
	free(views);
	vxpu_sim_close(&st);
	return rc;
}

/* ---- faults ----------------------------------------------------------------------------- */

static int sim_fault(int argc, char **argv)
{
	const char *verb = argv[1];
	bool two_args = strcmp(verb, "xid") == 0 || strcmp(verb, "ecc") == 0;
	if (argc != (two_args ? 4 : 3))
		return vxpu_cli_usage_error(CMD, "%s takes %s", verb,
		                            strcmp(verb, "xid") == 0   ? "DEV CODE"
		                            : strcmp(verb, "ecc") == 0 ? "DEV single|double"
		                                                       : "DEV");
	unsigned long long code = 0;
	bool double_bit = false;
	if (strcmp(verb, "xid") == 0 && parse_uint(argv[3], 1, 65535, &code) != 0)
		return vxpu_cli_usage_error(CMD, "invalid XID code \"%s\" (want 1..65535)",
		                            argv[3]);
	if (strcmp(verb, "ecc") == 0) {
		if (strcmp(argv[3], "double") == 0)
			double_bit = true;
		else if (strcmp(argv[3], "single") != 0)
			return vxpu_cli_usage_error(
			        CMD, "invalid ECC kind \"%s\" (single or double)", argv[3]);
	}
	struct vxpu_sim_state st;
	if (open_machine(&st) != 0)
		return VXPU_EXIT_FAILURE;
	int dev = -1;
	int rc = parse_device(&st, argv[2], &dev);
	if (rc == 0) {
		if (strcmp(verb, "xid") == 0)
			vxpu_sim_inject_xid(&st, dev, code);
		else if (strcmp(verb, "ecc") == 0)
			vxpu_sim_inject_ecc(&st, dev, double_bit);
		else if (strcmp(verb, "lost") == 0)
			vxpu_sim_set_lost(&st, dev);
		else if (strcmp(verb, "clear") == 0)
			vxpu_sim_clear(&st, dev);
		else
			vxpu_sim_mem_peak_reset(&st, dev);
	}
	vxpu_sim_close(&st);
	return rc;
}

static int cmd_sim_run(int argc, char **argv)
{
	if (argc < 2)
		return vxpu_cli_usage_error(CMD, "missing subcommand");
	const char *verb = argv[1];
	if (strcmp(verb, "status") == 0)
		return sim_status(argc, argv);
	if (strcmp(verb, "xid") == 0 || strcmp(verb, "ecc") == 0 || strcmp(verb, "lost") == 0 ||
	    strcmp(verb, "clear") == 0 || strcmp(verb, "reset-peak") == 0)
		return sim_fault(argc, argv);
	return vxpu_cli_usage_error(CMD, "unknown subcommand \"%s\"", verb);
}
