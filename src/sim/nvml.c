/*
 * nvml.c - the simulated libnvidia-ml.so.1.
 *
 * NVML reads the same shared state as the simulated libcuda, so it sees the
 * machine as a whole: memory used by every process, the processes holding
 * contexts (and their memory), kernel time from the devices' timelines, ECC
 * counters and the lost flag, and the injected XID/ECC events. It claims no
 * process slot (a monitoring process is not a GPU user), but every query
 * that reports processes or memory first reaps dead processes, so a killed
 * process disappears from the answers at once.
 *
 * Utilisation is computed from the timelines, not sampled: GetUtilizationRates
 * reports the busy share of the last second; GetProcessUtilization reports,
 * per pid, its kernel time share of [lastSeenTimeStamp, now] (the last second
 * when lastSeenTimeStamp is 0, at most the last 10 s), one sample per pid.
 *
 * A lost device keeps its handle and identity (index, name, UUID, PCI) so
 * that a health checker can tell which device it is; every other query on it
 * answers NVML_ERROR_GPU_IS_LOST.
 */
#include "cuda/nvml_abi.h"
#include "sim/simstate.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NVML_API __attribute__((visibility("default")))
#define DEVICE_MAGIC 0x4c4d564eu /* "NVML" */
#define EVSET_MAGIC 0x54455645u  /* "EVET" */
#define NO_INSTANCE 0xFFFFFFFFu
#define WINDOW_DEFAULT_NS 1000000000ULL
#define WINDOW_MAX_NS 10000000000ULL
#define SUPPORTED_EVENTS                                                                           \
	((unsigned long long)(nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError |    \
	                      nvmlEventTypeXidCriticalError))

struct nvml_device {
	uint32_t magic;
	int index;
};

struct nvml_event_set {
	uint32_t magic;
	uint64_t cursor; /* last event sequence examined */
	uint32_t device_mask;
	uint64_t kind_mask[VXPU_SIM_MAX_DEVICES];
	struct nvml_event_set *next;
};

static struct {
	pthread_mutex_t lock;
	int refs;
	bool error_reported;
	struct vxpu_sim_state st;
	struct nvml_device devices[VXPU_SIM_MAX_DEVICES];
	struct nvml_event_set *sets;
} nv = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- init ---------------------------------------------------------------------------- */

static nvmlReturn_t init_with_flags(unsigned int flags)
{
	if (flags & ~(unsigned int)(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH))
		return NVML_ERROR_INVALID_ARGUMENT;
	pthread_mutex_lock(&nv.lock);
	if (nv.refs > 0) {
		nv.refs++;
		pthread_mutex_unlock(&nv.lock);
		return NVML_SUCCESS;
	}
	char err[512];
	if (vxpu_sim_open_env(&nv.st, err, sizeof(err)) != 0) {
		if (!nv.error_reported)
			fprintf(stderr, "vxpu-sim: %s\n", err);
		nv.error_reported = true;
		pthread_mutex_unlock(&nv.lock);
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	if (nv.st.config.device_count == 0 && !(flags & NVML_INIT_FLAG_NO_GPUS)) {
		vxpu_sim_close(&nv.st);
		pthread_mutex_unlock(&nv.lock);
		return NVML_ERROR_GPU_NOT_FOUND;
	}
	for (int i = 0; i < VXPU_SIM_MAX_DEVICES; i++) {
		nv.devices[i].magic = i < nv.st.config.device_count ? DEVICE_MAGIC : 0;
		nv.devices[i].index = i;
	}
	nv.refs = 1;
	pthread_mutex_unlock(&nv.lock);
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlInit_v2(void)
{
	return init_with_flags(0);
}

NVML_API nvmlReturn_t nvmlInit(void)
{
	return init_with_flags(0);
}

NVML_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	return init_with_flags(flags);
}

NVML_API nvmlReturn_t nvmlShutdown(void)
{
	pthread_mutex_lock(&nv.lock);
	if (nv.refs == 0) {
		pthread_mutex_unlock(&nv.lock);
		return NVML_ERROR_UNINITIALIZED;
	}
	if (--nv.refs == 0) {
		while (nv.sets) {
			struct nvml_event_set *s = nv.sets;
			nv.sets = s->next;
			free(s);
		}
		vxpu_sim_close(&nv.st);
	}
	pthread_mutex_unlock(&nv.lock);
	return NVML_SUCCESS;
}

static bool initialized(void)
{
	pthread_mutex_lock(&nv.lock);
	bool ok = nv.refs > 0;
	pthread_mutex_unlock(&nv.lock);
	return ok;
}

/* Validates a handle; *idx is the device index. lost_ok: identity queries. */
static nvmlReturn_t device_index(nvmlDevice_t device, int *idx, bool lost_ok)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	struct nvml_device *d = (struct nvml_device *)device;
	if (d < nv.devices || d >= nv.devices + VXPU_SIM_MAX_DEVICES || d->magic != DEVICE_MAGIC)
		return NVML_ERROR_INVALID_ARGUMENT;
	*idx = d->index;
	if (!lost_ok && vxpu_sim_is_lost(&nv.st, d->index))
		return NVML_ERROR_GPU_IS_LOST;
	return NVML_SUCCESS;
}

