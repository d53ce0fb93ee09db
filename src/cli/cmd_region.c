/*
 * cmd_region.c - `vxpu region show FILE [--json]`: a container's shared
 * region as the limiter keeps it (src/limiter/region.h): per device the
 * limit, the UUID and the container's use; per process its pid, the host pid
 * the node agent recorded, whether it is alive, and what it holds.
 *
 * The file is opened read-only and nothing is changed: a dead process's
 * charge is shown as "dead" (awaiting reclaim by the next process that
 * needs the room) rather than reclaimed from here. A file of an unknown
 * layout version is refused with the reader's message.
 *
 * `vxpu region create FILE [--limit [DEV=]SIZE]... [--core [DEV=]PCT]...
 * [--priority P]` makes a managed region (what `vxpu run` and the node
 * agent do through the same API), whose limits a workload's environment
 * cannot widen.
 *
 * `vxpu region set-limit FILE DEV [PCT|none] [--memory SIZE|none]` and
 * `vxpu region set-priority FILE P` change a region while its workload
 * runs (live resizing): the limiter reads the limits from the region at
 * every launch and allocation, and a launch waiting on the old compute
 * share is woken. Both parse every argument before changing anything.
 */
#include "cli/cli.h"
#include "core/logfmt.h"
#include "core/percent.h"
#include "core/size.h"
#include "limiter/region.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void format_size(uint64_t bytes, char *buf, size_t len)
{
	vxpu_size_format(bytes, buf, len);
}

static void format_limit(uint64_t limit, char *buf, size_t len)
{
	if (limit == VXPU_REGION_UNLIMITED)
		snprintf(buf, len, "unlimited");
	else
		format_size(limit, buf, len);
}

static void format_core(uint32_t pct, char *buf, size_t len)
{
	if (pct == 0 || pct >= 100)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%u%%", pct);
}

/* "unmeasured,no-nvml" or "" */
static void format_compute_flags(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", flags & VXPU_COMPUTE_FLAG_UNMEASURED ? "unmeasured" : "",
	         (flags & VXPU_COMPUTE_FLAG_UNMEASURED) && (flags & VXPU_COMPUTE_FLAG_NO_NVML) ? ","
	                                                                                       : "",
	         flags & VXPU_COMPUTE_FLAG_NO_NVML ? "no-nvml" : "");
}

static void region_totals(const struct vxpu_region_view *v, uint64_t *used, unsigned *live,
                          unsigned *dead)
{
	*used = 0;
	*live = 0;
	*dead = 0;
	for (unsigned d = 0; d < v->device_count; d++)
		*used += v->devices[d].used;
	for (unsigned i = 0; i < v->process_count; i++) {
		if (v->processes[i].alive)
			(*live)++;
		else
			(*dead)++;
	}
}

static int region_print_text(const char *path, const struct vxpu_region_view *v)
{
	char created[40];
	vxpu_format_rfc3339_ms((int64_t)v->created_unix_ms, created, sizeof(created));
	printf("region %s (layout version %u, created %s, priority %s)\n\n", path, v->version,
	       created, vxpu_priority_name(v->priority));
	printf("%-4s %-41s %-10s %-10s %-10s %-6s %-6s %-12s %-10s %s\n", "DEV", "UUID", "LIMIT",
	       "USED", "DEAD", "CORES", "NOW", "DEVICE-TIME", "HELD", "FLAGS");
	for (unsigned d = 0; d < v->device_count; d++) {
		const struct vxpu_region_device_view *dv = &v->devices[d];
		char uuid[48] = "-", limit[32], used[32], dead[32], core[16], eff[16], flags[32];
		if (dv->uuid_set)
			vxpu_region_format_uuid(dv->uuid, uuid, sizeof(uuid));
		format_limit(dv->memory_limit, limit, sizeof(limit));
		format_size(dv->used, used, sizeof(used));
		format_size(dv->used_dead, dead, sizeof(dead));
		format_core(dv->core_limit, core, sizeof(core));
		format_core(dv->effective_limit, eff, sizeof(eff));
		format_compute_flags(dv->compute_flags, flags, sizeof(flags));
		printf("%-4u %-41s %-10s %-10s %-10s %-6s %-6s %-12.3f %-10.3f %s\n", d, uuid,
		       limit, used, dead, core, dv->launches ? eff : "-",
		       (double)dv->charged_ns / 1e9, (double)dv->held_ns / 1e9,
		       flags[0] ? flags : "-");
	}
	printf("\n%-5s %-8s %-9s %-6s %s\n", "SLOT", "PID", "HOST-PID", "STATE", "USED BY DEVICE");
	for (unsigned i = 0; i < v->process_count; i++) {
		const struct vxpu_region_process *p = &v->processes[i];
		char host[16] = "-";
		if (p->host_pid)
			snprintf(host, sizeof(host), "%d", p->host_pid);
		printf("%-5u %-8d %-9s %-6s", p->slot, p->pid, host, p->alive ? "live" : "dead");
		for (unsigned d = 0; d < v->device_count; d++) {
			char used[32];
			format_size(p->used[d], used, sizeof(used));
			printf(" %u:%s", d, used);
		}
		printf("\n");
	}
	uint64_t used;
	unsigned live, dead;
	region_totals(v, &used, &live, &dead);
	char used_text[32];
	format_size(used, used_text, sizeof(used_text));
	printf("\ntotal: %u processes (%u live, %u dead awaiting reclaim), %s used by live "
	       "processes\n",
	       v->process_count, live, dead, used_text);
	return VXPU_EXIT_OK;
}

