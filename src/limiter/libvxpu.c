/*
 * libvxpu.c - the limiter's process lifecycle (see libvxpu.h): finding the
 * real driver, reading the environment, the region and the slot, the map
 * from CUDA ordinals to container devices, fork, and the two ways a
 * program reaches an entry point without the dynamic linker: dlsym on the
 * driver's handle and cuGetProcAddress.
 *
 * The hook table lists every entry point the limiter controls: its exported
 * name, our wrapper, where the real function's address is kept, and for
 * cuGetProcAddress the base name, the CUDA version that introduced the
 * entry and whether it is a per-thread-default-stream (_ptsz) form.
 * cuGetProcAddress is answered by the real driver first (so the requested
 * version, the flags and symbolStatus are the driver's decision); then the
 * address it returned is swapped for our wrapper of the same entry. When a
 * driver hands out an address that is not its exported symbol, the swap
 * falls back to the base name and the version rules of cuda.h.
 *
 * Nothing here prints unless VXPU_LOG asks, except the one error line when
 * the configuration is refused (the library's default level is "error").
 */
#include "limiter/libvxpu.h"

#include "common/log.h"
#include "limiter/compute.h"
#include "limiter/procaddr.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

struct limiter limiter = {
        .init_lock = PTHREAD_MUTEX_INITIALIZER,
        .slot = -1,
        .fail_cuda = CUDA_ERROR_NOT_INITIALIZED,
        .fail_nvml = NVML_ERROR_UNINITIALIZED,
};

void *(*limiter_real_dlsym)(void *handle, const char *symbol);

/* Capacities (log2) of the per-process tables. */
#define TRACK_ALLOCS_LOG2 16
#define TRACK_SMALL_LOG2 12

/* ---- constructor and fork ---------------------------------------------------- */

static void limiter_atfork_child(void)
{
	/*
	 * The child shares the parent's open file description, and with it the
	 * parent's slot lock: drop our reference so the lock stays the
	 * parent's, and attach afresh (own slot) on the next CUDA call.
	 */
	if (limiter.region.fd >= 0) {
		close(limiter.region.fd);
		limiter.region.fd = -1;
	}
	if (atomic_load(&limiter.attached) || limiter.slot >= 0) {
		limiter.fork_child_pending = true;
		atomic_store(&limiter.attached, 0);
		limiter.slot = -1;
	}
	pthread_mutex_init(&limiter.init_lock, NULL);
	limiter_compute_atfork_child();
}

void limiter_resolve_dlsym(void)
{
	static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17",
	                                       "GLIBC_2.0"};
	void *(*found)(void *, const char *) = NULL;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]) && !found; i++) {
		found = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", versions[i]);
		if (!found)
			found = (void *(*)(void *, const char *))dlvsym(RTLD_DEFAULT, "dlsym",
			                                                versions[i]);
	}
	limiter_real_dlsym = found;
}

__attribute__((constructor)) static void limiter_constructor(void)
{
	if (!limiter_real_dlsym)
		limiter_resolve_dlsym();
	pthread_atfork(NULL, NULL, limiter_atfork_child);
}

/*
 * A process that ends holding nothing gives its slot back at once, so short
 * processes leave no dead slots behind. One that still holds memory leaves
 * the slot to be reclaimed after its death, when the driver has let go of
 * that memory (region.c): giving it back here would let the container look
 * for room the device has not freed yet.
 */
__attribute__((destructor)) static void limiter_destructor(void)
{
	if (!atomic_load(&limiter.attached) || limiter.slot < 0 || limiter.region.anonymous)
		return;
	struct vxpu_region_slot *s = &limiter.region.slots[limiter.slot];
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		if (atomic_load(&s->memory[d].reserve) || atomic_load(&s->memory[d].charge))
			return;
	atomic_store(&limiter.attached, 0);
	vxpu_region_release(&limiter.region, (unsigned)limiter.slot);
	limiter.slot = -1;
}

/* ---- the real libraries ---------------------------------------------------------- */

/* Marks which wrapped entries the real driver has (defined with the table). */
static void hooks_mark_usable(void);

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static pthread_once_t nvml_once = PTHREAD_ONCE_INIT;
static pthread_once_t nvml_init_once = PTHREAD_ONCE_INIT;
static _Atomic int nvml_initialised;

