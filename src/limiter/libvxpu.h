/*
 * libvxpu.h - process state of libvxpu.so shared by its hook files (never
 * installed; the library exports only the hook ABI, see libvxpu.map).
 *
 * One static `struct limiter` per process. Its life:
 *   1. constructor: finds the real dlsym, registers the fork handlers.
 *      Nothing else: a process that never touches the GPU pays nothing.
 *   2. first hook call: dlopens the real libcuda.so.1 / libnvidia-ml.so.1
 *      and resolves the entry points (limiter_cuda_real / limiter_nvml_real).
 *   3. cuInit / nvmlInit: parses the environment (fail closed on an error),
 *      opens or creates the region; cuInit also claims a slot and maps the
 *      process's CUDA ordinals to container devices (limiter_attach).
 *   4. fork: the child closes its copy of the region descriptor (so the
 *      parent's slot lock stays the parent's alone) and attaches afresh,
 *      with its own slot and empty tables, on its next CUDA call.
 *
 * Hot paths (allocation, launch) read `attached` with one relaxed load and
 * take no lock; the slow paths above take `init_lock`, which no hot path
 * ever waits on once the process is attached.
 */
#ifndef VXPU_LIMITER_LIBVXPU_H
#define VXPU_LIMITER_LIBVXPU_H

#include "cuda/cuda_abi.h"
#include "cuda/nvml_abi.h"
#include "limiter/admission.h"
#include "limiter/config.h"
#include "limiter/region.h"
#include "limiter/track.h"
#include "limiter/visible.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VXPU_EXPORT __attribute__((visibility("default")))
#define VXPU_LIKELY(x) __builtin_expect(!!(x), 1)
#define VXPU_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Allocations of the cuMemAlloc family are charged in these units. */
#define LIMITER_ALLOC_ALIGN ((uint64_t)512)
/* Granularity of pool growth and VMM handles on every current GPU. */
#define LIMITER_GRANULARITY ((uint64_t)2 * 1024 * 1024)

/* The real driver entry points the hooks call. */
#define LIMITER_CUDA_REAL(X)                                                                       \
	X(cuInit)                                                                                  \
	X(cuGetProcAddress)                                                                        \
	X(cuGetProcAddress_v2)                                                                     \
	X(cuDeviceGetCount)                                                                        \
	X(cuDeviceGetUuid)                                                                         \
	X(cuDeviceGetUuid_v2)                                                                      \
	X(cuDeviceTotalMem)                                                                        \
	X(cuDeviceTotalMem_v2)                                                                     \
	X(cuDeviceGetMemPool)                                                                      \
	X(cuCtxGetCurrent)                                                                         \
	X(cuCtxGetDevice)                                                                          \
	X(cuCtxPushCurrent_v2)                                                                     \
	X(cuCtxPopCurrent_v2)                                                                      \
	X(cuCtxCreate)                                                                             \
	X(cuCtxCreate_v2)                                                                          \
	X(cuCtxCreate_v3)                                                                          \
	X(cuCtxCreate_v4)                                                                          \
	X(cuCtxDestroy)                                                                            \
	X(cuCtxDestroy_v2)                                                                         \
	X(cuDevicePrimaryCtxRetain)                                                                \
	X(cuDevicePrimaryCtxRelease)                                                               \
	X(cuDevicePrimaryCtxRelease_v2)                                                            \
	X(cuDevicePrimaryCtxReset)                                                                 \
	X(cuDevicePrimaryCtxReset_v2)                                                              \
	X(cuStreamGetCtx)                                                                          \
	X(cuStreamGetCtx_ptsz)                                                                     \
	X(cuMemGetInfo)                                                                            \
	X(cuMemGetInfo_v2)                                                                         \
	X(cuMemAlloc)                                                                              \
	X(cuMemAlloc_v2)                                                                           \
	X(cuMemAllocPitch)                                                                         \
	X(cuMemAllocPitch_v2)                                                                      \
	X(cuMemAllocManaged)                                                                       \
	X(cuMemFree)                                                                               \
	X(cuMemFree_v2)                                                                            \
	X(cuMemAllocAsync)                                                                         \
	X(cuMemAllocAsync_ptsz)                                                                    \
	X(cuMemAllocFromPoolAsync)                                                                 \
	X(cuMemAllocFromPoolAsync_ptsz)                                                            \
	X(cuMemFreeAsync)                                                                          \
	X(cuMemFreeAsync_ptsz)                                                                     \
	X(cuMemPoolDestroy)                                                                        \
	X(cuMemPoolTrimTo)                                                                         \
	X(cuMemPoolGetAttribute)                                                                   \
	X(cuMemCreate)                                                                             \
	X(cuMemRelease)                                                                            \
	X(cuMemMap)                                                                                \
	X(cuMemUnmap)                                                                              \
	X(cuArrayCreate_v2)                                                                        \
	X(cuArray3DCreate_v2)                                                                      \
	X(cuArrayDestroy)                                                                          \
	X(cuMipmappedArrayCreate)                                                                  \
	X(cuMipmappedArrayDestroy)                                                                 \
	X(cuModuleLoad)                                                                            \
	X(cuModuleLoadData)                                                                        \
	X(cuModuleLoadDataEx)                                                                      \
	X(cuModuleLoadFatBinary)                                                                   \
	X(cuModuleUnload)                                                                          \
	X(cuLaunchKernel)                                                                          \
	X(cuLaunchKernel_ptsz)                                                                     \
	X(cuLaunchKernelEx)                                                                        \
	X(cuLaunchKernelEx_ptsz)                                                                   \
	X(cuLaunchCooperativeKernel)                                                               \
	X(cuLaunchCooperativeKernel_ptsz)                                                          \
	X(cuGraphLaunch)                                                                           \
	X(cuGraphLaunch_ptsz)                                                                      \
	X(cuEventCreate)                                                                           \
	X(cuEventRecord)                                                                           \
	X(cuEventRecord_ptsz)                                                                      \
	X(cuEventQuery)                                                                            \
	X(cuEventSynchronize)                                                                      \
	X(cuEventElapsedTime)                                                                      \
	X(cuEventDestroy_v2)                                                                       \
	X(cuStreamCreate)                                                                          \
	X(cuStreamDestroy_v2)                                                                      \
	X(cuStreamSynchronize)                                                                     \
	X(cuStreamSynchronize_ptsz)                                                                \
	X(cuStreamIsCapturing)                                                                     \
	X(cuStreamIsCapturing_ptsz)