static int region_print_json(const char *path, const struct vxpu_region_view *v)
{
	char created[40];
	vxpu_format_rfc3339_ms((int64_t)v->created_unix_ms, created, sizeof(created));
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "path", path);
	cJSON_AddNumberToObject(root, "version", v->version);
	cJSON_AddStringToObject(root, "created", created);
	cJSON_AddNumberToObject(root, "limits_generation", (double)v->limits_generation);
	if (v->priority == VXPU_PRIORITY_UNSET)
		cJSON_AddNullToObject(root, "priority");
	else
		cJSON_AddStringToObject(root, "priority", vxpu_priority_name(v->priority));
	cJSON *devices = cJSON_AddArrayToObject(root, "devices");
	for (unsigned d = 0; d < v->device_count; d++) {
		const struct vxpu_region_device_view *dv = &v->devices[d];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "index", d);
		if (dv->uuid_set) {
			char uuid[48];
			vxpu_region_format_uuid(dv->uuid, uuid, sizeof(uuid));
			cJSON_AddStringToObject(o, "uuid", uuid);
		} else {
			cJSON_AddNullToObject(o, "uuid");
		}
		if (dv->memory_limit == VXPU_REGION_UNLIMITED)
			cJSON_AddNullToObject(o, "limit_bytes");
		else
			cJSON_AddNumberToObject(o, "limit_bytes", (double)dv->memory_limit);
		cJSON_AddNumberToObject(o, "used_bytes", (double)dv->used);
		cJSON_AddNumberToObject(o, "dead_bytes", (double)dv->used_dead);
		cJSON *c = cJSON_AddObjectToObject(o, "compute");
		if (dv->core_limit == 0 || dv->core_limit >= 100)
			cJSON_AddNullToObject(c, "limit_percent");
		else
			cJSON_AddNumberToObject(c, "limit_percent", dv->core_limit);
		if (dv->launches == 0)
			cJSON_AddNullToObject(c, "effective_percent");
		else
			cJSON_AddNumberToObject(c, "effective_percent", dv->effective_limit);
		cJSON_AddNumberToObject(c, "charged_ns", (double)dv->charged_ns);
		cJSON_AddNumberToObject(c, "held_ns", (double)dv->held_ns);
		cJSON_AddNumberToObject(c, "launches", (double)dv->launches);
		cJSON_AddNumberToObject(c, "held_launches", (double)dv->held_launches);
		cJSON *flags = cJSON_AddArrayToObject(c, "flags");
		if (dv->compute_flags & VXPU_COMPUTE_FLAG_UNMEASURED)
			cJSON_AddItemToArray(flags, cJSON_CreateString("unmeasured"));
		if (dv->compute_flags & VXPU_COMPUTE_FLAG_NO_NVML)
			cJSON_AddItemToArray(flags, cJSON_CreateString("no-nvml"));
		cJSON_AddItemToArray(devices, o);
	}
	cJSON *procs = cJSON_AddArrayToObject(root, "processes");
	for (unsigned i = 0; i < v->process_count; i++) {
		const struct vxpu_region_process *p = &v->processes[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "slot", p->slot);
		cJSON_AddNumberToObject(o, "generation", p->generation);
		cJSON_AddNumberToObject(o, "pid", p->pid);
		if (p->host_pid)
			cJSON_AddNumberToObject(o, "host_pid", p->host_pid);
		else
			cJSON_AddNullToObject(o, "host_pid");
		cJSON_AddBoolToObject(o, "alive", p->alive);
		cJSON *used = cJSON_AddArrayToObject(o, "used_bytes");
		for (unsigned d = 0; d < v->device_count; d++)
			cJSON_AddItemToArray(used, cJSON_CreateNumber((double)p->used[d]));
		cJSON *device_ns = cJSON_AddArrayToObject(o, "device_time_ns");
		for (unsigned d = 0; d < v->device_count; d++)
			cJSON_AddItemToArray(device_ns,
			                     cJSON_CreateNumber((double)p->compute_ns[d]));
		cJSON_AddItemToArray(procs, o);
	}
	uint64_t used;
	unsigned live, dead;
	region_totals(v, &used, &live, &dead);
	cJSON *totals = cJSON_AddObjectToObject(root, "totals");
	cJSON_AddNumberToObject(totals, "used_bytes", (double)used);
	cJSON_AddNumberToObject(totals, "processes", v->process_count);
	cJSON_AddNumberToObject(totals, "live", live);
	cJSON_AddNumberToObject(totals, "dead", dead);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return vxpu_cli_fail("region", "out of memory");
	puts(text);
	free(text);
	return VXPU_EXIT_OK;
}

