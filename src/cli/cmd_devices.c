/*
 * cmd_devices.c - `vxpu devices`: what this machine's accelerators are, how
 * much of each is allocated through vxpu, and how much is really used.
 *
 * Discovery goes through src/node/discover (NVML, the simulator, or a static
 * inventory); allocation totals come from the local state of `vxpu run`.
 */
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/devices_json.h"
#include "cli/local.h"
#include "core/size.h"
#include "node/discover.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int devices_print_json(const struct vxpu_discovery *d, const struct vxpu_local *l)
{
	cJSON *root = vxpu_devices_json(d, l);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return vxpu_cli_fail("devices", "out of memory");
	puts(text);
	free(text);
	return VXPU_EXIT_OK;
}

/* One short word per link for the topology matrix. */
static const char *link_abbrev(const struct vxpu_found_link *l, char *buf, size_t cap)
{
	if (!l->type[0])
		return "-";
	if (strcmp(l->type, "nvlink") == 0) {
		snprintf(buf, cap, "NV%u", l->width);
		return buf;
	}
	if (strcmp(l->type, "pcie-switch") == 0)
		return "PIX";
	if (strcmp(l->type, "pcie-host") == 0)
		return "PHB";
	if (strcmp(l->type, "cross-cpu") == 0)
		return "SYS";
	return l->type;
}

static void devices_print_table(const struct vxpu_discovery *d, const struct vxpu_local *l)
{
	printf("%-3s %-24s %10s %10s %5s %10s %5s %4s %-8s %s\n", "IDX", "MODEL", "MEMORY",
	       "ALLOCATED", "CORES", "USED", "UTIL", "NUMA", "HEALTH", "UUID");
	for (unsigned i = 0; i < d->count; i++) {
		const struct vxpu_found_device *dev = &d->devices[i];
		char total[32], used[32], numa[16], alloc[32] = "-", cores[16] = "-";
		if (l) {
			struct vxpu_device_allocated a;
			vxpu_device_allocated(l, dev->index, &a);
			vxpu_size_format(a.memory_mib << 20, alloc, sizeof(alloc));
			snprintf(cores, sizeof(cores), "%u%%", a.compute_percent);
		}
		vxpu_size_format(dev->memory_bytes & ~((1ULL << 20) - 1), total, sizeof(total));
		vxpu_size_format(dev->memory_used_bytes & ~((1ULL << 20) - 1), used, sizeof(used));
		if (dev->numa_node >= 0)
			snprintf(numa, sizeof(numa), "%d", dev->numa_node);
		else
			snprintf(numa, sizeof(numa), "-");
		printf("%-3u %-24.24s %10s %10s %5s %10s %4u%% %4s %-8s %s\n", dev->index,
		       dev->model, total, alloc, cores, used, dev->utilization_pct, numa,
		       dev->healthy ? "ok" : "FAILED", dev->uuid);
		if (!dev->healthy)
			printf("    health: %s\n", dev->health_reason);
	}
	if (d->count > 1) {
		printf("\nTopology (NVn = n NVLinks, PIX = PCIe switch, PHB = host bridge, SYS = "
		       "across CPUs):\n    ");
		for (unsigned j = 0; j < d->count; j++)
			printf(" %5u", j);
		printf("\n");
		for (unsigned i = 0; i < d->count; i++) {
			printf("%3u ", i);
			for (unsigned j = 0; j < d->count; j++) {
				char buf[16];
				printf(" %5s",
				       i == j ? "X"
				              : link_abbrev(&d->links[i][j], buf, sizeof(buf)));
			}
			printf("\n");
		}
	}
}

static int devices_run(int argc, char **argv)
{
	struct vxpu_discover_options opts;
	bool json = false;
	int rc = vxpu_cli_discover_defaults(&opts);
	if (rc != 0)
		return vxpu_cli_usage_error(
		        "devices", "invalid VXPU_BACKEND \"%s\" (use auto, nvml, sim or inventory)",
		        getenv("VXPU_BACKEND"));
	for (int i = 1; i < argc; i++) {
		int used = vxpu_cli_discover_flag("devices", argc, argv, i, &opts);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return vxpu_cli_usage_error("devices", "unknown flag \"%s\"", argv[i]);
	}
	/* The local view adds what `vxpu run` allocated; without it (state not
	 * readable) the devices are still worth showing. */
	static struct vxpu_local l;
	static struct vxpu_discovery d;
	char err[768];
	const struct vxpu_local *view = NULL;
	if (vxpu_local_view(&l, &opts, err, sizeof(err)) == 0) {
		view = &l;
		d = l.found;
	} else {
		char why[768];
		if (vxpu_discover(&opts, &d, why, sizeof(why)) != 0)
			return vxpu_cli_fail("devices", "%s", why);
		fprintf(stderr, "vxpu devices: allocations not shown: %s\n", err);
	}
	rc = json ? devices_print_json(&d, view) : (devices_print_table(&d, view), VXPU_EXIT_OK);
	if (view)
		vxpu_local_close(&l);
	return rc;
}

static const struct vxpu_command vxpu_cmd_devices = {
        .name = "devices",
        .summary = "list this machine's accelerators, their use and topology",
        .usage = "usage: vxpu devices [--backend auto|nvml|sim|inventory] [--inventory FILE] "
                 "[--json]\n"
                 "\n"
                 "Lists the devices with model, memory, the memory and compute allocated\n"
                 "through `vxpu run`, used memory, utilisation, NUMA node, health and the\n"
                 "links between them.\n"
                 "\n"
                 "  --backend B      where devices come from (default $VXPU_BACKEND, else auto):\n"
                 "                   nvml (NVIDIA driver), sim (vxpu's simulated driver),\n"
                 "                   inventory (a static JSON file), auto (nvml if a GPU is "
                 "present)\n"
                 "  --inventory F    the inventory file (default $VXPU_INVENTORY)\n"
                 "  --json           machine-readable output\n",
        .run = devices_run,
};
VXPU_REGISTER_COMMAND(vxpu_cmd_devices);