static const struct vxpu_sim_device_config *device_config(int idx)
{
	return &nv.st.config.devices[idx];
}

/* ---- error strings ----------------------------------------------------------------------- */

NVML_API const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_NO_PERMISSION:
		return "Insufficient Permissions";
	case NVML_ERROR_ALREADY_INITIALIZED:
		return "Already Initialized";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_INSUFFICIENT_POWER:
		return "Insufficient Power";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	case NVML_ERROR_TIMEOUT:
		return "Timeout";
	case NVML_ERROR_IRQ_ISSUE:
		return "Interrupt Request Issue";
	case NVML_ERROR_LIBRARY_NOT_FOUND:
		return "NVML Shared Library Not Found";
	case NVML_ERROR_FUNCTION_NOT_FOUND:
		return "Function Not Found";
	case NVML_ERROR_CORRUPTED_INFOROM:
		return "Corrupted infoROM";
	case NVML_ERROR_GPU_IS_LOST:
		return "GPU is lost";
	case NVML_ERROR_RESET_REQUIRED:
		return "GPU requires restart";
	case NVML_ERROR_OPERATING_SYSTEM:
		return "The operating system has blocked the request";
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		return "RM has detected an NVML/RM version mismatch";
	case NVML_ERROR_IN_USE:
		return "In use by another client";
	case NVML_ERROR_MEMORY:
		return "Insufficient Memory";
	case NVML_ERROR_NO_DATA:
		return "No data";
	case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED:
		return "Operation not available because ECC is enabled";
	case NVML_ERROR_INSUFFICIENT_RESOURCES:
		return "Insufficient resources";
	case NVML_ERROR_FREQ_NOT_SUPPORTED:
		return "Frequency not supported";
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
		return "Argument version mismatch";
	case NVML_ERROR_DEPRECATED:
		return "Deprecated";
	case NVML_ERROR_NOT_READY:
		return "Not ready";
	case NVML_ERROR_GPU_NOT_FOUND:
		return "GPU Not Found";
	case NVML_ERROR_INVALID_STATE:
		return "Invalid state";
	case NVML_ERROR_UNKNOWN:
		return "Unknown Error";
	}
	return "Unknown Error";
}

/* ---- system -----------------------------------------------------------------------------------
 */

static nvmlReturn_t copy_string(char *dst, unsigned int len, const char *src)
{
	if (!dst)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(src) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	return copy_string(version, length, nv.st.config.driver_version);
}

NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	char buf[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
	snprintf(buf, sizeof(buf), "%d.%s", NVML_API_VERSION, nv.st.config.driver_version);
	return copy_string(version, length, buf);
}