static int region_show(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return vxpu_cli_usage_error("region", "unknown flag \"%s\"", argv[i]);
		else if (!path)
			path = argv[i];
		else
			return vxpu_cli_usage_error("region", "unexpected argument \"%s\"",
			                            argv[i]);
	}
	if (!path)
		return vxpu_cli_usage_error("region", "show needs a FILE");
	struct vxpu_region r;
	char err[512];
	if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_READ, NULL, err, sizeof(err)) != 0)
		return vxpu_cli_fail("region", "%s", err);
	struct vxpu_region_view *view = malloc(sizeof(*view));
	if (!view) {
		vxpu_region_close(&r);
		return vxpu_cli_fail("region", "out of memory");
	}
	vxpu_region_read(&r, view);
	vxpu_region_close(&r);
	int rc = json ? region_print_json(path, view) : region_print_text(path, view);
	free(view);
	return rc;
}

/*
 * "VALUE" (every device: *device = -1) or "I=VALUE" (device I) of FLAG;
 * *rest is the VALUE part. Returns VXPU_EXIT_OK or a usage error.
 */
static int split_device_prefix(const char *flag, const char *value, int *device, const char **rest)
{
	*device = -1;
	*rest = value;
	const char *eq = strchr(value, '=');
	if (!eq)
		return VXPU_EXIT_OK;
	char *end;
	long d = strtol(value, &end, 10);
	if (end != eq || end == value || d < 0 || d >= (long)VXPU_REGION_MAX_DEVICES)
		return vxpu_cli_usage_error("region", "%s \"%s\": the device must be 0..%u", flag,
		                            value, VXPU_REGION_MAX_DEVICES - 1);
	*device = (int)d;
	*rest = eq + 1;
	return VXPU_EXIT_OK;
}

/* "SIZE" (every device) or "I=SIZE" (device I); a bare number is MiB. */
static int parse_limit_flag(const char *value, struct vxpu_region_init *init)
{
	const char *size;
	int device;
	int rc = split_device_prefix("--limit", value, &device, &size);
	if (rc != VXPU_EXIT_OK)
		return rc;
	uint64_t bytes;
	char why[192];
	if (vxpu_size_parse(size, VXPU_SIZE_BARE_MIB, &bytes, why, sizeof(why)) != 0)
		return vxpu_cli_usage_error("region", "--limit \"%s\": %s", value, why);
	if (bytes == 0)
		return vxpu_cli_usage_error("region", "--limit \"%s\": must be at least 1 byte",
		                            value);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		if (device < 0 || (unsigned)device == d)
			init->memory_limit[d] = bytes;
	return VXPU_EXIT_OK;
}

/* "PCT" (every device) or "I=PCT" (device I) into core[]. */
static int parse_core_flag(const char *value, uint32_t core[VXPU_REGION_MAX_DEVICES])
{
	const char *pct_text;
	int device;
	int rc = split_device_prefix("--core", value, &device, &pct_text);
	if (rc != VXPU_EXIT_OK)
		return rc;
	int pct;
	char why[192];
	if (vxpu_percent_parse(pct_text, &pct, why, sizeof(why)) != 0)
		return vxpu_cli_usage_error("region", "--core \"%s\": %s", value, why);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		if (device < 0 || (unsigned)device == d)
			core[d] = (uint32_t)pct;
	return VXPU_EXIT_OK;
}

