/*
 * cmd_ps.c - `vxpu ps`: the live allocations of this machine, with what
 * each holds and what its processes really use (read from its region).
 *
 * Looking reclaims: allocations whose owner died are ended first, exactly
 * as `vxpu run` does, so `vxpu ps` never shows a dead run as live.
 */
#include "cli/allocations_json.h"
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/local.h"
#include "core/logfmt.h"
#include "core/size.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PS "ps"

static void print_table(const struct vxpu_local *l)
{
	printf("%-10s %-8s %-12s %-12s %-10s %-6s %-5s %-26s %-20s %s\n", "ID", "PID", "TENANT",
	       "PROJECT", "USER", "PRIO", "DEV", "MEMORY (used/limit)", "STARTED", "COMMAND");
	for (size_t k = 0; k < l->nallocs; k++) {
		const struct vxpu_local_alloc *a = &l->allocs[k];
		struct vxpu_alloc_usage usage;
		vxpu_alloc_usage_read(a, &usage, NULL, 0);
		bool have = usage.state == VXPU_ALLOC_USAGE_READ;
		char ts[40];
		vxpu_format_rfc3339_ms(a->start_ms, ts, sizeof(ts));
		ts[19] = '\0'; /* to the second */
		for (uint32_t i = 0; i < a->nshares; i++) {
			const struct vxpu_local_share *s = &a->shares[i];
			char mem[64], u[32], lim[32];
			vxpu_size_format(s->memory_mib << 20, lim, sizeof(lim));
			if (have)
				vxpu_size_format(usage.used_bytes[i] & ~((1ULL << 20) - 1), u,
				                 sizeof(u));
			else
				snprintf(u, sizeof(u), "-");
			snprintf(mem, sizeof(mem), "%s/%s", u, lim);
			char dev[32];
			if (s->compute_units)
				snprintf(dev, sizeof(dev), "%d@%u%%", s->device_index,
				         vxpu_alloc_share_percent(l, s));
			else
				snprintf(dev, sizeof(dev), "%d", s->device_index);
			if (i == 0)
				printf("%-10.8s %-8lld %-12.12s %-12.12s %-10.10s %-6s %-5s %-26s "
				       "%-20s %.60s\n",
				       a->id, (long long)a->owner_pid, a->tenant, a->project,
				       a->user, a->priority, dev, mem, ts, a->command);
			else
				printf("%-10s %-8s %-12s %-12s %-10s %-6s %-5s %-26s\n", "", "", "",
				       "", "", "", dev, mem);
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
		return vxpu_cli_usage_error(
		        PS, "invalid VXPU_BACKEND \"%s\" (use auto, nvml, sim or inventory)",
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
	if (vxpu_local_view(&l, &opts, err, sizeof(err)) != 0)
		return vxpu_cli_fail(PS, "%s", err);
	if (json) {
		cJSON *root = vxpu_allocations_json(&l);
		char *text = root ? cJSON_Print(root) : NULL;
		cJSON_Delete(root);
		if (!text) {
			vxpu_local_close(&l);
			return vxpu_cli_fail(PS, "out of memory");
		}
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
