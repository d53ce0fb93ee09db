/*
 * hook_nvml.c - what NVML tells the workload, made consistent with its
 * limit, and the NVML questions the limiter itself asks.
 *
 * Memory info of a limited device: total = min(limit, physical total);
 * free = min(total - container use, physical free), never below zero;
 * used = total - free (so total = used + free (+ reserved, reported 0))
 * holds exactly and nothing underflows. Unlimited devices pass through.
 *
 * Process lists (compute, graphics, utilisation samples) keep only the
 * container's processes: those holding a slot in the region, matched on
 * the host pid the node agent records, or on the pid itself when none is
 * recorded (same pid namespace, e.g. `vxpu run`). A process tree without a
 * region file (no limit configured) sees the lists unfiltered.
 *
 * An NVML handle is matched to a container device by UUID; when the region
 * knows no UUID yet, NVML's index is taken as the container index.
 */
#include "limiter/libvxpu.h"

#include <string.h>

/* Largest process list handled on the stack (entries of at most 32 bytes). */
#define NVML_PROCS_MAX 1024

static nvmlReturn_t nvml_ready(void)
{
	if (limiter_nvml_resolved() != 0)
		return NVML_ERROR_LIBRARY_NOT_FOUND;
	if (limiter_configure() != 0)
		return limiter.fail_nvml;
	return NVML_SUCCESS;
}

VXPU_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	nvmlReturn_t rc = nvml_ready();
	if (rc != NVML_SUCCESS)
		return rc;
	return limiter.nvml.nvmlInit_v2 ? limiter.nvml.nvmlInit_v2()
	                                : NVML_ERROR_FUNCTION_NOT_FOUND;
}

VXPU_EXPORT nvmlReturn_t nvmlInit(void)
{
	nvmlReturn_t rc = nvml_ready();
	if (rc != NVML_SUCCESS)
		return rc;
	return limiter.nvml.nvmlInit ? limiter.nvml.nvmlInit() : NVML_ERROR_FUNCTION_NOT_FOUND;
}

VXPU_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	nvmlReturn_t rc = nvml_ready();
	if (rc != NVML_SUCCESS)
		return rc;
	return limiter.nvml.nvmlInitWithFlags ? limiter.nvml.nvmlInitWithFlags(flags)
	                                      : NVML_ERROR_FUNCTION_NOT_FOUND;
}

/* The container device of an NVML handle, -1 when it is not one of the container's. */
static int nvml_container_device(nvmlDevice_t dev)
{
	char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	uint8_t uuid[16];
	if (!limiter.nvml.nvmlDeviceGetUUID ||
	    limiter.nvml.nvmlDeviceGetUUID(dev, text, sizeof(text)) != NVML_SUCCESS ||
	    vxpu_region_parse_uuid(text, uuid) != 0)
		return -1;
	int device = vxpu_region_find_uuid(&limiter.region, uuid);
	if (device >= 0)
		return device;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		uint8_t other[16];
		if (vxpu_region_uuid(&limiter.region, d, other))
			return -1; /* the region knows its devices, and this is not one */
	}
	unsigned int index;
	if (!limiter.nvml.nvmlDeviceGetIndex ||
	    limiter.nvml.nvmlDeviceGetIndex(dev, &index) != NVML_SUCCESS ||
	    index >= VXPU_REGION_MAX_DEVICES)
		return -1;
	return (int)index;
}