/* high | normal | low | none */
static int parse_priority_word(const char *flag, const char *value, uint32_t *priority)
{
	static const char *const words[] = {"none", "high", "normal", "low"};
	for (uint32_t i = 0; i < 4; i++) {
		if (strcmp(value, words[i]) == 0) {
			*priority = i;
			return VXPU_EXIT_OK;
		}
	}
	return vxpu_cli_usage_error("region", "%s \"%s\": use high, normal, low or none", flag,
	                            value);
}

static int region_create(int argc, char **argv)
{
	const char *path = NULL;
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.managed = true;
	/* Device-specific limits win over a global one, whatever their order. */
	struct vxpu_region_init specific;
	vxpu_region_init_default(&specific);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0) {
			if (i + 1 >= argc)
				return vxpu_cli_usage_error("region", "--limit needs a value");
			const char *v = argv[++i];
			int rc = parse_limit_flag(v, strchr(v, '=') ? &specific : &init);
			if (rc != VXPU_EXIT_OK)
				return rc;
		} else if (strcmp(argv[i], "--core") == 0) {
			if (i + 1 >= argc)
				return vxpu_cli_usage_error("region", "--core needs a value");
			const char *v = argv[++i];
			int rc = parse_core_flag(v, strchr(v, '=') ? specific.core_limit
			                                           : init.core_limit);
			if (rc != VXPU_EXIT_OK)
				return rc;
		} else if (strcmp(argv[i], "--priority") == 0) {
			if (i + 1 >= argc)
				return vxpu_cli_usage_error("region", "--priority needs a value");
			int rc = parse_priority_word("--priority", argv[++i], &init.priority);
			if (rc != VXPU_EXIT_OK)
				return rc;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return vxpu_cli_usage_error("region", "unknown flag \"%s\"", argv[i]);
		} else if (!path) {
			path = argv[i];
		} else {
			return vxpu_cli_usage_error("region", "unexpected argument \"%s\"",
			                            argv[i]);
		}
	}
	if (!path)
		return vxpu_cli_usage_error("region", "create needs a FILE");
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		if (specific.memory_limit[d] != VXPU_REGION_UNLIMITED)
			init.memory_limit[d] = specific.memory_limit[d];
		if (specific.core_limit[d] != 0)
			init.core_limit[d] = specific.core_limit[d];
	}
	FILE *exists = fopen(path, "r");
	if (exists) {
		fclose(exists);
		return vxpu_cli_fail("region", "%s exists; a region is created once", path);
	}
	struct vxpu_region r;
	char err[512];
	if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_CREATE, &init, err, sizeof(err)) != 0)
		return vxpu_cli_fail("region", "%s", err);
	vxpu_region_close(&r);
	return VXPU_EXIT_OK;
}

/* Opens an existing region for writing; VXPU_EXIT_OK or the failure's exit code. */
static int open_for_change(struct vxpu_region *r, const char *path)
{
	char err[512];
	if (vxpu_region_open(r, path, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
		return vxpu_cli_fail("region", "%s", err);
	return VXPU_EXIT_OK;
}

/* set-limit FILE DEV [PCT|none] [--memory SIZE|none] */
static int region_set_limit(int argc, char **argv)
{
	const char *args[3] = {NULL, NULL, NULL};
	const char *memory = NULL;
	int nargs = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--memory") == 0) {
			if (i + 1 >= argc)
				return vxpu_cli_usage_error("region", "--memory needs a value");
			memory = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return vxpu_cli_usage_error("region", "unknown flag \"%s\"", argv[i]);
		} else if (nargs < 3) {
			args[nargs++] = argv[i];
		} else {
			return vxpu_cli_usage_error("region", "unexpected argument \"%s\"",
			                            argv[i]);
		}
	}
	if (nargs < 2 || (nargs == 2 && !memory))
		return vxpu_cli_usage_error("region",
		                            "set-limit needs FILE DEV and PCT, --memory or both");
	char *end;
	long dev = strtol(args[1], &end, 10);
	if (*end || end == args[1] || args[1][0] == '-' || dev < 0 ||
	    dev >= (long)VXPU_REGION_MAX_DEVICES)
		return vxpu_cli_usage_error("region", "DEV \"%s\": must be 0..%u", args[1],
		                            VXPU_REGION_MAX_DEVICES - 1);
	uint32_t core = 0;
	if (args[2] && strcmp(args[2], "none") != 0) {
		int pct;
		char why[192];
		if (vxpu_percent_parse(args[2], &pct, why, sizeof(why)) != 0)
			return vxpu_cli_usage_error("region", "PCT \"%s\": %s (or none)", args[2],
			                            why);
		core = (uint32_t)pct;
	}
	uint64_t bytes = VXPU_REGION_UNLIMITED;
	if (memory && strcmp(memory, "none") != 0) {
		char why[192];
		if (vxpu_size_parse(memory, VXPU_SIZE_BARE_MIB, &bytes, why, sizeof(why)) != 0)
			return vxpu_cli_usage_error("region", "--memory \"%s\": %s", memory, why);
		if (bytes == 0)
			return vxpu_cli_usage_error(
			        "region", "--memory \"%s\": must be at least 1 byte (or none)",
			        memory);
	}
	struct vxpu_region r;
	int rc = open_for_change(&r, args[0]);
	if (rc != VXPU_EXIT_OK)
		return rc;
	if (memory)
		vxpu_region_set_limit(&r, (unsigned)dev, bytes);
	if (args[2])
		vxpu_region_set_core_limit(&r, (unsigned)dev, core);
	vxpu_region_close(&r);
	return VXPU_EXIT_OK;
}