static void cuda_resolve(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!h || !limiter_real_dlsym) {
		vxpu_log(VXPU_LOG_ERROR, "cannot open the real driver", "library", "libcuda.so.1",
		         "error", h ? "dlsym not found" : dlerror(), (char *)NULL);
		return;
	}
	limiter.cuda_lib = h;
#define LIMITER_RESOLVE_CUDA(name)                                                                 \
	limiter.cuda.name = (__typeof__(name) *)limiter_real_dlsym(h, #name);
	LIMITER_CUDA_REAL(LIMITER_RESOLVE_CUDA)
	hooks_mark_usable();
	atomic_store(&limiter.cuda_ready, 1);
}

int limiter_cuda_real_ready(void)
{
	if (VXPU_LIKELY(atomic_load_explicit(&limiter.cuda_ready, memory_order_acquire)))
		return 0;
	pthread_once(&cuda_once, cuda_resolve);
	return atomic_load(&limiter.cuda_ready) ? 0 : -1;
}

static void nvml_resolve(void)
{
	void *h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!h || !limiter_real_dlsym)
		return;
	limiter.nvml_lib = h;
#define LIMITER_RESOLVE_NVML(name)                                                                 \
	limiter.nvml.name = (__typeof__(name) *)limiter_real_dlsym(h, #name);
	LIMITER_NVML_REAL(LIMITER_RESOLVE_NVML)
	atomic_store(&limiter.nvml_ready, 1);
}

static int nvml_real_resolved(void)
{
	if (VXPU_LIKELY(atomic_load_explicit(&limiter.nvml_ready, memory_order_acquire)))
		return 0;
	pthread_once(&nvml_once, nvml_resolve);
	return atomic_load(&limiter.nvml_ready) ? 0 : -1;
}

static void nvml_internal_init(void)
{
	if (nvml_real_resolved() != 0 || !limiter.nvml.nvmlInit_v2)
		return;
	if (limiter.nvml.nvmlInit_v2() == NVML_SUCCESS)
		atomic_store(&nvml_initialised, 1);
}

int limiter_nvml_real_ready(void)
{
	if (VXPU_LIKELY(atomic_load_explicit(&nvml_initialised, memory_order_acquire)))
		return 0;
	pthread_once(&nvml_init_once, nvml_internal_init);
	return atomic_load(&nvml_initialised) ? 0 : -1;
}

int limiter_nvml_resolved(void)
{
	return nvml_real_resolved();
}

/* ---- configuration and region -------------------------------------------------------- */

static void configure_fail(CUresult cuda_error, nvmlReturn_t nvml_error)
{
	limiter.fail_cuda = cuda_error;
	limiter.fail_nvml = nvml_error;
	atomic_store(&limiter.phase, LIMITER_FAILED);
}

/* True when some slot other than ours is held by a live process. */
static bool region_has_live_process(void)
{
	vxpu_region_reclaim_dead(&limiter.region, -1);
	uint32_t high = atomic_load(&limiter.region.header->slot_high);
	for (uint32_t i = 0; i < high && i < VXPU_REGION_MAX_SLOTS; i++)
		if (atomic_load(&limiter.region.slots[i].state) == VXPU_REGION_SLOT_LIVE)
			return true;
	return false;
}

/*
 * The file is the authority on limits once it exists. A file the limiter
 * itself created earlier from an environment (not managed by vxpu) and that
 * nobody uses any more takes this process's limits instead, so a leftover
 * file from an earlier run does not impose stale limits.
 */
static void reconcile_limits(void)
{
	struct vxpu_region *r = &limiter.region;
	bool differs = atomic_load(&r->header->priority) != limiter.config.priority;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		if (vxpu_admit_limit(r, d) != limiter.config.memory_limit[d] ||
		    atomic_load(&r->devices[d].core_limit) != limiter.config.core_limit[d])
			differs = true;
	if (!differs)
		return;
	bool managed = r->header->flags & VXPU_REGION_FLAG_MANAGED;
	if (!managed && !region_has_live_process()) {
		for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
			if (vxpu_admit_limit(r, d) != limiter.config.memory_limit[d])
				vxpu_region_set_limit(r, d, limiter.config.memory_limit[d]);
			if (atomic_load(&r->devices[d].core_limit) != limiter.config.core_limit[d])
				vxpu_region_set_core_limit(r, d, limiter.config.core_limit[d]);
		}
		if (atomic_load(&r->header->priority) != limiter.config.priority)
			vxpu_region_set_priority(r, limiter.config.priority);
		vxpu_log(VXPU_LOG_INFO, "region limits set from the environment", "region",
		         limiter.config.region_path, (char *)NULL);
		return;
	}
	vxpu_log(managed ? VXPU_LOG_INFO : VXPU_LOG_WARN,
	         "the region's limits differ from the environment; the region's apply", "region",
	         limiter.config.region_path, (char *)NULL);
}

