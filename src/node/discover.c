/*
 * discover.c - device discovery backends (see discover.h).
 *
 * The NVML backend resolves every entry point by name from a library it
 * opens itself (nvmllib.h), so vxpu neither links against nor requires the NVIDIA
 * driver: the same code reads a real driver or the simulator, depending only
 * on which file is opened. The library is never dlclose'd; NVML does not
 * support being unloaded and reloaded within a process.
 *
 * Errors from individual queries are not fatal when they only mean "not
 * supported on this device" (NUMA id, NVLink, utilisation); a lost GPU makes
 * its device unhealthy instead of failing the whole discovery, so that one
 * broken card never hides the healthy ones.
 */
#include "node/discover.h"

#include "node/nvmllib.h"

#include "core/size.h"
#include "cuda/nvml_abi.h"
#include "core/fail.h"
#include "core/jsonstrict.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const backend_names[] = {"auto", "nvml", "sim", "inventory"};

int vxpu_backend_parse(const char *text, enum vxpu_backend *backend)
{
	for (int i = 0; i < 4; i++) {
		if (text && strcmp(text, backend_names[i]) == 0) {
			*backend = (enum vxpu_backend)i;
			return 0;
		}
	}
	return -1;
}

const char *vxpu_backend_name(enum vxpu_backend backend)
{
	return (unsigned)backend < 4 ? backend_names[backend] : "unknown";
}

/* ---- NVML --------------------------------------------------------------- */

struct nvml_api {
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	const char *(*error_string)(nvmlReturn_t);
	nvmlReturn_t (*driver_version)(char *, unsigned);
	nvmlReturn_t (*count)(unsigned *);
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
	nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned);
	nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
	nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t *);
	nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*numa)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*common_ancestor)(nvmlDevice_t, nvmlDevice_t, nvmlGpuTopologyLevel_t *);
	nvmlReturn_t (*nvlink_state)(nvmlDevice_t, unsigned, nvmlEnableState_t *);
	nvmlReturn_t (*nvlink_remote_pci)(nvmlDevice_t, unsigned, nvmlPciInfo_t *);
	nvmlReturn_t (*ecc_errors)(nvmlDevice_t, nvmlMemoryErrorType_t, nvmlEccCounterType_t,
	                           unsigned long long *);
};

