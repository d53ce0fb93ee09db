/*
 * cuda_core.c - driver initialisation, versions, error names, the export
 * table query, CUDA_VISIBLE_DEVICES, and the process-wide state `sim`.
 *
 * cuInit reads the machine description (VXPU_SIM_CONFIG), opens the shared
 * state file and claims this process's slot. Its outcome is sticky, as with
 * the real driver: a bad configuration prints one line on stderr on the
 * first call and every later cuInit returns the same CUDA_ERROR_NO_DEVICE.
 *
 * fork: the child keeps nothing of the parent's driver state. Its copy of
 * the state-file descriptor is closed (so the parent's slot lock stays the
 * parent's), the tables are dropped, and calls return
 * CUDA_ERROR_NOT_INITIALIZED until the child calls cuInit itself and gets a
 * slot of its own.
 */
#include "sim/cuda_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Recursive: helpers that validate handles lock for themselves, whether or not
 * their caller already holds the lock. */
struct sim_driver sim = {.lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP};

void sim_lock(void)
{
	pthread_mutex_lock(&sim.lock);
}

void sim_unlock(void)
{
	pthread_mutex_unlock(&sim.lock);
}

uint64_t sim_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

void sim_wait_until(uint64_t t_ns)
{
	struct timespec ts = {(time_t)(t_ns / 1000000000ULL), (long)(t_ns % 1000000000ULL)};
	while (vxpu_sim_now_ns() < t_ns &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

CUresult sim_check_init(void)
{
	int state = __atomic_load_n(&sim.init, __ATOMIC_ACQUIRE);
	if (state == 1)
		return CUDA_SUCCESS;
	return state == 0 ? CUDA_ERROR_NOT_INITIALIZED : sim.init_error;
}

int sim_device_index(CUdevice ordinal)
{
	if (ordinal < 0 || ordinal >= sim.visible_count)
		return -1;
	return sim.visible[ordinal];
}

int sim_device_ordinal(int phys)
{
	for (int i = 0; i < sim.visible_count; i++)
		if (sim.visible[i] == phys)
			return i;
	return -1;
}

const struct vxpu_sim_device_config *sim_device_config(int phys)
{
	return &sim.st.config.devices[phys];
}

/*
 * CUDA_VISIBLE_DEVICES: a comma-separated list of indices or UUIDs (a unique
 * "GPU-" prefix is enough). As with the real driver the list ends at the
 * first entry that names no device or repeats one; unset means all devices.
 */
static void parse_visible_devices(void)
{
	const struct vxpu_sim_config *cfg = &sim.st.config;
	const char *env = getenv("CUDA_VISIBLE_DEVICES");
	sim.visible_count = 0;
	if (!env) {
		for (int i = 0; i < cfg->device_count; i++)
			sim.visible[sim.visible_count++] = i;
		return;
	}
	const char *p = env;
	while (*p && sim.visible_count < cfg->device_count) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[VXPU_SIM_UUID_LEN + 8];
		if (len == 0 || len >= sizeof(item))
			return;
		memcpy(item, p, len);
		item[len] = '\0';
		int found = -1;
		if (strncmp(item, "GPU-", 4) == 0) {
			for (int i = 0; i < cfg->device_count; i++) {
				if (strncasecmp(cfg->devices[i].uuid, item, len) == 0) {
					if (found >= 0)
						return; /* ambiguous prefix */
					found = i;
				}
			}
		} else {
			char *e;
			errno = 0;
			long v = strtol(item, &e, 10);
			if (errno == 0 && *e == '\0' && e != item && v >= 0 &&
			    v < cfg->device_count)
				found = (int)v;
		}
		if (found < 0)
			return;
		for (int i = 0; i < sim.visible_count; i++)
			if (sim.visible[i] == found)
				return;
		sim.visible[sim.visible_count++] = found;
		if (!end)
			return;
		p = end + 1;
	}
}

static CUresult init_fail(CUresult rc, const char *msg)
{
	if (msg)
		fprintf(stderr, "vxpu-sim: %s\n", msg);
	sim.init_error = rc;
	__atomic_store_n(&sim.init, -1, __ATOMIC_RELEASE);
	return rc;
}

SIM_API CUresult cuInit(unsigned int Flags)
{
	if (Flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	CUresult rc = sim_check_init();
	if (rc != CUDA_ERROR_NOT_INITIALIZED) {
		sim_unlock();
		return rc;
	}
	char err[512];
	if (vxpu_sim_open_env(&sim.st, err, sizeof(err)) != 0) {
		/* The config names itself in err ("FILE: FIELD: PROBLEM"). */
		rc = init_fail(CUDA_ERROR_NO_DEVICE, err);
		sim_unlock();
		return rc;
	}
	if (vxpu_sim_slot_claim(&sim.st) != 0) {
		snprintf(err, sizeof(err),
		         "%s: all %d process slots of the simulated machine are "
		         "in use",
		         sim.st.path, VXPU_SIM_MAX_SLOTS);
		vxpu_sim_forget(&sim.st);
		rc = init_fail(CUDA_ERROR_OPERATING_SYSTEM, err);
		sim_unlock();
		return rc;
	}
	parse_visible_devices();
	for (int d = 0; d < VXPU_SIM_MAX_DEVICES; d++) {
		sim.primary[d].magic = 0;
		sim.primary[d].dev = d;
		sim.primary[d].primary = true;
		sim.primary_refs[d] = 0;
	}
	if (sim.visible_count == 0) {
		vxpu_sim_close(&sim.st);
		rc = init_fail(CUDA_ERROR_NO_DEVICE, NULL);
		sim_unlock();
		return rc;
	}
	__atomic_store_n(&sim.init, 1, __ATOMIC_RELEASE);
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return CUDA_ERROR_INVALID_VALUE;
	/* Answered before cuInit too, as the real driver does. */
	if (sim_check_init() == CUDA_SUCCESS) {
		*driverVersion = sim.st.config.cuda_version;
		return CUDA_SUCCESS;
	}
	struct vxpu_sim_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return CUDA_ERROR_OUT_OF_MEMORY;
	char err[512];
	int v = 13000;
	if (vxpu_sim_config_from_env(cfg, err, sizeof(err)) == 0)
		v = cfg->cuda_version;
	free(cfg);
	*driverVersion = v;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
	if (!ppExportTable || !pExportTableId)
		return CUDA_ERROR_INVALID_VALUE;
	*ppExportTable = NULL;
	return CUDA_ERROR_NOT_SUPPORTED; /* private tables of NVIDIA's runtime */
}

/* ---- error names and strings ---------------------------------------------------- */

struct sim_error_text {
	CUresult code;
	const char *name;
	const char *text;
};

#define E(c, t)                                                                                    \
	{                                                                                          \
		c, #c, t                                                                           \
	}
static const struct sim_error_text error_texts[] = {
        E(CUDA_SUCCESS, "no error"),
        E(CUDA_ERROR_INVALID_VALUE, "invalid argument"),
        E(CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
        E(CUDA_ERROR_NOT_INITIALIZED, "initialization error"),
        E(CUDA_ERROR_DEINITIALIZED, "driver shutting down"),
        E(CUDA_ERROR_PROFILER_DISABLED, "profiler disabled while using an external profiler"),
        E(CUDA_ERROR_PROFILER_NOT_INITIALIZED, "profiler not initialized"),
        E(CUDA_ERROR_PROFILER_ALREADY_STARTED, "profiler already started"),
        E(CUDA_ERROR_PROFILER_ALREADY_STOPPED, "profiler already stopped"),
        E(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library"),
        E(CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER, "call requires a newer driver"),
        E(CUDA_ERROR_DEVICE_UNAVAILABLE, "CUDA-capable device(s) unavailable"),
        E(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected"),
        E(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal"),
        E(CUDA_ERROR_DEVICE_NOT_LICENSED, "device not licensed"),
        E(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid"),
        E(CUDA_ERROR_INVALID_CONTEXT, "invalid device context"),
        E(CUDA_ERROR_CONTEXT_ALREADY_CURRENT, "context already current"),
        E(CUDA_ERROR_MAP_FAILED, "mapping of buffer object failed"),
        E(CUDA_ERROR_UNMAP_FAILED, "unmapping of buffer object failed"),
        E(CUDA_ERROR_ARRAY_IS_MAPPED, "array is mapped"),
        E(CUDA_ERROR_ALREADY_MAPPED, "resource already mapped"),
        E(CUDA_ERROR_NO_BINARY_FOR_GPU, "no kernel image is available for the device"),
        E(CUDA_ERROR_ALREADY_ACQUIRED, "resource already acquired"),
        E(CUDA_ERROR_NOT_MAPPED, "resource not mapped"),
        E(CUDA_ERROR_NOT_MAPPED_AS_ARRAY, "resource not mapped as array"),
        E(CUDA_ERROR_NOT_MAPPED_AS_POINTER, "resource not mapped as pointer"),
        E(CUDA_ERROR_ECC_UNCORRECTABLE, "uncorrectable ECC error encountered"),
        E(CUDA_ERROR_UNSUPPORTED_LIMIT, "limit is not supported on this device"),
        E(CUDA_ERROR_CONTEXT_ALREADY_IN_USE, "context is already in use"),
        E(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED, "peer access is not supported"),
        E(CUDA_ERROR_INVALID_PTX, "invalid PTX"),
        E(CUDA_ERROR_INVALID_GRAPHICS_CONTEXT, "invalid graphics context"),
        E(CUDA_ERROR_NVLINK_UNCORRECTABLE, "uncorrectable NVLink error"),
        E(CUDA_ERROR_JIT_COMPILER_NOT_FOUND, "PTX JIT compiler not found"),
        E(CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "unsupported PTX version"),
        E(CUDA_ERROR_JIT_COMPILATION_DISABLED, "PTX JIT compilation disabled"),
        E(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY, "unsupported execution affinity"),
        E(CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC, "device-side synchronization unsupported"),
        E(CUDA_ERROR_CONTAINED, "error contained to the failing context"),
        E(CUDA_ERROR_INVALID_SOURCE, "invalid kernel source"),
        E(CUDA_ERROR_FILE_NOT_FOUND, "file not found"),
        E(CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND, "shared object symbol not found"),
        E(CUDA_ERROR_SHARED_OBJECT_INIT_FAILED, "shared object initialization failed"),
        E(CUDA_ERROR_OPERATING_SYSTEM, "operating system call failed"),
        E(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle"),
        E(CUDA_ERROR_ILLEGAL_STATE, "operation not allowed in the current state"),
        E(CUDA_ERROR_LOSSY_QUERY, "query result would lose information"),
        E(CUDA_ERROR_NOT_FOUND, "named symbol not found"),
        E(CUDA_ERROR_NOT_READY, "device not ready"),
        E(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered"),
        E(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "too many resources requested for launch"),
        E(CUDA_ERROR_LAUNCH_TIMEOUT, "the launch timed out and was terminated"),
        E(CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING, "launch uses incompatible texturing"),
        E(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED, "peer access already enabled"),
        E(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED, "peer access not enabled"),
        E(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE, "primary context already active"),
        E(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed"),
        E(CUDA_ERROR_ASSERT, "device-side assert triggered"),
        E(CUDA_ERROR_TOO_MANY_PEERS, "too many peers"),
        E(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "host memory already registered"),
        E(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "host memory not registered"),
        E(CUDA_ERROR_HARDWARE_STACK_ERROR, "hardware stack error"),
        E(CUDA_ERROR_ILLEGAL_INSTRUCTION, "illegal instruction"),
        E(CUDA_ERROR_MISALIGNED_ADDRESS, "misaligned address"),
        E(CUDA_ERROR_INVALID_ADDRESS_SPACE, "invalid address space"),
        E(CUDA_ERROR_INVALID_PC, "invalid program counter"),
        E(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
        E(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, "too many blocks in cooperative launch"),
        E(CUDA_ERROR_TENSOR_MEMORY_LEAK, "tensor memory not deallocated"),
        E(CUDA_ERROR_NOT_PERMITTED, "operation not permitted"),
        E(CUDA_ERROR_NOT_SUPPORTED, "operation not supported"),
        E(CUDA_ERROR_SYSTEM_NOT_READY, "system not yet initialized"),
        E(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, "system has unsupported display driver / CUDA driver "
                                             "combination"),
        E(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE, "forward compatibility not supported on "
                                                     "this device"),
        E(CUDA_ERROR_MPS_CONNECTION_FAILED, "MPS client failed to connect"),
        E(CUDA_ERROR_MPS_RPC_FAILURE, "MPS remote procedure call failed"),
        E(CUDA_ERROR_MPS_SERVER_NOT_READY, "MPS server not ready"),
        E(CUDA_ERROR_MPS_MAX_CLIENTS_REACHED, "MPS client limit reached"),
        E(CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED, "MPS connection limit reached"),
        E(CUDA_ERROR_MPS_CLIENT_TERMINATED, "MPS client terminated"),
        E(CUDA_ERROR_CDP_NOT_SUPPORTED, "dynamic parallelism not supported"),
        E(CUDA_ERROR_CDP_VERSION_MISMATCH, "dynamic parallelism version mismatch"),
        E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is "
                                                 "capturing"),
        E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "operation failed due to a previous error during "
                                                 "capture"),
        E(CUDA_ERROR_STREAM_CAPTURE_MERGE, "operation would merge two capture sequences"),
        E(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "capture was not started in this stream"),
        E(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, "capture sequence has an unjoined fork"),
        E(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, "dependency would cross the capture boundary"),
        E(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "implicit dependency on a capturing stream"),
        E(CUDA_ERROR_CAPTURED_EVENT, "operation not permitted on an event of a capture"),
        E(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "capture was not ended in its own thread"),
        E(CUDA_ERROR_TIMEOUT, "wait operation timed out"),
        E(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, "graph update was not performed"),
        E(CUDA_ERROR_EXTERNAL_DEVICE, "an error occurred on an external device"),
        E(CUDA_ERROR_INVALID_CLUSTER_SIZE, "invalid cluster size"),
        E(CUDA_ERROR_FUNCTION_NOT_LOADED, "function not loaded"),
        E(CUDA_ERROR_INVALID_RESOURCE_TYPE, "invalid resource type"),
        E(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION, "invalid resource configuration"),
        E(CUDA_ERROR_KEY_ROTATION, "key rotation error"),
        E(CUDA_ERROR_UNKNOWN, "unknown error"),
};
#undef E

static const struct sim_error_text *error_text(CUresult code)
{
	for (size_t i = 0; i < sizeof(error_texts) / sizeof(error_texts[0]); i++)
		if (error_texts[i].code == code)
			return &error_texts[i];
	return NULL;
}

SIM_API CUresult cuGetErrorString(CUresult error, const char **pStr)
{
	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	const struct sim_error_text *t = error_text(error);
	*pStr = t ? t->text : NULL;
	return t ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SIM_API CUresult cuGetErrorName(CUresult error, const char **pStr)
{
	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	const struct sim_error_text *t = error_text(error);
	*pStr = t ? t->name : NULL;
	return t ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- fork ----------------------------------------------------------------------------- */

static void fork_prepare(void)
{
	pthread_mutex_lock(&sim.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&sim.lock);
}

/*
 * The parent's objects are not the child's: free the child's copies of them
 * (device mappings included) without touching the shared state, whose
 * charges belong to the parent's slot.
 */
static void fork_child(void)
{
	if (sim.init == 1)
		vxpu_sim_forget(&sim.st);
	sim.init = 0;
	for (size_t i = 0; i < sim.alloc_count; i++)
		if (sim.allocs[i].map_len)
			munmap((void *)sim.allocs[i].base, sim.allocs[i].map_len);
	free(sim.allocs);
	sim.allocs = NULL;
	sim.alloc_count = sim.alloc_cap = 0;
	while (sim.contexts) {
		struct sim_ctx *c = sim.contexts;
		sim.contexts = c->next;
		free(c);
	}
	for (int d = 0; d < VXPU_SIM_MAX_DEVICES; d++) {
		sim.primary[d].magic = 0;
		sim.primary[d].legacy = NULL;
		sim.primary_refs[d] = 0;
		sim.current_pool[d] = NULL;
	}
	sim_pools_reset();
	sim_vmm_reset();
	sim_arrays_reset();
	sim_modules_reset(); /* modules, streams, events */
	sim_graphs_reset();
	sim_ctx_forget_thread();
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&sim.lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

__attribute__((constructor)) static void sim_cuda_load(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