int limiter_configure(void)
{
	int phase = atomic_load(&limiter.phase);
	if (VXPU_LIKELY(phase == LIMITER_CONFIGURED))
		return 0;
	if (phase == LIMITER_FAILED)
		return -1;
	pthread_mutex_lock(&limiter.init_lock);
	phase = atomic_load(&limiter.phase);
	if (phase != LIMITER_UNCONFIGURED) {
		pthread_mutex_unlock(&limiter.init_lock);
		return phase == LIMITER_CONFIGURED ? 0 : -1;
	}
	/* Quiet by default: only the fail-closed line is printed unless VXPU_LOG asks. */
	if (!getenv("VXPU_LOG"))
		vxpu_log_set_level(VXPU_LOG_ERROR);

	char err[512];
	if (vxpu_limiter_config_parse(environ, (unsigned)geteuid(), &limiter.config, err,
	                              sizeof(err)) != 0) {
		vxpu_log(VXPU_LOG_ERROR,
		         "invalid vxpu configuration; CUDA is disabled in this process", "error",
		         err, (char *)NULL);
		configure_fail(CUDA_ERROR_NOT_INITIALIZED, NVML_ERROR_UNKNOWN);
		pthread_mutex_unlock(&limiter.init_lock);
		return -1;
	}
	struct vxpu_region_init init;
	vxpu_limiter_config_region_init(&limiter.config, &init);
	if (vxpu_region_open(&limiter.region, limiter.config.region_path, VXPU_REGION_OPEN_CREATE,
	                     &init, err, sizeof(err)) != 0) {
		if (limiter.config.any_limit || limiter.config.region_from_env ||
		    vxpu_region_open_anonymous(&limiter.region, &init) != 0) {
			/* A limit without its region would be no limit: fail closed. */
			vxpu_log(VXPU_LOG_ERROR,
			         "cannot use the shared region; CUDA is disabled in this process",
			         "error", err, (char *)NULL);
			configure_fail(CUDA_ERROR_OPERATING_SYSTEM, NVML_ERROR_UNKNOWN);
			pthread_mutex_unlock(&limiter.init_lock);
			return -1;
		}
		vxpu_log(VXPU_LOG_INFO,
		         "no limit and no region file; accounting in this process tree only",
		         "error", err, (char *)NULL);
	} else {
		/* Dead processes' memory is given back only once the driver let go of it. */
		limiter.region.driver_still_holds = limiter_nvml_still_holds;
		reconcile_limits();
	}
	atomic_store(&limiter.phase, LIMITER_CONFIGURED);
	pthread_mutex_unlock(&limiter.init_lock);
	return 0;
}

/* ---- attaching: tables, slot, devices ------------------------------------------------ */

static int tables_init(void)
{
	struct {
		struct vxpu_track *t;
		unsigned log2;
	} tables[] = {
	        {&limiter.allocs, TRACK_ALLOCS_LOG2},  {&limiter.arrays, TRACK_SMALL_LOG2},
	        {&limiter.modules, TRACK_SMALL_LOG2},  {&limiter.contexts, TRACK_SMALL_LOG2},
	        {&limiter.pools, TRACK_SMALL_LOG2},    {&limiter.handles, TRACK_SMALL_LOG2},
	        {&limiter.mappings, TRACK_SMALL_LOG2},
	};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		vxpu_track_fini(tables[i].t);
		if (vxpu_track_init(tables[i].t, tables[i].log2) != 0)
			return -1;
	}
	return 0;
}

