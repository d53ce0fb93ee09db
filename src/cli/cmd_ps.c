/*
 * cmd_ps.c - `vxpu ps`: the live allocations of this machine, with what
 * each holds and what its processes really use (read from its region).
 *
 * Looking reclaims: allocations whose owner died are ended first, exactly
 * as `vxpu run` does, so `vxpu ps` never shows a dead run as live.
 */
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/local.h"
#include "core/logfmt.h"
#include "core/size.h"
#include "limiter/region.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PS "ps"

/* Used bytes per share from the allocation's region; false if none yet. */
static bool region_usage(const struct vxpu_local_alloc *a, uint64_t used[VXPU_LOCAL_MAX_SHARES],
			 unsigned *processes)
{
	memset(used, 0, sizeof(uint64_t) * VXPU_LOCAL_MAX_SHARES);
	*processes = 0;
	if (access(a->region_path, R_OK) != 0)
		return false;
	struct vxpu_region r;
	char err[256];
	if (vxpu_region_open(&r, a->region_path, VXPU_REGION_OPEN_READ, NULL, err, sizeof(err)) != 0)
		return false;
	static struct vxpu_region_view view;
	vxpu_region_read(&r, &view);
	vxpu_region_close(&r);
	for (uint32_t i = 0; i < a->nshares && i < VXPU_REGION_MAX_DEVICES; i++)
		used[i] = view.devices[i].used;
	for (unsigned p = 0; p < view.process_count; p++)
		*processes += view.processes[p].alive;
	return true;
}

static cJSON *alloc_json(const struct vxpu_local *l, const struct vxpu_local_alloc *a)
{
	uint64_t used[VXPU_LOCAL_MAX_SHARES];
	unsigned procs;
	bool have = region_usage(a, used, &procs);
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	vxpu_format_rfc3339_ms(a->start_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "id", a->id);
	cJSON_AddNumberToObject(o, "pid", (double)a->owner_pid);
	cJSON_AddStringToObject(o, "tenant", a->tenant);
	cJSON_AddStringToObject(o, "project", a->project);
	cJSON_AddStringToObject(o, "user", a->user);
	cJSON_AddStringToObject(o, "priority", a->priority);
	cJSON_AddStringToObject(o, "command", a->command);
	cJSON_AddStringToObject(o, "started", ts);
	cJSON_AddStringToObject(o, "region", a->region_path);
	cJSON_AddNumberToObject(o, "processes", procs);
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	for (uint32_t i = 0; i < a->nshares; i++) {
		const struct vxpu_local_share *s = &a->shares[i];
		int pos = vxpu_local_device_pos(l, s->device_index);
		uint32_t units = pos >= 0 && l->node.devices[pos].unit_count ? l->node.devices[pos].unit_count : 100;
		cJSON *d = cJSON_CreateObject();
		cJSON_AddNumberToObject(d, "index", s->device_index);
		cJSON_AddStringToObject(d, "uuid", s->device_uuid);
		if (pos >= 0)
			cJSON_AddStringToObject(d, "model", l->node.devices[pos].model);
		cJSON_AddNumberToObject(d, "memory_mib", (double)s->memory_mib);
		cJSON_AddNumberToObject(d, "compute_percent", (double)(s->compute_units * 100 / units));
		cJSON_AddBoolToObject(d, "exclusive", s->exclusive);
		if (have)
			cJSON_AddNumberToObject(d, "used_memory_mib", (double)(used[i] >> 20));
		else
			cJSON_AddNullToObject(d, "used_memory_mib");
		cJSON_AddItemToArray(devs, d);
	}
	return o;
}