/* free/used/total of a limited device; false when the device is unlimited or not ours. */
static bool nvml_memory_view(nvmlDevice_t dev, uint64_t *total, uint64_t *free_bytes,
                             uint64_t *used)
{
	int device = nvml_container_device(dev);
	if (device < 0)
		return false;
	uint64_t limit = vxpu_admit_limit(&limiter.region, (unsigned)device);
	if (limit == VXPU_REGION_UNLIMITED)
		return false;
	if (atomic_load(&limiter.attached))
		limiter_pools_refresh_all();
	uint64_t container_used = vxpu_admit_used(&limiter.region, (unsigned)device);
	uint64_t t = *total < limit ? *total : limit;
	uint64_t room = container_used < t ? t - container_used : 0;
	uint64_t f = *free_bytes < room ? *free_bytes : room;
	*total = t;
	*free_bytes = f;
	*used = t - f;
	return true;
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	nvmlReturn_t rc = nvml_ready();
	if (rc != NVML_SUCCESS)
		return rc;
	rc = limiter.nvml.nvmlDeviceGetMemoryInfo(device, memory);
	if (rc != NVML_SUCCESS || !memory)
		return rc;
	uint64_t total = memory->total, free_bytes = memory->free, used = memory->used;
	if (nvml_memory_view(device, &total, &free_bytes, &used)) {
		memory->total = total;
		memory->free = free_bytes;
		memory->used = used;
	}
	return rc;
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
	nvmlReturn_t rc = nvml_ready();
	if (rc != NVML_SUCCESS)
		return rc;
	if (!limiter.nvml.nvmlDeviceGetMemoryInfo_v2)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	rc = limiter.nvml.nvmlDeviceGetMemoryInfo_v2(device, memory);
	if (rc != NVML_SUCCESS || !memory)
		return rc;
	uint64_t total = memory->total, free_bytes = memory->free, used = memory->used;
	if (nvml_memory_view(device, &total, &free_bytes, &used)) {
		memory->total = total;
		memory->reserved = 0;
		memory->free = free_bytes;
		memory->used = used;
	}
	return rc;
}

/* ---- process lists -------------------------------------------------------------------- */

static bool pid_in_container(unsigned int pid)
{
	struct vxpu_region *r = &limiter.region;
	uint32_t high = atomic_load(&r->header->slot_high);
	for (uint32_t i = 0; i < high && i < VXPU_REGION_MAX_SLOTS; i++) {
		if (atomic_load(&r->slots[i].state) != VXPU_REGION_SLOT_LIVE)
			continue;
		int32_t host = vxpu_region_host_pid(r, i);
		int32_t own = atomic_load(&r->slots[i].pid);
		if ((host != 0 && (unsigned int)host == pid) ||
		    (host == 0 && (unsigned int)own == pid))
			return true;
	}
	return false;
}

/*
 * Runs a list query into a stack buffer, keeps the container's entries
 * (each begins with its pid) and answers with NVML's count convention.
 */
typedef nvmlReturn_t (*list_query)(nvmlDevice_t device, unsigned int *count, void *entries,
                                   const void *arg);