static CUresult device_uuid(int ordinal, uint8_t uuid[16])
{
	CUuuid u;
	CUresult rc = CUDA_ERROR_NOT_SUPPORTED;
	if (limiter.cuda.cuDeviceGetUuid_v2)
		rc = limiter.cuda.cuDeviceGetUuid_v2(&u, ordinal);
	if (rc != CUDA_SUCCESS && limiter.cuda.cuDeviceGetUuid)
		rc = limiter.cuda.cuDeviceGetUuid(&u, ordinal);
	if (rc == CUDA_SUCCESS)
		memcpy(uuid, u.bytes, 16);
	return rc;
}

/* The container index NVML gives a device UUID (its enumeration order), or -1. */
static int nvml_index_of(const uint8_t uuid[16])
{
	if (limiter_nvml_real_ready() != 0 || !limiter.nvml.nvmlDeviceGetHandleByUUID ||
	    !limiter.nvml.nvmlDeviceGetIndex)
		return -1;
	char text[48];
	vxpu_region_format_uuid(uuid, text, sizeof(text));
	nvmlDevice_t dev;
	unsigned int index;
	if (limiter.nvml.nvmlDeviceGetHandleByUUID(text, &dev) != NVML_SUCCESS ||
	    limiter.nvml.nvmlDeviceGetIndex(dev, &index) != NVML_SUCCESS)
		return -1;
	return (int)index;
}

/*
 * Which container device each CUDA ordinal of this process is (visible.h):
 * a device whose UUID the region already knows keeps its index; otherwise
 * CUDA_VISIBLE_DEVICES decides, and the region learns the UUID.
 */
static CUresult map_devices(void)
{
	int count = 0;
	CUresult rc = limiter.cuda.cuDeviceGetCount(&count);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (count > VXPU_VISIBLE_MAX)
		count = VXPU_VISIBLE_MAX;
	struct vxpu_visible visible;
	vxpu_visible_parse(getenv("CUDA_VISIBLE_DEVICES"), &visible);
	for (int k = 0; k < count; k++) {
		uint8_t uuid[16];
		bool have_uuid = device_uuid(k, uuid) == CUDA_SUCCESS;
		int device = have_uuid ? vxpu_region_find_uuid(&limiter.region, uuid) : -1;
		if (device < 0) {
			unsigned index = (unsigned)k;
			enum vxpu_visible_kind kind =
			        vxpu_visible_ordinal(&visible, (unsigned)k, &index);
			if (kind == VXPU_VISIBLE_UUID) {
				int n = have_uuid ? nvml_index_of(uuid) : -1;
				if (n < 0) {
					vxpu_log(VXPU_LOG_WARN,
					         "cannot tell which container device a UUID in "
					         "CUDA_VISIBLE_DEVICES is; using its ordinal",
					         (char *)NULL);
					n = k;
				}
				index = (unsigned)n;
			}
			if (index >= VXPU_REGION_MAX_DEVICES) {
				char text[16];
				snprintf(text, sizeof(text), "%u", index);
				vxpu_log(VXPU_LOG_ERROR,
				         "container device index beyond what the region holds; "
				         "CUDA is "
				         "disabled in this process",
				         "index", text, (char *)NULL);
				return CUDA_ERROR_INVALID_DEVICE;
			}
			device = (int)index;
			if (have_uuid && vxpu_region_set_uuid(&limiter.region, index, uuid) != 0)
				vxpu_log(
				        VXPU_LOG_WARN,
				        "the region records another UUID for this container device",
				        "variable", "CUDA_VISIBLE_DEVICES", (char *)NULL);
		}
		limiter.ordinal_device[k] = device;
	}
	for (int k = count; k < VXPU_VISIBLE_MAX; k++)
		limiter.ordinal_device[k] = -1;
	limiter.ordinal_count = count;
	return CUDA_SUCCESS;
}