static nvmlReturn_t cuda_driver_version(int *v)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!v)
		return NVML_ERROR_INVALID_ARGUMENT;
	*v = nv.st.config.cuda_version;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
	return cuda_driver_version(cudaDriverVersion);
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
	return cuda_driver_version(cudaDriverVersion);
}

/* ---- enumeration and identity ------------------------------------------------------------ */

static nvmlReturn_t get_count(unsigned int *count)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = (unsigned int)nv.st.config.device_count;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	return get_count(deviceCount);
}

NVML_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
	return get_count(deviceCount);
}

static nvmlReturn_t handle_by_index(unsigned int index, nvmlDevice_t *device)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!device || index >= (unsigned int)nv.st.config.device_count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = (nvmlDevice_t)&nv.devices[index];
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	return handle_by_index(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return handle_by_index(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!uuid || !device)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (int i = 0; i < nv.st.config.device_count; i++) {
		if (strcasecmp(device_config(i)->uuid, uuid) == 0) {
			*device = (nvmlDevice_t)&nv.devices[i];
			return NVML_SUCCESS;
		}
	}
	return NVML_ERROR_NOT_FOUND;
}

static nvmlReturn_t handle_by_bus_id(const char *bus_id, nvmlDevice_t *device)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	unsigned int domain, bus, dev, fn;
	if (!bus_id || !device || vxpu_sim_parse_bus_id(bus_id, &domain, &bus, &dev, &fn) != 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (int i = 0; i < nv.st.config.device_count; i++) {
		const struct vxpu_sim_device_config *c = device_config(i);
		if (c->pci_domain == domain && c->pci_bus == bus && c->pci_device == dev &&
		    fn == 0) {
			*device = (nvmlDevice_t)&nv.devices[i];
			return NVML_SUCCESS;
		}
	}
	return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
	return handle_by_bus_id(pciBusId, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
	return handle_by_bus_id(pciBusId, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!index)
		return NVML_ERROR_INVALID_ARGUMENT;
	*index = (unsigned int)idx;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	return rc != NVML_SUCCESS ? rc : copy_string(name, length, device_config(idx)->name);
}

NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	return rc != NVML_SUCCESS ? rc : copy_string(uuid, length, device_config(idx)->uuid);
}

NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!minorNumber)
		return NVML_ERROR_INVALID_ARGUMENT;
	*minorNumber = (unsigned int)idx;
	return NVML_SUCCESS;
}

static void fill_pci(int idx, nvmlPciInfo_t *pci)
{
	const struct vxpu_sim_device_config *c = device_config(idx);
	memset(pci, 0, sizeof(*pci));
	vxpu_sim_format_bus_id(c, 4, pci->busIdLegacy, sizeof(pci->busIdLegacy));
	vxpu_sim_format_bus_id(c, 8, pci->busId, sizeof(pci->busId));
	pci->domain = c->pci_domain;
	pci->bus = c->pci_bus;
	pci->device = c->pci_device;
	pci->pciDeviceId = (c->pci_device_id << 16) | 0x10DEu;
	pci->pciSubSystemId = (0x1234u << 16) | 0x10DEu;
}

static nvmlReturn_t get_pci(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	fill_pci(idx, pci);
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return get_pci(device, pci);
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return get_pci(device, pci);
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return get_pci(device, pci);
}

NVML_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major,
                                                         int *minor)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!major || !minor)
		return NVML_ERROR_INVALID_ARGUMENT;
	*major = device_config(idx)->cc_major;
	*minor = device_config(idx)->cc_minor;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t device, unsigned int *numCores)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!numCores)
		return NVML_ERROR_INVALID_ARGUMENT;
	*numCores = (unsigned int)device_config(idx)->sm_count * 128; /* 128 cores per SM */
	return NVML_SUCCESS;
}