/* set-priority FILE high|normal|low|none */
static int region_set_priority(int argc, char **argv)
{
	if (argc != 4)
		return vxpu_cli_usage_error("region", "set-priority needs FILE and a priority");
	uint32_t priority = VXPU_PRIORITY_UNSET;
	int rc = parse_priority_word("priority", argv[3], &priority);
	if (rc != VXPU_EXIT_OK)
		return rc;
	struct vxpu_region r;
	rc = open_for_change(&r, argv[2]);
	if (rc != VXPU_EXIT_OK)
		return rc;
	vxpu_region_set_priority(&r, priority);
	vxpu_region_close(&r);
	return VXPU_EXIT_OK;
}

static int cmd_region_run(int argc, char **argv)
{
	if (argc < 2)
		return vxpu_cli_usage_error(
		        "region", "missing subcommand (show, create, set-limit or set-priority)");
	if (strcmp(argv[1], "show") == 0)
		return region_show(argc, argv);
	if (strcmp(argv[1], "create") == 0)
		return region_create(argc, argv);
	if (strcmp(argv[1], "set-limit") == 0)
		return region_set_limit(argc, argv);
	if (strcmp(argv[1], "set-priority") == 0)
		return region_set_priority(argc, argv);
	return vxpu_cli_usage_error("region", "unknown subcommand \"%s\"", argv[1]);
}

static const struct vxpu_command vxpu_cmd_region = {
        .name = "region",
        .summary = "inspect a container's shared limiter region",
        .usage = "usage: vxpu region show FILE [--json]\n"
                 "       vxpu region create FILE [--limit [DEV=]SIZE]... [--core [DEV=]PCT]...\n"
                 "                          [--priority high|normal|low]\n"
                 "       vxpu region set-limit FILE DEV [PCT|none] [--memory SIZE|none]\n"
                 "       vxpu region set-priority FILE high|normal|low|none\n"
                 "\n"
                 "show: a shared region of libvxpu (the file named by VXPU_REGION): per device\n"
                 "the memory limit, UUID and use, the compute limit (CORES), the share applied\n"
                 "by the last launch (NOW: lower than CORES while a high-priority container\n"
                 "holds it to the floor), the device time charged and the time launches were\n"
                 "held (seconds), and flags (unmeasured: conservative mode; no-nvml: charged by\n"
                 "completion timing only); per process its pid, the host pid recorded by the\n"
                 "node agent, whether it is alive, and the memory it holds on each device; and\n"
                 "the totals. Memory held by processes that died is shown as dead until a\n"
                 "process of the container reclaims it. The file is only read.\n"
                 "\n"
                 "  --json   machine-readable output (sizes in bytes; null = unlimited/unknown)\n"
                 "\n"
                 "create: makes a new region for a container, managed by vxpu: its limits come\n"
                 "from the file only (a process's environment cannot widen them). --limit SIZE\n"
                 "applies to every device, --limit DEV=SIZE to container device DEV (0..15) and\n"
                 "wins over the former; a bare number is MiB. --core PCT / DEV=PCT likewise set\n"
                 "the compute share (1..100). Without them, no limit. An existing file is left\n"
                 "alone (exit 1).\n"
                 "\n"
                 "set-limit: changes device DEV's compute limit (none lifts it) and, with\n"
                 "--memory, its memory limit, while the workload runs: the new share holds\n"
                 "within a second; a memory limit below the current use refuses allocations\n"
                 "until the use falls below it. set-priority changes the container's priority.\n"
                 "\n"
                 "The layout is described in docs/limiter.md; a file of another layout version\n"
                 "is refused.\n",
        .run = cmd_region_run,
};

VXPU_REGISTER_COMMAND(vxpu_cmd_region);