CUresult limiter_attach(void)
{
	if (atomic_load_explicit(&limiter.attached, memory_order_acquire))
		return CUDA_SUCCESS;
	if (limiter_configure() != 0)
		return limiter.fail_cuda;
	pthread_mutex_lock(&limiter.init_lock);
	CUresult rc = CUDA_SUCCESS;
	if (atomic_load(&limiter.attached))
		goto out;
	if (limiter.fork_child_pending) {
		/* A forked child: its own descriptor, its own slot, nothing held yet. */
		char err[512];
		bool anonymous = limiter.region.anonymous;
		struct vxpu_region_init init;
		vxpu_limiter_config_region_init(&limiter.config, &init);
		if (!anonymous) {
			vxpu_region_close(&limiter.region);
			if (vxpu_region_open(&limiter.region, limiter.config.region_path,
			                     VXPU_REGION_OPEN_CREATE, &init, err,
			                     sizeof(err)) != 0) {
				vxpu_log(VXPU_LOG_ERROR,
				         "cannot reopen the shared region after fork", "error", err,
				         (char *)NULL);
				rc = CUDA_ERROR_OPERATING_SYSTEM;
				goto out;
			}
			limiter.region.driver_still_holds = limiter_nvml_still_holds;
		}
		for (int k = 0; k < VXPU_VISIBLE_MAX; k++) {
			atomic_store(&limiter.primary_refs[k], 0);
			atomic_store(&limiter.primary_ctx[k], NULL);
		}
		vxpu_track_fini(&limiter.allocs); /* tables_init below starts them empty */
		limiter.fork_child_pending = false;
	}
	if (!limiter.allocs.entries || limiter.slot < 0) {
		if (tables_init() != 0) {
			vxpu_log(VXPU_LOG_ERROR, "cannot map the limiter's tables", (char *)NULL);
			rc = CUDA_ERROR_OUT_OF_MEMORY;
			goto out;
		}
	}
	rc = map_devices();
	if (rc != CUDA_SUCCESS)
		goto out;
	if (limiter.slot < 0) {
		int slot =
		        vxpu_region_claim(&limiter.region, (int32_t)getpid(), &limiter.generation);
		if (slot < 0) {
			vxpu_log(VXPU_LOG_ERROR, "every process slot of the region is taken",
			         "region", limiter.config.region_path, (char *)NULL);
			rc = CUDA_ERROR_OPERATING_SYSTEM;
			goto out;
		}
		limiter.slot = slot;
		/* Slots of this pid's earlier images (before an exec) are ours to clear. */
		if (!limiter.region.anonymous)
			vxpu_region_reclaim_pid(&limiter.region, (int32_t)getpid(), slot);
	}
	/* The next launch evaluates the compute limits of this (maybe new) mapping. */
	atomic_store(&limiter_compute_generation, UINT64_MAX);
	atomic_store_explicit(&limiter.attached, 1, memory_order_release);
out:
	pthread_mutex_unlock(&limiter.init_lock);
	return rc;
}

CUresult limiter_ready_slow(void)
{
	if (limiter_cuda_real_ready() != 0)
		return CUDA_ERROR_NOT_INITIALIZED;
	if (limiter_configure() != 0)
		return limiter.fail_cuda;
	return limiter_attach();
}

/* ---- cuInit ------------------------------------------------------------------------ */

VXPU_EXPORT CUresult cuInit(unsigned int Flags)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuInit)
		return CUDA_ERROR_NOT_INITIALIZED;
	if (limiter_configure() != 0)
		return limiter.fail_cuda;
	CUresult rc = limiter.cuda.cuInit(Flags);
	if (rc != CUDA_SUCCESS)
		return rc;
	return limiter_attach();
}

/* ---- the hook table --------------------------------------------------------------- */

/* Wrappers defined in the hook files (exported under the driver's names). */
VXPU_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                      cuuint64_t flags);
VXPU_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                         cuuint64_t flags,
                                         CUdriverProcAddressQueryResult *symbolStatus);

struct limiter_hook {
	struct vxpu_procaddr_entry proc; /* first: procaddr.c walks the table */
	const char *name;                /* exported symbol */
	void *wrapper;
	void **real;
};