/* ---- memory and processes ------------------------------------------------------------------- */

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	vxpu_sim_reap(&nv.st);
	uint64_t total = vxpu_sim_mem_total(&nv.st, idx);
	uint64_t used = vxpu_sim_mem_used(&nv.st, idx);
	memory->total = total;
	memory->used = used;
	memory->free = total - used;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (memory->version != nvmlMemory_v2)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	vxpu_sim_reap(&nv.st);
	uint64_t total = vxpu_sim_mem_total(&nv.st, idx);
	uint64_t used = vxpu_sim_mem_used(&nv.st, idx);
	memory->total = total;
	memory->reserved = 0; /* the simulator reserves nothing for itself */
	memory->used = used;
	memory->free = total - used;
	return NVML_SUCCESS;
}

/* Fills up to *count process records through put(i, proc); the NVML size protocol. */
static nvmlReturn_t list_processes(nvmlDevice_t device, unsigned int *count, void *infos,
                                   void (*put)(void *infos, unsigned int i,
                                               const struct vxpu_sim_proc *p))
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct vxpu_sim_proc *procs = malloc(VXPU_SIM_MAX_SLOTS * sizeof(*procs));
	if (!procs)
		return NVML_ERROR_MEMORY;
	int n = vxpu_sim_procs(&nv.st, idx, procs, VXPU_SIM_MAX_SLOTS);
	if ((unsigned int)n > *count || (n > 0 && !infos)) {
		*count = (unsigned int)n;
		free(procs);
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (int i = 0; i < n; i++)
		put(infos, (unsigned int)i, &procs[i]);
	*count = (unsigned int)n;
	free(procs);
	return NVML_SUCCESS;
}

static void put_v1(void *infos, unsigned int i, const struct vxpu_sim_proc *p)
{
	nvmlProcessInfo_v1_t *out = (nvmlProcessInfo_v1_t *)infos + i;
	out->pid = (unsigned int)p->pid;
	out->usedGpuMemory = p->used;
}

static void put_v2(void *infos, unsigned int i, const struct vxpu_sim_proc *p)
{
	nvmlProcessInfo_t *out = (nvmlProcessInfo_t *)infos + i;
	out->pid = (unsigned int)p->pid;
	out->usedGpuMemory = p->used;
	out->gpuInstanceId = NO_INSTANCE;
	out->computeInstanceId = NO_INSTANCE;
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
	return list_processes(device, infoCount, infos, put_v2);
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_v2_t *infos)
{
	return list_processes(device, infoCount, infos, put_v2);
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                           unsigned int *infoCount,
                                                           nvmlProcessInfo_v1_t *infos)
{
	return list_processes(device, infoCount, infos, put_v1);
}

NVML_API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device,
                                                               unsigned int *infoCount,
                                                               nvmlProcessInfo_t *infos)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!infoCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	(void)infos;
	*infoCount = 0; /* a compute-only simulated GPU */
	return NVML_SUCCESS;
}

/* ---- utilisation --------------------------------------------------------------------------------
 */

static unsigned int percent(uint64_t part, uint64_t whole)
{
	if (whole == 0)
		return 0;
	uint64_t p = (part * 100 + whole / 2) / whole;
	return p > 100 ? 100 : (unsigned int)p;
}

NVML_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                    nvmlUtilization_t *utilization)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!utilization)
		return NVML_ERROR_INVALID_ARGUMENT;
	uint64_t now = vxpu_sim_now_ns();
	uint64_t busy = vxpu_sim_busy_total(&nv.st, idx, now - WINDOW_DEFAULT_NS, now);
	utilization->gpu = percent(busy, WINDOW_DEFAULT_NS);
	utilization->memory = 0; /* memory traffic is not simulated */
	return NVML_SUCCESS;
}

static uint64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