static nvmlReturn_t list_filtered(nvmlDevice_t device, unsigned int *count, void *entries,
                                  size_t entry_size, list_query query, const void *arg)
{
	if (!count || limiter.region.anonymous)
		return query(device, count, entries, arg);
	unsigned char buf[NVML_PROCS_MAX * 32];
	unsigned int n = NVML_PROCS_MAX;
	if (entry_size > 32)
		return query(device, count, entries, arg);
	nvmlReturn_t rc = query(device, &n, buf, arg);
	if (rc == NVML_ERROR_INSUFFICIENT_SIZE)
		return query(device, count, entries, arg); /* too many to filter: as is */
	if (rc != NVML_SUCCESS)
		return rc;
	unsigned int kept = 0;
	for (unsigned int i = 0; i < n; i++) {
		unsigned int pid;
		memcpy(&pid, buf + i * entry_size, sizeof(pid));
		if (!pid_in_container(pid))
			continue;
		if (kept != i)
			memmove(buf + kept * entry_size, buf + i * entry_size, entry_size);
		kept++;
	}
	if (*count < kept || (!entries && kept > 0)) {
		*count = kept;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (kept)
		memcpy(entries, buf, kept * entry_size);
	*count = kept;
	return NVML_SUCCESS;
}

static nvmlReturn_t query_compute_v1(nvmlDevice_t d, unsigned int *c, void *e, const void *a)
{
	(void)a;
	return limiter.nvml.nvmlDeviceGetComputeRunningProcesses(d, c, e);
}

static nvmlReturn_t query_compute_v2(nvmlDevice_t d, unsigned int *c, void *e, const void *a)
{
	(void)a;
	return limiter.nvml.nvmlDeviceGetComputeRunningProcesses_v2(d, c, e);
}

static nvmlReturn_t query_compute_v3(nvmlDevice_t d, unsigned int *c, void *e, const void *a)
{
	(void)a;
	return limiter.nvml.nvmlDeviceGetComputeRunningProcesses_v3(d, c, e);
}

static nvmlReturn_t query_graphics_v3(nvmlDevice_t d, unsigned int *c, void *e, const void *a)
{
	(void)a;
	return limiter.nvml.nvmlDeviceGetGraphicsRunningProcesses_v3(d, c, e);
}

static nvmlReturn_t query_utilisation(nvmlDevice_t d, unsigned int *c, void *e, const void *a)
{
	return limiter.nvml.nvmlDeviceGetProcessUtilization(d, e, c,
	                                                    *(const unsigned long long *)a);
}

#define NVML_LIST_READY(fn)                                                                        \
	do {                                                                                       \
		nvmlReturn_t ready = nvml_ready();                                                 \
		if (ready != NVML_SUCCESS)                                                         \
			return ready;                                                              \
		if (!limiter.nvml.fn)                                                              \
			return NVML_ERROR_FUNCTION_NOT_FOUND;                                      \
	} while (0)

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_v1_t *infos)
{
	NVML_LIST_READY(nvmlDeviceGetComputeRunningProcesses);
	return list_filtered(device, infoCount, infos, sizeof(*infos), query_compute_v1, NULL);
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                                 unsigned int *infoCount,
                                                                 nvmlProcessInfo_v2_t *infos)
{
	NVML_LIST_READY(nvmlDeviceGetComputeRunningProcesses_v2);
	return list_filtered(device, infoCount, infos, sizeof(*infos), query_compute_v2, NULL);
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                                 unsigned int *infoCount,
                                                                 nvmlProcessInfo_t *infos)
{
	NVML_LIST_READY(nvmlDeviceGetComputeRunningProcesses_v3);
	return list_filtered(device, infoCount, infos, sizeof(*infos), query_compute_v3, NULL);
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device,
                                                                  unsigned int *infoCount,
                                                                  nvmlProcessInfo_t *infos)
{
	NVML_LIST_READY(nvmlDeviceGetGraphicsRunningProcesses_v3);
	return list_filtered(device, infoCount, infos, sizeof(*infos), query_graphics_v3, NULL);
}

VXPU_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(
        nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
        unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
	NVML_LIST_READY(nvmlDeviceGetProcessUtilization);
	return list_filtered(device, processSamplesCount, utilization, sizeof(*utilization),
	                     query_utilisation, &lastSeenTimeStamp);
}

/* ---- the limiter's own question --------------------------------------------------------- */

bool limiter_nvml_still_holds(void *ctx, int32_t pid, int32_t host_pid, unsigned device)
{
	(void)ctx;
	uint8_t uuid[16];
	if (limiter_nvml_real_ready() != 0 || !limiter.nvml.nvmlDeviceGetHandleByUUID ||
	    !limiter.nvml.nvmlDeviceGetComputeRunningProcesses_v3 ||
	    !vxpu_region_uuid(&limiter.region, device, uuid))
		return false;
	char text[48];
	vxpu_region_format_uuid(uuid, text, sizeof(text));
	nvmlDevice_t dev;
	if (limiter.nvml.nvmlDeviceGetHandleByUUID(text, &dev) != NVML_SUCCESS)
		return false;
	nvmlProcessInfo_t procs[256];
	unsigned int n = 256;
	if (limiter.nvml.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, procs) != NVML_SUCCESS)
		return false;
	unsigned int want = (unsigned int)(host_pid != 0 ? host_pid : pid);
	for (unsigned int i = 0; i < n; i++)
		if (procs[i].pid == want)
			return true;
	return false;
}