static int nvml_open(const char *path, struct nvml_api *api, char *err, size_t errlen)
{
	void *lib = vxpu_nvml_open_path(path, err, errlen);
	if (!lib)
		return -1;
	/* Optional entries may be NULL; required ones are checked below. */
	*(void **)&api->init = vxpu_nvml_sym(lib, "nvmlInit_v2", "nvmlInit");
	*(void **)&api->shutdown = vxpu_nvml_sym(lib, "nvmlShutdown", NULL);
	*(void **)&api->error_string = vxpu_nvml_sym(lib, "nvmlErrorString", NULL);
	*(void **)&api->driver_version = vxpu_nvml_sym(lib, "nvmlSystemGetDriverVersion", NULL);
	*(void **)&api->count = vxpu_nvml_sym(lib, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
	*(void **)&api->by_index =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
	*(void **)&api->name = vxpu_nvml_sym(lib, "nvmlDeviceGetName", NULL);
	*(void **)&api->uuid = vxpu_nvml_sym(lib, "nvmlDeviceGetUUID", NULL);
	*(void **)&api->pci = vxpu_nvml_sym(lib, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo");
	*(void **)&api->memory = vxpu_nvml_sym(lib, "nvmlDeviceGetMemoryInfo", NULL);
	*(void **)&api->utilization = vxpu_nvml_sym(lib, "nvmlDeviceGetUtilizationRates", NULL);
	*(void **)&api->numa = vxpu_nvml_sym(lib, "nvmlDeviceGetNumaNodeId", NULL);
	*(void **)&api->common_ancestor =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetTopologyCommonAncestor", NULL);
	*(void **)&api->nvlink_state = vxpu_nvml_sym(lib, "nvmlDeviceGetNvLinkState", NULL);
	*(void **)&api->nvlink_remote_pci = vxpu_nvml_sym(
	        lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetNvLinkRemotePciInfo");
	*(void **)&api->ecc_errors = vxpu_nvml_sym(lib, "nvmlDeviceGetTotalEccErrors", NULL);
	if (!api->init || !api->shutdown || !api->count || !api->by_index || !api->name ||
	    !api->uuid || !api->pci || !api->memory)
		return vxpu_fail(err, errlen, "%s lacks a required NVML entry point", path);
	return 0;
}

static const char *nvml_strerror(const struct nvml_api *api, nvmlReturn_t rc)
{
	return api->error_string ? api->error_string(rc) : "NVML error";
}

/* Maps NVML's common-ancestor level to vxpu's PCIe link vocabulary. */
static const char *pcie_link_type(nvmlGpuTopologyLevel_t level)
{
	switch (level) {
	case NVML_TOPOLOGY_INTERNAL:
	case NVML_TOPOLOGY_SINGLE:
	case NVML_TOPOLOGY_MULTIPLE:
		return "pcie-switch";
	case NVML_TOPOLOGY_HOSTBRIDGE:
	case NVML_TOPOLOGY_NODE:
		return "pcie-host";
	default:
		return "cross-cpu";
	}
}

static void mark_unhealthy(struct vxpu_found_device *d, const char *why)
{
	if (d->healthy) {
		d->healthy = false;
		snprintf(d->health_reason, sizeof(d->health_reason), "%s", why);
	}
}

static void nvml_read_device(const struct nvml_api *api, nvmlDevice_t h,
                             struct vxpu_found_device *d)
{
	nvmlReturn_t rc;
	if ((rc = api->name(h, d->model, sizeof(d->model))) != NVML_SUCCESS)
		mark_unhealthy(d, nvml_strerror(api, rc));
	if ((rc = api->uuid(h, d->uuid, sizeof(d->uuid))) != NVML_SUCCESS)
		mark_unhealthy(d, nvml_strerror(api, rc));
	nvmlPciInfo_t pci;
	memset(&pci, 0, sizeof(pci));
	if ((rc = api->pci(h, &pci)) == NVML_SUCCESS)
		snprintf(d->pci_bus_id, sizeof(d->pci_bus_id), "%s", pci.busId);
	else
		mark_unhealthy(d, nvml_strerror(api, rc));
	nvmlMemory_t mem;
	if ((rc = api->memory(h, &mem)) == NVML_SUCCESS) {
		d->memory_bytes = mem.total;
		d->memory_used_bytes = mem.used;
	} else {
		mark_unhealthy(d, nvml_strerror(api, rc));
	}
	nvmlUtilization_t util;
	if (api->utilization && api->utilization(h, &util) == NVML_SUCCESS)
		d->utilization_pct = util.gpu;
	unsigned numa;
	if (api->numa && api->numa(h, &numa) == NVML_SUCCESS)
		d->numa_node = (int)numa;
	unsigned long long uncorrected = 0;
	if (api->ecc_errors &&
	    api->ecc_errors(h, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC,
	                    &uncorrected) == NVML_SUCCESS &&
	    uncorrected > 0)
		mark_unhealthy(d, "uncorrectable ECC errors");
}

static int find_by_bus_id(const struct vxpu_discovery *out, const char *bus_id)
{
	for (unsigned i = 0; i < out->count; i++)
		if (strcasecmp(out->devices[i].pci_bus_id, bus_id) == 0)
			return (int)i;
	return -1;
}

static void nvml_read_links(const struct nvml_api *api, nvmlDevice_t *handles,
                            struct vxpu_discovery *out)
{
	for (unsigned i = 0; i < out->count; i++) {
		if (!api->nvlink_state || !api->nvlink_remote_pci)
			break;
		for (unsigned l = 0; l < NVML_NVLINK_MAX_LINKS; l++) {
			nvmlEnableState_t on;
			if (api->nvlink_state(handles[i], l, &on) != NVML_SUCCESS ||
			    on != NVML_FEATURE_ENABLED)
				continue;
			nvmlPciInfo_t remote;
			memset(&remote, 0, sizeof(remote));
			if (api->nvlink_remote_pci(handles[i], l, &remote) != NVML_SUCCESS)
				continue;
			int j = find_by_bus_id(out, remote.busId);
			if (j < 0 || (unsigned)j == i)
				continue; /* NVSwitch or a device outside this view */
			struct vxpu_found_link *link = &out->links[i][j];
			snprintf(link->type, sizeof(link->type), "nvlink");
			link->width++;
		}
	}
	for (unsigned i = 0; i < out->count; i++) {
		for (unsigned j = 0; j < out->count; j++) {
			if (i == j || out->links[i][j].type[0] || !api->common_ancestor)
				continue;
			nvmlGpuTopologyLevel_t level;
			if (api->common_ancestor(handles[i], handles[j], &level) != NVML_SUCCESS)
				continue;
			snprintf(out->links[i][j].type, sizeof(out->links[i][j].type), "%s",
			         pcie_link_type(level));
			out->links[i][j].width = 1;
		}
	}
}

static int discover_nvml(const char *path, struct vxpu_discovery *out, char *err, size_t errlen)
{
	struct nvml_api api;
	memset(&api, 0, sizeof(api));
	if (nvml_open(path, &api, err, errlen) != 0)
		return -1;
	nvmlReturn_t rc = api.init();
	if (rc != NVML_SUCCESS)
		return vxpu_fail(err, errlen, "%s: nvmlInit failed: %s", path,
		                 nvml_strerror(&api, rc));
	snprintf(out->vendor, sizeof(out->vendor), "nvidia");
	if (api.driver_version)
		api.driver_version(out->driver_version, sizeof(out->driver_version));
	unsigned count = 0;
	rc = api.count(&count);
	if (rc != NVML_SUCCESS) {
		api.shutdown();
		return vxpu_fail(err, errlen, "%s: cannot count devices: %s", path,
		                 nvml_strerror(&api, rc));
	}
	if (count > VXPU_FOUND_MAX_DEVICES)
		count = VXPU_FOUND_MAX_DEVICES;
	nvmlDevice_t handles[VXPU_FOUND_MAX_DEVICES];
	out->count = count;
	for (unsigned i = 0; i < count; i++) {
		struct vxpu_found_device *d = &out->devices[i];
		d->index = i;
		d->numa_node = -1;
		d->healthy = true;
		rc = api.by_index(i, &handles[i]);
		if (rc != NVML_SUCCESS) {
			handles[i] = NULL;
			mark_unhealthy(d, nvml_strerror(&api, rc));
			continue;
		}
		nvml_read_device(&api, handles[i], d);
	}
	nvml_read_links(&api, handles, out);
	api.shutdown();
	return 0;
}

/* The simulator's folder: explicit, $VXPU_SIM_LIB_DIR, or BINDIR/sim. */
static int sim_library_path(const char *dir, char *path, size_t cap)
{
	char exe_dir[PATH_MAX];
	if (!dir)
		dir = getenv("VXPU_SIM_LIB_DIR");
	if (!dir || !*dir) {
		ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
		if (n <= 0)
			return -1;
		exe_dir[n] = '\0';
		char *slash = strrchr(exe_dir, '/');
		if (slash)
			*slash = '\0';
		if (strlen(exe_dir) + 5 >= sizeof(exe_dir))
			return -1;
		strcat(exe_dir, "/sim");
		dir = exe_dir;
	}
	int n = snprintf(path, cap, "%s/libnvidia-ml.so.1", dir);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ---- inventory ---------------------------------------------------------- */

static int inv_fail(char *err, size_t errlen, const char *origin, const char *field,
                    const char *problem)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s: %s", origin, field, problem);
	return -1;
}

/* Rejects keys other than those listed (strict: a typo is an error). */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *origin,
                      const char *where, char *err, size_t errlen)
{
	for (const cJSON *it = obj->child; it; it = it->next) {
		bool ok = false;
		for (const char *const *k = allowed; *k; k++)
			ok = ok || strcmp(it->string, *k) == 0;
		if (!ok) {
			char field[160];
			snprintf(field, sizeof(field), "%s%s%s", where, *where ? "." : "",
			         it->string);
			return inv_fail(err, errlen, origin, field, "unknown field");
		}
	}
	return 0;
}

static int copy_string(const cJSON *item, char *dst, size_t cap, bool required, const char *origin,
                       const char *field, char *err, size_t errlen)
{
	if (!item) {
		if (required)
			return inv_fail(err, errlen, origin, field, "missing");
		dst[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(item) || !item->valuestring[0])
		return inv_fail(err, errlen, origin, field, "must be a non-empty string");
	if (strlen(item->valuestring) >= cap)
		return inv_fail(err, errlen, origin, field, "too long");
	memcpy(dst, item->valuestring, strlen(item->valuestring) + 1);
	return 0;
}

static int parse_inventory_device(const cJSON *jd, unsigned index, const char *origin,
                                  struct vxpu_found_device *d, char *err, size_t errlen)
{
	static const char *const keys[] = {"model", "memory",  "uuid", "pci_bus_id",
	                                   "numa",  "healthy", NULL};
	char where[64], field[128];
	snprintf(where, sizeof(where), "devices[%u]", index);
	if (!cJSON_IsObject(jd))
		return inv_fail(err, errlen, origin, where, "must be an object");
	if (check_keys(jd, keys, origin, where, err, errlen) != 0)
		return -1;
	d->index = index;
	d->healthy = true;
	d->numa_node = -1;
	snprintf(field, sizeof(field), "%s.model", where);
	if (copy_string(cJSON_GetObjectItemCaseSensitive(jd, "model"), d->model, sizeof(d->model),
	                true, origin, field, err, errlen) != 0)
		return -1;
	snprintf(field, sizeof(field), "%s.memory", where);
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(jd, "memory");
	if (!cJSON_IsString(mem))
		return inv_fail(err, errlen, origin, field,
		                "must be a size string such as \"32GiB\"");
	char why[160];
	if (vxpu_size_parse(mem->valuestring, VXPU_SIZE_BARE_BYTES, &d->memory_bytes, why,
	                    sizeof(why)) != 0)
		return inv_fail(err, errlen, origin, field, why);
	if (d->memory_bytes == 0)
		return inv_fail(err, errlen, origin, field, "must be more than 0");
	snprintf(field, sizeof(field), "%s.uuid", where);
	if (copy_string(cJSON_GetObjectItemCaseSensitive(jd, "uuid"), d->uuid, sizeof(d->uuid),
	                false, origin, field, err, errlen) != 0)
		return -1;
	if (!d->uuid[0]) {
		/* Through a local buffer: both fields live in *d, and GCC cannot
		 * tell the model from the destination (-Wrestrict). */
		char uuid[sizeof(d->uuid)];
		snprintf(uuid, sizeof(uuid), "INV-%.60s-%u", d->model, index);
		memcpy(d->uuid, uuid, sizeof(uuid));
	}
	snprintf(field, sizeof(field), "%s.pci_bus_id", where);
	if (copy_string(cJSON_GetObjectItemCaseSensitive(jd, "pci_bus_id"), d->pci_bus_id,
	                sizeof(d->pci_bus_id), false, origin, field, err, errlen) != 0)
		return -1;
	const cJSON *numa = cJSON_GetObjectItemCaseSensitive(jd, "numa");
	if (numa) {
		snprintf(field, sizeof(field), "%s.numa", where);
		if (!cJSON_IsNumber(numa) || numa->valuedouble < 0 || numa->valuedouble > 1023 ||
		    numa->valuedouble != (double)(int)numa->valuedouble)
			return inv_fail(err, errlen, origin, field,
			                "must be a whole number from 0 to 1023");
		d->numa_node = numa->valueint;
	}
	const cJSON *healthy = cJSON_GetObjectItemCaseSensitive(jd, "healthy");
	if (healthy) {
		snprintf(field, sizeof(field), "%s.healthy", where);
		if (!cJSON_IsBool(healthy))
			return inv_fail(err, errlen, origin, field, "must be true or false");
		if (cJSON_IsFalse(healthy)) {
			d->healthy = false;
			snprintf(d->health_reason, sizeof(d->health_reason),
			         "marked unhealthy in inventory");
		}
	}
	return 0;
}

static int parse_inventory_link(const cJSON *jl, unsigned index, const char *origin,
                                struct vxpu_discovery *out, char *err, size_t errlen)
{
	static const char *const keys[] = {"between", "type", "width", NULL};
	char where[64], field[128];
	snprintf(where, sizeof(where), "links[%u]", index);
	if (!cJSON_IsObject(jl))
		return inv_fail(err, errlen, origin, where, "must be an object");
	if (check_keys(jl, keys, origin, where, err, errlen) != 0)
		return -1;
	const cJSON *between = cJSON_GetObjectItemCaseSensitive(jl, "between");
	snprintf(field, sizeof(field), "%s.between", where);
	if (!cJSON_IsArray(between) || cJSON_GetArraySize(between) != 2)
		return inv_fail(err, errlen, origin, field,
		                "must be two device indexes, e.g. [0, 1]");
	int ends[2];
	for (int k = 0; k < 2; k++) {
		const cJSON *e = cJSON_GetArrayItem(between, k);
		if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble ||
		    e->valueint < 0 || (unsigned)e->valueint >= out->count)
			return inv_fail(err, errlen, origin, field,
			                "names a device that does not exist");
		ends[k] = e->valueint;
	}
	if (ends[0] == ends[1])
		return inv_fail(err, errlen, origin, field, "links a device to itself");
	struct vxpu_found_link link = {.width = 1};
	snprintf(field, sizeof(field), "%s.type", where);
	if (copy_string(cJSON_GetObjectItemCaseSensitive(jl, "type"), link.type, sizeof(link.type),
	                true, origin, field, err, errlen) != 0)
		return -1;
	const cJSON *width = cJSON_GetObjectItemCaseSensitive(jl, "width");
	if (width) {
		snprintf(field, sizeof(field), "%s.width", where);
		if (!cJSON_IsNumber(width) || width->valuedouble < 1 || width->valuedouble > 64 ||
		    width->valuedouble != (double)(int)width->valuedouble)
			return inv_fail(err, errlen, origin, field,
			                "must be a whole number from 1 to 64");
		link.width = (unsigned)width->valueint;
	}
	out->links[ends[0]][ends[1]] = link;
	out->links[ends[1]][ends[0]] = link;
	return 0;
}

int vxpu_inventory_parse(const char *json, const char *origin, struct vxpu_discovery *out,
                         char *err, size_t errlen)
{
	static const char *const keys[] = {"version", "vendor", "driver_version",
	                                   "devices", "links",  NULL};
	struct vxpu_discovery *tmp = calloc(1, sizeof(*tmp));
	if (!tmp)
		return inv_fail(err, errlen, origin, "(file)", "out of memory");
	int rc = -1;
	cJSON *root = NULL;
	char problem[160];
	if (vxpu_json_grammar_problem(json, strlen(json), problem, sizeof(problem)) != 0) {
		inv_fail(err, errlen, origin, "(file)", problem);
		goto done;
	}
	if (!(root = cJSON_Parse(json))) {
		inv_fail(err, errlen, origin, "(file)", "cannot build the JSON tree");
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		inv_fail(err, errlen, origin, "(file)", "must be a JSON object");
		goto done;
	}
	if (check_keys(root, keys, origin, "", err, errlen) != 0)
		goto done;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
		inv_fail(err, errlen, origin, "version",
		         "must be 1 (the only inventory format version)");
		goto done;
	}
	tmp->backend = VXPU_BACKEND_INVENTORY;
	if (copy_string(cJSON_GetObjectItemCaseSensitive(root, "vendor"), tmp->vendor,
	                sizeof(tmp->vendor), true, origin, "vendor", err, errlen) != 0 ||
	    copy_string(cJSON_GetObjectItemCaseSensitive(root, "driver_version"),
	                tmp->driver_version, sizeof(tmp->driver_version), false, origin,
	                "driver_version", err, errlen) != 0)
		goto done;
	const cJSON *devices = cJSON_GetObjectItemCaseSensitive(root, "devices");
	if (!cJSON_IsArray(devices) || cJSON_GetArraySize(devices) < 1) {
		inv_fail(err, errlen, origin, "devices", "must be a non-empty array");
		goto done;
	}
	if (cJSON_GetArraySize(devices) > VXPU_FOUND_MAX_DEVICES) {
		inv_fail(err, errlen, origin, "devices", "more than 32 devices");
		goto done;
	}
	const cJSON *jd;
	cJSON_ArrayForEach(jd, devices)
	{
		if (parse_inventory_device(jd, tmp->count, origin, &tmp->devices[tmp->count], err,
		                           errlen) != 0)
			goto done;
		tmp->count++;
	}
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(root, "links");
	if (links) {
		if (!cJSON_IsArray(links)) {
			inv_fail(err, errlen, origin, "links", "must be an array");
			goto done;
		}
		unsigned li = 0;
		const cJSON *jl;
		cJSON_ArrayForEach(jl, links)
		{
			if (parse_inventory_link(jl, li++, origin, tmp, err, errlen) != 0)
				goto done;
		}
	}
	*out = *tmp;
	rc = 0;
done:
	cJSON_Delete(root);
	free(tmp);
	return rc;
}

static int discover_inventory(const char *path, struct vxpu_discovery *out, char *err,
                              size_t errlen)
{
	if (!path)
		path = getenv("VXPU_INVENTORY");
	if (!path || !*path)
		return vxpu_fail(
		        err, errlen,
		        "the inventory backend needs a file (--inventory FILE or VXPU_INVENTORY)");
	FILE *f = fopen(path, "rb");
	if (!f)
		return vxpu_fail(err, errlen, "cannot open inventory %s: %s", path,
		                 strerror(errno));
	char *text = malloc(1 << 20);
	size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (!text)
		return vxpu_fail(err, errlen, "%s: out of memory", path);
	if (n >= (1 << 20) - 1) {
		free(text);
		return vxpu_fail(err, errlen, "%s: larger than 1 MiB", path);
	}
	text[n] = '\0';
	int rc = vxpu_inventory_parse(text, path, out, err, errlen);
	free(text);
	return rc;
}

int vxpu_discover_library_path(const struct vxpu_discover_options *opts, char *path, size_t cap,
                               char *err, size_t errlen)
{
	switch (opts->backend) {
	case VXPU_BACKEND_SIM:
		if (sim_library_path(opts->sim_lib_dir, path, cap) != 0)
			return vxpu_fail(err, errlen,
			                 "cannot locate the simulator's library folder");
		return 0;
	case VXPU_BACKEND_INVENTORY:
		return vxpu_fail(err, errlen, "the inventory backend has no management library");
	default:
		if ((size_t)snprintf(path, cap, "libnvidia-ml.so.1") >= cap)
			return vxpu_fail(err, errlen, "path buffer too small");
		return 0;
	}
}

int vxpu_discover(const struct vxpu_discover_options *opts, struct vxpu_discovery *out, char *err,
                  size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char path[PATH_MAX + 32];
	switch (opts->backend) {
	case VXPU_BACKEND_NVML:
		out->backend = VXPU_BACKEND_NVML;
		return discover_nvml("libnvidia-ml.so.1", out, err, errlen);
	case VXPU_BACKEND_SIM:
		if (vxpu_discover_library_path(opts, path, sizeof(path), err, errlen) != 0)
			return -1;
		if (discover_nvml(path, out, err, errlen) != 0)
			return -1;
		out->backend = VXPU_BACKEND_SIM;
		return 0;
	case VXPU_BACKEND_INVENTORY:
		return discover_inventory(opts->inventory_path, out, err, errlen);
	case VXPU_BACKEND_AUTO:
	default: {
		char why[512];
		if (discover_nvml("libnvidia-ml.so.1", out, why, sizeof(why)) == 0 &&
		    out->count > 0) {
			out->backend = VXPU_BACKEND_NVML;
			return 0;
		}
		if (out->count == 0 && !why[0])
			snprintf(why, sizeof(why), "NVML reports no devices");
		memset(out, 0, sizeof(*out));
		return vxpu_fail(
		        err, errlen,
		        "no NVIDIA GPU found (%s); to try vxpu without a GPU use --backend sim "
		        "(the simulated driver, docs/sim.md) or --backend inventory --inventory "
		        "FILE",
		        why);
	}
	}
}