NVML_API nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                      nvmlProcessUtilizationSample_t *utilization,
                                                      unsigned int *processSamplesCount,
                                                      unsigned long long lastSeenTimeStamp)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!processSamplesCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	uint64_t now = vxpu_sim_now_ns(), now_us = realtime_us();
	uint64_t window = WINDOW_DEFAULT_NS;
	if (lastSeenTimeStamp != 0) {
		if (lastSeenTimeStamp >= now_us)
			return NVML_ERROR_NOT_FOUND;
		window = (now_us - lastSeenTimeStamp) * 1000;
		if (window > WINDOW_MAX_NS)
			window = WINDOW_MAX_NS;
	}
	struct vxpu_sim_busy *busy = malloc(VXPU_SIM_MAX_SLOTS * sizeof(*busy));
	if (!busy)
		return NVML_ERROR_MEMORY;
	int n = vxpu_sim_busy_by_pid(&nv.st, idx, now - window, now, busy, VXPU_SIM_MAX_SLOTS);
	if (n == 0) {
		free(busy);
		return NVML_ERROR_NOT_FOUND;
	}
	if (!utilization || *processSamplesCount < (unsigned int)n) {
		*processSamplesCount = (unsigned int)n;
		free(busy);
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (int i = 0; i < n; i++) {
		utilization[i].pid = (unsigned int)busy[i].pid;
		utilization[i].timeStamp = now_us;
		utilization[i].smUtil = percent(busy[i].busy_ns, window);
		utilization[i].memUtil = 0;
		utilization[i].encUtil = 0;
		utilization[i].decUtil = 0;
	}
	*processSamplesCount = (unsigned int)n;
	free(busy);
	return NVML_SUCCESS;
}

/* ---- topology and NVLink ------------------------------------------------------------------------
 */

NVML_API nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!node)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (device_config(idx)->numa_node < 0)
		return NVML_ERROR_NOT_SUPPORTED;
	*node = (unsigned int)device_config(idx)->numa_node;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t device1,
                                                          nvmlDevice_t device2,
                                                          nvmlGpuTopologyLevel_t *pathInfo)
{
	int a, b;
	nvmlReturn_t rc = device_index(device1, &a, false);
	if (rc == NVML_SUCCESS)
		rc = device_index(device2, &b, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!pathInfo)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (a == b) {
		*pathInfo = NVML_TOPOLOGY_INTERNAL;
		return NVML_SUCCESS;
	}
	const struct vxpu_sim_config *cfg = &nv.st.config;
	for (int i = 0; i < cfg->link_count; i++) {
		const struct vxpu_sim_link_config *l = &cfg->links[i];
		if (!((l->a == a && l->b == b) || (l->a == b && l->b == a)))
			continue;
		switch (l->type) {
		case VXPU_SIM_LINK_PCIE_SWITCH:
			*pathInfo = NVML_TOPOLOGY_SINGLE;
			return NVML_SUCCESS;
		case VXPU_SIM_LINK_PCIE_HOST:
			*pathInfo = NVML_TOPOLOGY_HOSTBRIDGE;
			return NVML_SUCCESS;
		case VXPU_SIM_LINK_CROSS_CPU:
			*pathInfo = NVML_TOPOLOGY_SYSTEM;
			return NVML_SUCCESS;
		case VXPU_SIM_LINK_NVLINK:
			break; /* NVLink is not a PCIe path */
		}
	}
	*pathInfo = device_config(a)->numa_node == device_config(b)->numa_node
	                    ? NVML_TOPOLOGY_NODE
	                    : NVML_TOPOLOGY_SYSTEM;
	return NVML_SUCCESS;
}

/* The peer device behind NVLink lane `link` of device idx, or -1. Lanes are
 * numbered in the order of the configuration's nvlink entries. */
static int nvlink_peer(int idx, unsigned int link)
{
	const struct vxpu_sim_config *cfg = &nv.st.config;
	unsigned int lane = 0;
	for (int i = 0; i < cfg->link_count; i++) {
		const struct vxpu_sim_link_config *l = &cfg->links[i];
		if (l->type != VXPU_SIM_LINK_NVLINK || (l->a != idx && l->b != idx))
			continue;
		if (link < lane + (unsigned int)l->count)
			return l->a == idx ? l->b : l->a;
		lane += (unsigned int)l->count;
	}
	return -1;
}