#define LIMITER_NVML_REAL(X)                                                                       \
	X(nvmlInit)                                                                                \
	X(nvmlInit_v2)                                                                             \
	X(nvmlInitWithFlags)                                                                       \
	X(nvmlDeviceGetCount_v2)                                                                   \
	X(nvmlDeviceGetHandleByIndex_v2)                                                           \
	X(nvmlDeviceGetHandleByUUID)                                                               \
	X(nvmlDeviceGetIndex)                                                                      \
	X(nvmlDeviceGetUUID)                                                                       \
	X(nvmlDeviceGetMemoryInfo)                                                                 \
	X(nvmlDeviceGetMemoryInfo_v2)                                                              \
	X(nvmlDeviceGetComputeRunningProcesses)                                                    \
	X(nvmlDeviceGetComputeRunningProcesses_v2)                                                 \
	X(nvmlDeviceGetComputeRunningProcesses_v3)                                                 \
	X(nvmlDeviceGetGraphicsRunningProcesses_v3)                                                \
	X(nvmlDeviceGetProcessUtilization)

#define LIMITER_DECLARE_REAL(name) __typeof__(name) *name;
struct limiter_cuda_real {
	LIMITER_CUDA_REAL(LIMITER_DECLARE_REAL)
};
struct limiter_nvml_real {
	LIMITER_NVML_REAL(LIMITER_DECLARE_REAL)
};

enum limiter_phase {
	LIMITER_UNCONFIGURED = 0,
	LIMITER_CONFIGURED = 1, /* environment read, region open */
	LIMITER_FAILED = 2,     /* fail closed: every hook returns fail_cuda / fail_nvml */
};

/* A CUDA context as the limiter knows it (cache of the driver's answer). */
struct limiter_ctx_info {
	int device;  /* container device (region index) */
	int ordinal; /* the process's CUdevice */
};

struct limiter {
	pthread_mutex_t init_lock;
	_Atomic int phase;       /* enum limiter_phase */
	_Atomic int attached;    /* 1: slot claimed and devices mapped (hot-path flag) */
	_Atomic int cuda_ready;  /* real libcuda resolved */
	_Atomic int nvml_ready;  /* real libnvidia-ml resolved and initialised */
	bool fork_child_pending; /* set in a forked child until it re-attaches */
	CUresult fail_cuda;
	nvmlReturn_t fail_nvml;

	struct vxpu_limiter_config config;
	struct vxpu_region region;
	int slot;
	uint32_t generation;

	/* CUDA ordinal -> container device; -1 beyond ordinal_count. */
	int ordinal_count;
	int ordinal_device[VXPU_VISIBLE_MAX];
	/* Primary context retains per ordinal (charged once while > 0). */
	_Atomic int primary_refs[VXPU_VISIBLE_MAX];
	_Atomic(CUcontext) primary_ctx[VXPU_VISIBLE_MAX];