/* `name` is a member name here, which cannot be parenthesised. */
// NOLINTBEGIN(bugprone-macro-parentheses)
// clang-format off
#define HOOK(name, base, since, ptsz) \
	{{base, since, ptsz, false}, #name, (void *)name, (void **)&limiter.cuda.name}
#define NVML_HOOK(name) \
	{{NULL, 0, false, false}, #name, (void *)name, (void **)&limiter.nvml.name}
// clang-format on
// NOLINTEND(bugprone-macro-parentheses)

/* `usable` is filled in once the real driver is resolved (cuda_resolve). */
static struct limiter_hook hooks[] = {
        HOOK(cuInit, "cuInit", 2000, false),
        HOOK(cuGetProcAddress, "cuGetProcAddress", 11030, false),
        HOOK(cuGetProcAddress_v2, "cuGetProcAddress", 12000, false),
        HOOK(cuDeviceTotalMem, "cuDeviceTotalMem", 2000, false),
        HOOK(cuDeviceTotalMem_v2, "cuDeviceTotalMem", 3020, false),
        HOOK(cuMemGetInfo, "cuMemGetInfo", 2000, false),
        HOOK(cuMemGetInfo_v2, "cuMemGetInfo", 3020, false),
        HOOK(cuMemAlloc, "cuMemAlloc", 2000, false),
        HOOK(cuMemAlloc_v2, "cuMemAlloc", 3020, false),
        HOOK(cuMemAllocPitch, "cuMemAllocPitch", 2000, false),
        HOOK(cuMemAllocPitch_v2, "cuMemAllocPitch", 3020, false),
        HOOK(cuMemAllocManaged, "cuMemAllocManaged", 6000, false),
        HOOK(cuMemFree, "cuMemFree", 2000, false),
        HOOK(cuMemFree_v2, "cuMemFree", 3020, false),
        HOOK(cuMemAllocAsync, "cuMemAllocAsync", 11020, false),
        HOOK(cuMemAllocAsync_ptsz, "cuMemAllocAsync", 11020, true),
        HOOK(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync", 11020, false),
        HOOK(cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync", 11020, true),
        HOOK(cuMemPoolDestroy, "cuMemPoolDestroy", 11020, false),
        HOOK(cuMemPoolTrimTo, "cuMemPoolTrimTo", 11020, false),
        HOOK(cuMemCreate, "cuMemCreate", 10020, false),
        HOOK(cuMemRelease, "cuMemRelease", 10020, false),
        HOOK(cuMemMap, "cuMemMap", 10020, false),
        HOOK(cuMemUnmap, "cuMemUnmap", 10020, false),
        HOOK(cuArrayCreate_v2, "cuArrayCreate", 3020, false),
        HOOK(cuArray3DCreate_v2, "cuArray3DCreate", 3020, false),
        HOOK(cuArrayDestroy, "cuArrayDestroy", 2000, false),
        HOOK(cuMipmappedArrayCreate, "cuMipmappedArrayCreate", 5000, false),
        HOOK(cuMipmappedArrayDestroy, "cuMipmappedArrayDestroy", 5000, false),
        HOOK(cuModuleLoad, "cuModuleLoad", 2000, false),
        HOOK(cuModuleLoadData, "cuModuleLoadData", 2000, false),
        HOOK(cuModuleLoadDataEx, "cuModuleLoadDataEx", 2010, false),
        HOOK(cuModuleLoadFatBinary, "cuModuleLoadFatBinary", 2000, false),
        HOOK(cuModuleUnload, "cuModuleUnload", 2000, false),
        HOOK(cuCtxCreate, "cuCtxCreate", 2000, false),
        HOOK(cuCtxCreate_v2, "cuCtxCreate", 3020, false),
        HOOK(cuCtxCreate_v3, "cuCtxCreate", 11040, false),
        HOOK(cuCtxCreate_v4, "cuCtxCreate", 12050, false),
        HOOK(cuCtxDestroy, "cuCtxDestroy", 2000, false),
        HOOK(cuCtxDestroy_v2, "cuCtxDestroy", 4000, false),
        HOOK(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", 7000, false),
        HOOK(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease", 7000, false),
        HOOK(cuDevicePrimaryCtxRelease_v2, "cuDevicePrimaryCtxRelease", 11000, false),
        HOOK(cuDevicePrimaryCtxReset, "cuDevicePrimaryCtxReset", 7000, false),
        HOOK(cuDevicePrimaryCtxReset_v2, "cuDevicePrimaryCtxReset", 11000, false),
        HOOK(cuLaunchKernel, "cuLaunchKernel", 4000, false),
        HOOK(cuLaunchKernel_ptsz, "cuLaunchKernel", 7000, true),
        HOOK(cuLaunchKernelEx, "cuLaunchKernelEx", 11060, false),
        HOOK(cuLaunchKernelEx_ptsz, "cuLaunchKernelEx", 11060, true),
        HOOK(cuLaunchCooperativeKernel, "cuLaunchCooperativeKernel", 9000, false),
        HOOK(cuLaunchCooperativeKernel_ptsz, "cuLaunchCooperativeKernel", 9000, true),
        HOOK(cuGraphLaunch, "cuGraphLaunch", 10000, false),
        HOOK(cuGraphLaunch_ptsz, "cuGraphLaunch", 10000, true),
        NVML_HOOK(nvmlInit),
        NVML_HOOK(nvmlInit_v2),
        NVML_HOOK(nvmlInitWithFlags),
        NVML_HOOK(nvmlDeviceGetMemoryInfo),
        NVML_HOOK(nvmlDeviceGetMemoryInfo_v2),
        NVML_HOOK(nvmlDeviceGetComputeRunningProcesses),
        NVML_HOOK(nvmlDeviceGetComputeRunningProcesses_v2),
        NVML_HOOK(nvmlDeviceGetComputeRunningProcesses_v3),
        NVML_HOOK(nvmlDeviceGetGraphicsRunningProcesses_v3),
        NVML_HOOK(nvmlDeviceGetProcessUtilization),
};

#define HOOK_COUNT (sizeof(hooks) / sizeof(hooks[0]))

static void hooks_mark_usable(void)
{
	for (size_t i = 0; i < HOOK_COUNT; i++)
		hooks[i].proc.usable = *hooks[i].real != NULL;
}

void *limiter_hook_by_name(const char *symbol)
{
	for (size_t i = 0; i < HOOK_COUNT; i++)
		if (strcmp(hooks[i].name, symbol) == 0)
			return hooks[i].wrapper;
	return NULL;
}

static _Atomic(void *) known_cuda_handle;
static _Atomic(void *) known_nvml_handle;

static bool handle_is(void *handle, _Atomic(void *) *known, const char *soname)
{
	void *k = atomic_load_explicit(known, memory_order_acquire);
	if (!k) {
		/* Not loaded yet means the handle cannot be it; loaded: remember. */
		k = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
		if (!k)
			return false;
		void *expected = NULL;
		if (!atomic_compare_exchange_strong(known, &expected, k)) {
			dlclose(k);
			k = expected;
		}
	}
	return handle == k;
}

bool limiter_is_driver_handle(void *handle)
{
	return handle_is(handle, &known_cuda_handle, "libcuda.so.1") ||
	       handle_is(handle, &known_nvml_handle, "libnvidia-ml.so.1");
}

/* ---- cuGetProcAddress ------------------------------------------------------------- */

/* The wrapper to hand out instead of the driver's entry at address real. */
static void *procaddr_substitute(const char *symbol, void *real, int cuda_version, cuuint64_t flags)
{
	for (size_t i = 0; i < HOOK_COUNT; i++)
		if (hooks[i].proc.base && *hooks[i].real == real)
			return hooks[i].wrapper;
	/* An address we do not know: choose by name and version as cuda.h does. */
	int pick = vxpu_procaddr_pick(hooks, HOOK_COUNT, sizeof(hooks[0]), symbol, cuda_version,
	                              flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
	return pick >= 0 ? hooks[pick].wrapper : real;
}

VXPU_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                         cuuint64_t flags,
                                         CUdriverProcAddressQueryResult *symbolStatus)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuGetProcAddress_v2)
		return CUDA_ERROR_NOT_INITIALIZED;
	CUresult rc =
	        limiter.cuda.cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, symbolStatus);
	if (rc == CUDA_SUCCESS && symbol && pfn && *pfn)
		*pfn = procaddr_substitute(symbol, *pfn, cudaVersion, flags);
	return rc;
}

VXPU_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                      cuuint64_t flags)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuGetProcAddress)
		return CUDA_ERROR_NOT_INITIALIZED;
	CUresult rc = limiter.cuda.cuGetProcAddress(symbol, pfn, cudaVersion, flags);
	if (rc == CUDA_SUCCESS && symbol && pfn && *pfn)
		*pfn = procaddr_substitute(symbol, *pfn, cudaVersion, flags);
	return rc;
}