static nvmlReturn_t nvlink_lane(nvmlDevice_t device, unsigned int link, int *peer)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (link >= NVML_NVLINK_MAX_LINKS)
		return NVML_ERROR_INVALID_ARGUMENT;
	*peer = nvlink_peer(idx, link);
	return *peer < 0 ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                               nvmlEnableState_t *isActive)
{
	int peer;
	nvmlReturn_t rc = nvlink_lane(device, link, &peer);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!isActive)
		return NVML_ERROR_INVALID_ARGUMENT;
	*isActive = vxpu_sim_is_lost(&nv.st, peer) ? NVML_FEATURE_DISABLED : NVML_FEATURE_ENABLED;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkVersion(nvmlDevice_t device, unsigned int link,
                                                 unsigned int *version)
{
	int peer;
	nvmlReturn_t rc = nvlink_lane(device, link, &peer);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!version)
		return NVML_ERROR_INVALID_ARGUMENT;
	*version = 4;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkCapability(nvmlDevice_t device, unsigned int link,
                                                    nvmlNvLinkCapability_t capability,
                                                    unsigned int *capResult)
{
	int peer;
	nvmlReturn_t rc = nvlink_lane(device, link, &peer);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!capResult || (int)capability < 0 || capability >= NVML_NVLINK_CAP_COUNT)
		return NVML_ERROR_INVALID_ARGUMENT;
	*capResult = capability == NVML_NVLINK_CAP_P2P_SUPPORTED ||
	             capability == NVML_NVLINK_CAP_P2P_ATOMICS ||
	             capability == NVML_NVLINK_CAP_VALID;
	return NVML_SUCCESS;
}

static nvmlReturn_t remote_pci(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
	int peer;
	nvmlReturn_t rc = nvlink_lane(device, link, &peer);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	fill_pci(peer, pci);
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                          nvmlPciInfo_t *pci)
{
	return remote_pci(device, link, pci);
}

NVML_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo(nvmlDevice_t device, unsigned int link,
                                                       nvmlPciInfo_t *pci)
{
	return remote_pci(device, link, pci);
}

/* ---- ECC ---------------------------------------------------------------------------------------
 */

NVML_API nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
                                           nvmlEnableState_t *pending)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!current || !pending)
		return NVML_ERROR_INVALID_ARGUMENT;
	*current = *pending = NVML_FEATURE_ENABLED;
	return NVML_SUCCESS;
}