	/* What this process holds (see track.h). */
	struct vxpu_track allocs;   /* device pointer -> bytes, device, ctx */
	struct vxpu_track arrays;   /* CUarray / CUmipmappedArray -> bytes, device, ctx */
	struct vxpu_track modules;  /* CUmodule -> bytes, device, ctx */
	struct vxpu_track contexts; /* CUcontext -> ordinal (bytes), device, charged (aux) */
	struct vxpu_track pools;    /* CUmemoryPool -> charged reservation, device */
	struct vxpu_track handles;  /* VMM handle -> bytes, device, maps | released */
	struct vxpu_track mappings; /* VMM mapped address -> bytes, handle (device) */

	void *cuda_lib;
	void *nvml_lib;
	struct limiter_cuda_real cuda;
	struct limiter_nvml_real nvml;
};

extern struct limiter limiter;

/* The real dlsym (never our own wrapper). */
extern void *(*limiter_real_dlsym)(void *handle, const char *symbol);
/*
 * Finds it; run by the constructor, and by dlsym itself when a library
 * whose constructor runs before ours (a sanitizer runtime, another
 * interposer) looks a symbol up first.
 */
void limiter_resolve_dlsym(void);

/* ---- lifecycle (libvxpu.c) ------------------------------------------------- */

/* Resolves the real driver. 0, or -1 when libcuda.so.1 cannot be opened. */
int limiter_cuda_real_ready(void);
/* Resolves and initialises the real NVML for the limiter's own questions. 0 or -1. */
int limiter_nvml_real_ready(void);
/* Resolves the real NVML without initialising it (for the NVML wrappers). 0 or -1. */
int limiter_nvml_resolved(void);
/* Reads the environment and opens the region. 0, or -1 when failed closed. */
int limiter_configure(void);
/* After a successful real cuInit: slot + device map. CUDA_SUCCESS or the error to return. */
CUresult limiter_attach(void);

/* The slow half of limiter_ready: configure and attach, or the error to give. */
CUresult limiter_ready_slow(void);

/*
 * For a memory hook: CUDA_SUCCESS when the limiter is attached (the common
 * case is one acquire load), else attaches or returns the error to give.
 */
static inline CUresult limiter_ready(void)
{
	if (VXPU_LIKELY(atomic_load_explicit(&limiter.attached, memory_order_acquire)))
		return CUDA_SUCCESS;
	return limiter_ready_slow();
}

/* ---- charging helpers (hook_memory.c) ------------------------------------- */

/*
 * The container device and ordinal of the calling thread's current context;
 * ctx receives the context. -1 when there is no current context (the hook
 * then lets the driver report the error) .
 */
int limiter_current_device(CUcontext *ctx, int *ordinal);
/* The container device of a context, -1 when unknown. */
int limiter_ctx_device(CUcontext ctx, int *ordinal);
/* The container device of a CUDA ordinal, -1 when out of range. */
int limiter_ordinal_device(int ordinal);

/* Reserves bytes on device; CUDA_ERROR_OUT_OF_MEMORY when over the limit. */
CUresult limiter_reserve(int device, uint64_t bytes);
void limiter_commit(int device, uint64_t reserved, uint64_t actual);
void limiter_cancel(int device, uint64_t reserved);
void limiter_release(int device, uint64_t bytes);
void limiter_charge(int device, uint64_t bytes);

/* Gives back everything tracked for a context that the driver destroyed. */
void limiter_forget_context(CUcontext ctx);

/* Re-reads every pool's reservation (pools shrink on synchronisation). */
void limiter_pools_refresh_all(void);

static inline uint64_t limiter_round_up(uint64_t n, uint64_t unit)
{
	uint64_t r = n % unit;
	return r == 0 ? n : (n > UINT64_MAX - (unit - r) ? UINT64_MAX : n + (unit - r));
}

/* ---- the hook table (libvxpu.c) ------------------------------------------- */

/* Our wrapper for an exported name, or NULL when it is not one we control. */
void *limiter_hook_by_name(const char *symbol);
/* True when handle is the real libcuda.so.1 or libnvidia-ml.so.1. */
bool limiter_is_driver_handle(void *handle);

/* ---- NVML helpers (hook_nvml.c) --------------------------------------------- */

/* Region's driver_still_holds callback: asks NVML whether pid still holds memory. */
bool limiter_nvml_still_holds(void *ctx, int32_t pid, int32_t host_pid, unsigned device);

#endif