static void print_table(const struct vxpu_local *l)
{
	printf("%-10s %-8s %-12s %-12s %-10s %-6s %-5s %-26s %-20s %s\n", "ID", "PID", "TENANT", "PROJECT",
	       "USER", "PRIO", "DEV", "MEMORY (used/limit)", "STARTED", "COMMAND");
	for (size_t k = 0; k < l->nallocs; k++) {
		const struct vxpu_local_alloc *a = &l->allocs[k];
		uint64_t used[VXPU_LOCAL_MAX_SHARES];
		unsigned procs;
		bool have = region_usage(a, used, &procs);
		char ts[40];
		vxpu_format_rfc3339_ms(a->start_ms, ts, sizeof(ts));
		ts[19] = '\0'; /* to the second */
		for (uint32_t i = 0; i < a->nshares; i++) {
			const struct vxpu_local_share *s = &a->shares[i];
			char mem[64], u[32], lim[32];
			vxpu_size_format(s->memory_mib << 20, lim, sizeof(lim));
			if (have)
				vxpu_size_format(used[i] & ~((1ULL << 20) - 1), u, sizeof(u));
			else
				snprintf(u, sizeof(u), "-");
			snprintf(mem, sizeof(mem), "%s/%s", u, lim);
			int pos = vxpu_local_device_pos(l, s->device_index);
			uint32_t units =
				pos >= 0 && l->node.devices[pos].unit_count ? l->node.devices[pos].unit_count : 100;
			char dev[32];
			if (s->compute_units)
				snprintf(dev, sizeof(dev), "%d@%u%%", s->device_index,
					 (unsigned)(s->compute_units * 100 / units));
			else
				snprintf(dev, sizeof(dev), "%d", s->device_index);
			if (i == 0)
				printf("%-10.8s %-8lld %-12.12s %-12.12s %-10.10s %-6s %-5s %-26s %-20s %.60s\n", a->id,
				       (long long)a->owner_pid, a->tenant, a->project, a->user, a->priority, dev, mem,
				       ts, a->command);
			else
				printf("%-10s %-8s %-12s %-12s %-10s %-6s %-5s %-26s\n", "", "", "", "", "", "", dev, mem);
		}
	}
	if (l->nallocs == 0)
		printf("(no running allocations)\n");
}

static int ps_run(int argc, char **argv)
{
	struct vxpu_discover_options opts;
	bool json = false;
	if (vxpu_cli_discover_defaults(&opts) != 0)
		return vxpu_cli_usage_error(PS, "invalid VXPU_BACKEND \"%s\" (use auto, nvml, sim or inventory)",
					    getenv("VXPU_BACKEND"));
	for (int i = 1; i < argc; i++) {
		int used = vxpu_cli_discover_flag(PS, argc, argv, i, &opts);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return vxpu_cli_usage_error(PS, "unknown flag \"%s\"", argv[i]);
	}
	static struct vxpu_local l;
	char err[768] = "";
	if (vxpu_local_open(&l, &opts, err, sizeof(err)) != 0 ||
	    vxpu_ledger_begin(l.ledger, err, sizeof(err)) != 0) {
		vxpu_local_close(&l);
		return vxpu_cli_fail(PS, "%s", err);
	}
	if (vxpu_local_load(&l, vxpu_local_now_ms(), err, sizeof(err)) != 0 ||
	    vxpu_ledger_commit(l.ledger, err, sizeof(err)) != 0) {
		vxpu_ledger_rollback(l.ledger);
		vxpu_local_close(&l);
		return vxpu_cli_fail(PS, "%s", err);
	}
	if (json) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "node", l.hostname);
		cJSON *arr = cJSON_AddArrayToObject(root, "allocations");
		for (size_t k = 0; k < l.nallocs; k++)
			cJSON_AddItemToArray(arr, alloc_json(&l, &l.allocs[k]));
		char *text = cJSON_Print(root);
		cJSON_Delete(root);
		if (text)
			puts(text);
		free(text);
	} else {
		print_table(&l);
	}
	vxpu_local_close(&l);
	return VXPU_EXIT_OK;
}

static const struct vxpu_command vxpu_cmd_ps = {
	.name = "ps",
	.summary = "list running allocations with their live usage",
	.usage = "usage: vxpu ps [--json] [--backend B] [--inventory FILE]\n"
		 "\n"
		 "Lists the allocations of `vxpu run` on this machine: owner, tenant,\n"
		 "project, user, priority, each device's share and the memory its\n"
		 "processes use now (from the allocation's region), start time and command.\n"
		 "Allocations whose `vxpu run` died are reclaimed first.\n",
	.run = ps_run,
};
VXPU_REGISTER_COMMAND(vxpu_cmd_ps);