static nvmlReturn_t ecc_count(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                              nvmlEccCounterType_t counterType, unsigned long long *out)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!out ||
	    (errorType != NVML_MEMORY_ERROR_TYPE_CORRECTED &&
	     errorType != NVML_MEMORY_ERROR_TYPE_UNCORRECTED) ||
	    (counterType != NVML_VOLATILE_ECC && counterType != NVML_AGGREGATE_ECC))
		return NVML_ERROR_INVALID_ARGUMENT;
	*out = vxpu_sim_ecc_count(&nv.st, idx, errorType == NVML_MEMORY_ERROR_TYPE_CORRECTED,
	                          counterType == NVML_VOLATILE_ECC);
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device,
                                                  nvmlMemoryErrorType_t errorType,
                                                  nvmlEccCounterType_t counterType,
                                                  unsigned long long *eccCounts)
{
	return ecc_count(device, errorType, counterType, eccCounts);
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryErrorCounter(nvmlDevice_t device,
                                                      nvmlMemoryErrorType_t errorType,
                                                      nvmlEccCounterType_t counterType,
                                                      nvmlMemoryLocation_t locationType,
                                                      unsigned long long *count)
{
	if ((int)locationType < 0 || locationType >= NVML_MEMORY_LOCATION_COUNT)
		return NVML_ERROR_INVALID_ARGUMENT;
	nvmlReturn_t rc = ecc_count(device, errorType, counterType, count);
	if (rc == NVML_SUCCESS && locationType != NVML_MEMORY_LOCATION_DEVICE_MEMORY)
		*count = 0; /* injected errors are all in device memory */
	return rc;
}

/* ---- events
 * --------------------------------------------------------------------------------------- */

static struct nvml_event_set *set_find(nvmlEventSet_t h)
{
	for (struct nvml_event_set *s = nv.sets; s; s = s->next)
		if (s == (struct nvml_event_set *)h && s->magic == EVSET_MAGIC)
			return s;
	return NULL;
}

NVML_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!set)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct nvml_event_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NVML_ERROR_MEMORY;
	s->magic = EVSET_MAGIC;
	pthread_mutex_lock(&nv.lock);
	s->cursor = vxpu_sim_event_head(&nv.st); /* only events from now on */
	s->next = nv.sets;
	nv.sets = s;
	pthread_mutex_unlock(&nv.lock);
	*set = (nvmlEventSet_t)s;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
                                                       unsigned long long *eventTypes)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, false);
	if (rc != NVML_SUCCESS)
		return rc;
	if (!eventTypes)
		return NVML_ERROR_INVALID_ARGUMENT;
	*eventTypes = SUPPORTED_EVENTS;
	return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                               nvmlEventSet_t set)
{
	int idx;
	nvmlReturn_t rc = device_index(device, &idx, true);
	if (rc != NVML_SUCCESS)
		return rc;
	if (eventTypes & ~SUPPORTED_EVENTS)
		return NVML_ERROR_NOT_SUPPORTED;
	pthread_mutex_lock(&nv.lock);
	struct nvml_event_set *s = set_find(set);
	if (s) {
		s->device_mask |= 1u << idx;
		s->kind_mask[idx] |= eventTypes;
	}
	pthread_mutex_unlock(&nv.lock);
	return s ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t event_wait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	if (!data)
		return NVML_ERROR_INVALID_ARGUMENT;
	uint64_t deadline = vxpu_sim_now_ns() + (uint64_t)timeoutms * 1000000ULL;
	for (;;) {
		pthread_mutex_lock(&nv.lock);
		struct nvml_event_set *s = set_find(set);
		if (!s) {
			pthread_mutex_unlock(&nv.lock);
			return NVML_ERROR_INVALID_ARGUMENT;
		}
		struct vxpu_sim_event ev;
		int got =
		        vxpu_sim_event_next(&nv.st, &s->cursor, s->device_mask, s->kind_mask, &ev);
		uint64_t seen = s->cursor;
		pthread_mutex_unlock(&nv.lock);
		if (got) {
			data->device = (nvmlDevice_t)&nv.devices[ev.device];
			data->eventType = ev.kind;
			data->eventData = ev.data;
			data->gpuInstanceId = NO_INSTANCE;
			data->computeInstanceId = NO_INSTANCE;
			return NVML_SUCCESS;
		}
		uint64_t now = vxpu_sim_now_ns();
		if (now >= deadline)
			return NVML_ERROR_TIMEOUT;
		uint64_t left_ms = (deadline - now + 999999) / 1000000;
		vxpu_sim_event_wait(&nv.st, seen, (unsigned int)left_ms);
	}
}

NVML_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                          unsigned int timeoutms)
{
	return event_wait(set, data, timeoutms);
}

NVML_API nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data,
                                       unsigned int timeoutms)
{
	return event_wait(set, data, timeoutms);
}

NVML_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	if (!initialized())
		return NVML_ERROR_UNINITIALIZED;
	pthread_mutex_lock(&nv.lock);
	struct nvml_event_set **pp = &nv.sets;
	while (*pp && *pp != (struct nvml_event_set *)set)
		pp = &(*pp)->next;
	struct nvml_event_set *s = *pp;
	if (s)
		*pp = s->next;
	pthread_mutex_unlock(&nv.lock);
	if (!s)
		return NVML_ERROR_INVALID_ARGUMENT;
	free(s);
	return NVML_SUCCESS;
}
