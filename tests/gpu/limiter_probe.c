/*
 * limiter_probe - a driver-API program that exercises every allocation path
 * libvxpu controls, for the limiter's tests: on the simulated driver
 * (tests/integration/limiter_*.sh) and on a real NVIDIA driver
 * (tests/gpu/run.sh). It knows nothing of vxpu: it is what an application
 * does, and it reaches the driver the three ways applications do:
 *
 *   --via link      calls the exported symbols it was linked against
 *   --via dlsym     dlopen("libcuda.so.1") + dlsym(handle, "cuMemAlloc_v2")
 *   --via procaddr  dlsym(handle, "cuGetProcAddress_v2"), then every entry
 *                   through cuGetProcAddress by base name (as the CUDA
 *                   runtime does); --ptsz adds the per-thread stream flag
 *
 * Commands (output is key=value lines; exit 0, 1 on an unexpected error):
 *   fill KIND UNIT       allocate UNIT-byte objects of KIND until refused;
 *                        then one 1-byte cuMemAlloc; free everything; fill
 *                        again. Prints filled=, next=, byte=, refilled=.
 *   alloc KIND SIZE      one object; prints result=NAME
 *   info                 cuMemGetInfo / cuDeviceTotalMem: free= total= devtotal=
 *   nvml                 NVML memory (v1, v2) and the compute pids of device 0
 *   race OPS SEED MAX    random cuMemAlloc_v2/cuMemFree_v2 of 1..MAX bytes
 *                        with up to 16 live; prints granted= refused=
 *   churn SEED MAX [PAUSE_US]  allocate/free forever (pausing between calls);
 *                        prints the slowest call so far (maxwait_us=) after
 *                        each 100 operations
 *   hold SIZE            allocate SIZE, print held=1, wait for stdin to close
 *   spawn N              N processes call cuInit at once; prints started=,
 *                        all_ms= (from the go signal to the last return) and
 *                        cpu_ms= (CPU time spent in cuInit, all together)
 *   victims R MAX SEED   R times: start `churn`, SIGKILL it after 0..MAX us
 *   fork SIZE            allocate SIZE, fork; the child allocates SIZE/2,
 *                        prints its pid and waits; the parent waits for it
 *   exec SIZE            allocate SIZE, then exec itself as `hold SIZE/2`
 *   dlnext               RTLD_NEXT from the program and from a later library
 *                        (liblimiter_next.so, which the probe links)
 *   init                 cuInit only; prints result=NAME
 * KIND: mem pitch managed async pool vmm array array3d mipmap module context
 * Options: --device N (default 0).
 */
#include "cuda/cuda_abi.h"
#include "cuda/nvml_abi.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OBJECTS 65536

/* The entry points, however obtained. */
#define PROBE_ENTRIES(X)                                                                           \
	X(cuInit, "cuInit")                                                                        \
	X(cuGetErrorName, "cuGetErrorName")                                                        \
	X(cuDeviceGet, "cuDeviceGet")                                                              \
	X(cuDeviceTotalMem_v2, "cuDeviceTotalMem")                                                 \
	X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")                                    \
	X(cuCtxSetCurrent, "cuCtxSetCurrent")                                                      \
	X(cuCtxCreate_v2, "cuCtxCreate")                                                           \
	X(cuCtxDestroy_v2, "cuCtxDestroy")                                                         \
	X(cuMemGetInfo_v2, "cuMemGetInfo")                                                         \
	X(cuMemAlloc_v2, "cuMemAlloc")                                                             \
	X(cuMemAllocPitch_v2, "cuMemAllocPitch")                                                   \
	X(cuMemAllocManaged, "cuMemAllocManaged")                                                  \
	X(cuMemFree_v2, "cuMemFree")                                                               \
	X(cuMemAllocAsync, "cuMemAllocAsync")                                                      \
	X(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync")                                      \
	X(cuMemFreeAsync, "cuMemFreeAsync")                                                        \
	X(cuStreamSynchronize, "cuStreamSynchronize")                                              \
	X(cuMemPoolCreate, "cuMemPoolCreate")                                                      \
	X(cuMemPoolDestroy, "cuMemPoolDestroy")                                                    \
	X(cuMemPoolTrimTo, "cuMemPoolTrimTo")                                                      \
	X(cuMemPoolSetAttribute, "cuMemPoolSetAttribute")                                          \
	X(cuDeviceGetMemPool, "cuDeviceGetMemPool")                                                \
	X(cuMemGetAllocationGranularity, "cuMemGetAllocationGranularity")                          \
	X(cuMemAddressReserve, "cuMemAddressReserve")                                              \
	X(cuMemAddressFree, "cuMemAddressFree")                                                    \
	X(cuMemCreate, "cuMemCreate")                                                              \
	X(cuMemRelease, "cuMemRelease")                                                            \
	X(cuMemMap, "cuMemMap")                                                                    \
	X(cuMemUnmap, "cuMemUnmap")                                                                \
	X(cuMemSetAccess, "cuMemSetAccess")                                                        \
	X(cuArrayCreate_v2, "cuArrayCreate")                                                       \
	X(cuArray3DCreate_v2, "cuArray3DCreate")                                                   \
	X(cuArrayDestroy, "cuArrayDestroy")                                                        \
	X(cuMipmappedArrayCreate, "cuMipmappedArrayCreate")                                        \
	X(cuMipmappedArrayDestroy, "cuMipmappedArrayDestroy")                                      \
	X(cuModuleLoadData, "cuModuleLoadData")                                                    \
	X(cuModuleUnload, "cuModuleUnload")

#define PROBE_DECLARE(name, base) __typeof__(name) *name;
static struct {
	PROBE_ENTRIES(PROBE_DECLARE)
} cu;

static int device_index;
static CUdevice device;
static CUcontext context;

static const char *err_name(CUresult rc)
{
	const char *n = NULL;
	if (cu.cuGetErrorName)
		cu.cuGetErrorName(rc, &n);
	return n ? n : "CUDA_ERROR_UNKNOWN";
}

#define CHECK(call)                                                                                \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			fprintf(stderr, "limiter_probe: %s: %s\n", #call, err_name(rc_));          \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- reaching the driver -------------------------------------------------------- */

static void bind_link(void)
{
#define PROBE_LINK(name, base) cu.name = name;
	PROBE_ENTRIES(PROBE_LINK)
}

static void *open_driver(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "limiter_probe: dlopen libcuda.so.1: %s\n", dlerror());
		exit(1);
	}
	return h;
}

static void bind_dlsym(void)
{
	void *h = open_driver();
#define PROBE_DLSYM(name, base) cu.name = (__typeof__(name) *)dlsym(h, #name);
	PROBE_ENTRIES(PROBE_DLSYM)
}

static void bind_procaddr(bool per_thread)
{
	void *h = open_driver();
	__typeof__(cuGetProcAddress_v2) *gpa =
	        (__typeof__(cuGetProcAddress_v2) *)dlsym(h, "cuGetProcAddress_v2");
	if (!gpa) {
		fprintf(stderr, "limiter_probe: no cuGetProcAddress_v2\n");
		exit(1);
	}
	cuuint64_t flags = per_thread ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
	                              : CU_GET_PROC_ADDRESS_DEFAULT;
	CUdriverProcAddressQueryResult status;
#define PROBE_PROCADDR(name, base)                                                                 \
	if (gpa(base, (void **)&cu.name, 12000, flags, &status) != CUDA_SUCCESS)                   \
		cu.name = NULL;
	PROBE_ENTRIES(PROBE_PROCADDR)
}

static CUresult setup(void)
{
	CUresult rc = cu.cuInit(0);
	if (rc != CUDA_SUCCESS)
		return rc;
	CHECK(cu.cuDeviceGet(&device, device_index));
	CHECK(cu.cuDevicePrimaryCtxRetain(&context, device));
	CHECK(cu.cuCtxSetCurrent(context));
	return CUDA_SUCCESS;
}

static void setup_or_die(void)
{
	CUresult rc = setup();
	if (rc != CUDA_SUCCESS) {
		printf("init=%s\n", err_name(rc));
		fprintf(stderr, "limiter_probe: cuInit: %s\n", err_name(rc));
		exit(1);
	}
}

/* ---- objects of every kind ------------------------------------------------------- */

struct object {
	int kind;
	uint64_t handle;
	CUdeviceptr va;
	size_t size;
};

enum kind {
	K_MEM,
	K_PITCH,
	K_MANAGED,
	K_ASYNC,
	K_POOL,
	K_VMM,
	K_ARRAY,
	K_ARRAY3D,
	K_MIPMAP,
	K_MODULE,
	K_CONTEXT,
	K_COUNT
};
static const char *const kind_names[K_COUNT] = {"mem",    "pitch",  "managed", "async",
                                                "pool",   "vmm",    "array",   "array3d",
                                                "mipmap", "module", "context"};

static CUmemoryPool own_pool;

static int kind_parse(const char *s)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	fprintf(stderr, "limiter_probe: unknown kind \"%s\"\n", s);
	exit(2);
}

static CUresult make(int kind, size_t unit, struct object *o)
{
	o->kind = kind;
	o->size = unit;
	o->va = 0;
	CUresult rc;
	switch (kind) {
	case K_MEM: {
		CUdeviceptr p;
		rc = cu.cuMemAlloc_v2(&p, unit);
		o->handle = p;
		return rc;
	}
	case K_PITCH: {
		CUdeviceptr p;
		size_t pitch;
		rc = cu.cuMemAllocPitch_v2(&p, &pitch, 1024, unit / 1024, 4);
		o->handle = p;
		return rc;
	}
	case K_MANAGED: {
		CUdeviceptr p;
		rc = cu.cuMemAllocManaged(&p, unit, CU_MEM_ATTACH_GLOBAL);
		o->handle = p;
		return rc;
	}
	case K_ASYNC:
	case K_POOL: {
		CUdeviceptr p;
		if (kind == K_ASYNC)
			rc = cu.cuMemAllocAsync(&p, unit, NULL);
		else
			rc = cu.cuMemAllocFromPoolAsync(&p, unit, own_pool, NULL);
		o->handle = p;
		return rc;
	}
	case K_VMM: {
		CUmemAllocationProp prop;
		memset(&prop, 0, sizeof(prop));
		prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
		prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		prop.location.id = device;
		CUmemGenericAllocationHandle h;
		rc = cu.cuMemCreate(&h, unit, &prop, 0);
		if (rc != CUDA_SUCCESS)
			return rc;
		o->handle = h;
		CHECK(cu.cuMemAddressReserve(&o->va, unit, 0, 0, 0));
		CHECK(cu.cuMemMap(o->va, unit, 0, h, 0));
		CUmemAccessDesc access = {.location = prop.location,
		                          .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
		CHECK(cu.cuMemSetAccess(o->va, unit, &access, 1));
		/* Released at once: the mapping keeps the memory alive (and charged). */
		CHECK(cu.cuMemRelease(h));
		return CUDA_SUCCESS;
	}
	case K_ARRAY: {
		CUDA_ARRAY_DESCRIPTOR d = {.Width = 1024,
		                           .Height = unit / 4096,
		                           .Format = CU_AD_FORMAT_FLOAT,
		                           .NumChannels = 1};
		CUarray a;
		rc = cu.cuArrayCreate_v2(&a, &d);
		o->handle = (uint64_t)(uintptr_t)a;
		return rc;
	}
	case K_ARRAY3D: {
		CUDA_ARRAY3D_DESCRIPTOR d = {.Width = 1024,
		                             .Height = 16,
		                             .Depth = unit / 65536,
		                             .Format = CU_AD_FORMAT_FLOAT,
		                             .NumChannels = 1};
		CUarray a;
		rc = cu.cuArray3DCreate_v2(&a, &d);
		o->handle = (uint64_t)(uintptr_t)a;
		return rc;
	}
	case K_MIPMAP: {
		/* 512 x 512 floats, 3 levels: 1 MiB + 256 KiB + 64 KiB. */
		CUDA_ARRAY3D_DESCRIPTOR d = {.Width = 512,
		                             .Height = 512,
		                             .Format = CU_AD_FORMAT_FLOAT,
		                             .NumChannels = 1};
		CUmipmappedArray m;
		rc = cu.cuMipmappedArrayCreate(&m, &d, 3);
		o->handle = (uint64_t)(uintptr_t)m;
		return rc;
	}
	case K_MODULE: {
		/* An ELF image whose header tables end at byte `unit`. */
		unsigned char *image = calloc(1, unit);
		if (!image)
			return CUDA_ERROR_OUT_OF_MEMORY;
		Elf64_Ehdr eh;
		memset(&eh, 0, sizeof(eh));
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = 190; /* EM_CUDA */
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
		eh.e_shoff = unit - sizeof(Elf64_Shdr);
		eh.e_ehsize = sizeof(eh);
		memcpy(image, &eh, sizeof(eh));
		CUmodule m;
		rc = cu.cuModuleLoadData(&m, image);
		free(image);
		o->handle = (uint64_t)(uintptr_t)m;
		return rc;
	}
	case K_CONTEXT: {
		CUcontext c;
		rc = cu.cuCtxCreate_v2(&c, 0, device);
		if (rc == CUDA_SUCCESS)
			cu.cuCtxSetCurrent(context); /* keep working in the primary context */
		o->handle = (uint64_t)(uintptr_t)c;
		return rc;
	}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

static void destroy(const struct object *o)
{
	switch (o->kind) {
	case K_MEM:
	case K_PITCH:
	case K_MANAGED:
		CHECK(cu.cuMemFree_v2(o->handle));
		break;
	case K_ASYNC:
	case K_POOL:
		CHECK(cu.cuMemFreeAsync(o->handle, NULL));
		break;
	case K_VMM:
		CHECK(cu.cuMemUnmap(o->va, o->size));
		CHECK(cu.cuMemAddressFree(o->va, o->size));
		break;
	case K_ARRAY:
	case K_ARRAY3D:
		CHECK(cu.cuArrayDestroy((CUarray)(uintptr_t)o->handle));
		break;
	case K_MIPMAP:
		CHECK(cu.cuMipmappedArrayDestroy((CUmipmappedArray)(uintptr_t)o->handle));
		break;
	case K_MODULE:
		CHECK(cu.cuModuleUnload((CUmodule)(uintptr_t)o->handle));
		break;
	case K_CONTEXT:
		CHECK(cu.cuCtxDestroy_v2((CUcontext)(uintptr_t)o->handle));
		CHECK(cu.cuCtxSetCurrent(context));
		break;
	}
}

static struct object objects[MAX_OBJECTS];

/* Makes objects until refused; returns how many, *next the refusal. */
static int fill_until_refused(int kind, size_t unit, CUresult *next)
{
	int n = 0;
	for (; n < MAX_OBJECTS; n++) {
		CUresult rc = make(kind, unit, &objects[n]);
		if (rc != CUDA_SUCCESS) {
			*next = rc;
			return n;
		}
	}
	*next = CUDA_SUCCESS;
	return n;
}

static void free_all(int n)
{
	for (int i = n - 1; i >= 0; i--)
		destroy(&objects[i]);
	if (objects[0].kind == K_ASYNC || objects[0].kind == K_POOL)
		CHECK(cu.cuStreamSynchronize(NULL));
}

static int cmd_fill(int kind, size_t unit)
{
	setup_or_die();
	if (kind == K_POOL) {
		CUmemPoolProps props;
		memset(&props, 0, sizeof(props));
		props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
		props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
		props.location.id = device;
		CHECK(cu.cuMemPoolCreate(&own_pool, &props));
	}
	if (kind == K_ASYNC || kind == K_POOL) {
		/* Keep freed blocks in the pool across synchronisation. */
		CUmemoryPool pool = own_pool;
		if (kind == K_ASYNC)
			CHECK(cu.cuDeviceGetMemPool(&pool, device));
		cuuint64_t keep = UINT64_MAX;
		CHECK(cu.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep));
	}
	CUresult next;
	int filled = fill_until_refused(kind, unit, &next);
	printf("filled=%d\nnext=%s\n", filled, next == CUDA_SUCCESS ? "none" : err_name(next));
	CUdeviceptr one;
	CUresult byte = cu.cuMemAlloc_v2(&one, 1);
	printf("byte=%s\n", byte == CUDA_SUCCESS ? "CUDA_SUCCESS" : err_name(byte));
	if (byte == CUDA_SUCCESS)
		CHECK(cu.cuMemFree_v2(one));
	free_all(filled);
	/* A pool keeps what was freed: the same objects fit again without new room. */
	int refilled = fill_until_refused(kind, unit, &next);
	printf("refilled=%d\n", refilled);
	free_all(refilled);
	if (kind == K_ASYNC || kind == K_POOL) {
		CUmemoryPool pool = own_pool;
		if (kind == K_ASYNC)
			CHECK(cu.cuDeviceGetMemPool(&pool, device));
		size_t free_before, free_after, total;
		CHECK(cu.cuMemGetInfo_v2(&free_before, &total));
		CHECK(cu.cuMemPoolTrimTo(pool, 0));
		CHECK(cu.cuMemGetInfo_v2(&free_after, &total));
		printf("trim_gain=%zu\n", free_after - free_before);
		if (kind == K_POOL)
			CHECK(cu.cuMemPoolDestroy(own_pool));
	}
	size_t free_bytes, total;
	CHECK(cu.cuMemGetInfo_v2(&free_bytes, &total));
	printf("free=%zu\ntotal=%zu\n", free_bytes, total);
	return 0;
}

static int cmd_alloc(int kind, size_t size)
{
	setup_or_die();
	struct object o;
	CUresult rc = make(kind, size, &o);
	printf("result=%s\n", rc == CUDA_SUCCESS ? "CUDA_SUCCESS" : err_name(rc));
	return 0;
}

static int cmd_info(void)
{
	setup_or_die();
	size_t free_bytes, total, devtotal;
	CHECK(cu.cuMemGetInfo_v2(&free_bytes, &total));
	CHECK(cu.cuDeviceTotalMem_v2(&devtotal, device));
	printf("free=%zu\ntotal=%zu\ndevtotal=%zu\n", free_bytes, total, devtotal);
	return 0;
}

static int cmd_nvml(void)
{
	if (nvmlInit_v2() != NVML_SUCCESS) {
		printf("nvml=failed\n");
		return 1;
	}
	nvmlDevice_t dev;
	if (nvmlDeviceGetHandleByIndex_v2((unsigned)device_index, &dev) != NVML_SUCCESS)
		return 1;
	nvmlMemory_t m1;
	nvmlMemory_v2_t m2 = {.version = nvmlMemory_v2};
	if (nvmlDeviceGetMemoryInfo(dev, &m1) != NVML_SUCCESS ||
	    nvmlDeviceGetMemoryInfo_v2(dev, &m2) != NVML_SUCCESS)
		return 1;
	printf("v1_total=%llu\nv1_free=%llu\nv1_used=%llu\n", m1.total, m1.free, m1.used);
	printf("v2_total=%llu\nv2_reserved=%llu\nv2_free=%llu\nv2_used=%llu\n", m2.total,
	       m2.reserved, m2.free, m2.used);
	unsigned int count = 0;
	nvmlReturn_t rc = nvmlDeviceGetComputeRunningProcesses_v3(dev, &count, NULL);
	if (rc != NVML_SUCCESS && rc != NVML_ERROR_INSUFFICIENT_SIZE)
		return 1;
	nvmlProcessInfo_t procs[256];
	count = 256;
	if (nvmlDeviceGetComputeRunningProcesses_v3(dev, &count, procs) != NVML_SUCCESS)
		return 1;
	printf("pids=");
	for (unsigned int i = 0; i < count; i++)
		printf("%s%u", i ? "," : "", procs[i].pid);
	printf("\n");
	return 0;
}

static int cmd_race(int ops, unsigned seed, size_t max)
{
	setup_or_die();
	CUdeviceptr live[16] = {0};
	int granted = 0, refused = 0;
	for (int i = 0; i < ops; i++) {
		unsigned k = (unsigned)rand_r(&seed) % 16;
		if (live[k]) {
			CHECK(cu.cuMemFree_v2(live[k]));
			live[k] = 0;
			continue;
		}
		size_t size = 1 + (size_t)rand_r(&seed) % max;
		CUresult rc = cu.cuMemAlloc_v2(&live[k], size);
		if (rc == CUDA_SUCCESS) {
			granted++;
		} else if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
			live[k] = 0;
			refused++;
		} else {
			fprintf(stderr, "limiter_probe: cuMemAlloc_v2: %s\n", err_name(rc));
			return 1;
		}
	}
	for (int k = 0; k < 16; k++)
		if (live[k])
			CHECK(cu.cuMemFree_v2(live[k]));
	printf("granted=%d\nrefused=%d\n", granted, refused);
	return 0;
}

static int cmd_churn(unsigned seed, size_t max, long pause_us)
{
	setup_or_die();
	CUdeviceptr live[8] = {0};
	uint64_t slowest = 0;
	for (long i = 1;; i++) {
		unsigned k = (unsigned)rand_r(&seed) % 8;
		uint64_t t0 = mono_ns();
		if (live[k]) {
			CHECK(cu.cuMemFree_v2(live[k]));
			live[k] = 0;
		} else {
			CUresult rc = cu.cuMemAlloc_v2(&live[k], 1 + (size_t)rand_r(&seed) % max);
			if (rc != CUDA_SUCCESS)
				live[k] = 0;
			if (rc != CUDA_SUCCESS && rc != CUDA_ERROR_OUT_OF_MEMORY) {
				fprintf(stderr, "limiter_probe: %s\n", err_name(rc));
				return 1;
			}
		}
		uint64_t took = mono_ns() - t0;
		if (took > slowest)
			slowest = took;
		if (pause_us > 0) {
			struct timespec ts = {0, pause_us * 1000};
			nanosleep(&ts, NULL);
		}
		if (i % 100 == 0) {
			printf("maxwait_us=%" PRIu64 "\n", slowest / 1000);
			fflush(stdout);
		}
	}
}

static int cmd_hold(size_t size)
{
	setup_or_die();
	CUdeviceptr p;
	CUresult rc = cu.cuMemAlloc_v2(&p, size);
	printf("held=%d\n", rc == CUDA_SUCCESS);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

/*
 * N processes start at once: forked first and held at a barrier (so the
 * operating system's process creation is not what is measured), then
 * released together; each calls cuInit - the limiter's whole start-up:
 * environment, region, slot, device map - and reports when it returned.
 */
static int cmd_spawn(int n)
{
	int go[2], done[2];
	if (pipe(go) != 0 || pipe(done) != 0)
		return 1;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(go[1]);
			close(done[0]);
			char c;
			while (read(go[0], &c, 1) > 0)
				;
			struct timespec c0, c1;
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
			CUresult rc = cu.cuInit(0);
			uint64_t t = mono_ns();
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
			uint64_t cpu = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ULL +
			               (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
			char line[96];
			int len = snprintf(line, sizeof(line), "%d %" PRIu64 " %" PRIu64 "\n",
			                   rc == CUDA_SUCCESS, t, cpu);
			if (write(done[1], line, (size_t)len) != len)
				_exit(1);
			_exit(0);
		}
	}
	close(go[0]);
	close(done[1]);
	uint64_t t0 = mono_ns();
	close(go[1]); /* everyone goes */
	FILE *in = fdopen(done[0], "r");
	int ok, started = 0;
	uint64_t when, cpu, last = t0, cpu_total = 0;
	while (fscanf(in, "%d %" SCNu64 " %" SCNu64, &ok, &when, &cpu) == 3) {
		started += ok;
		cpu_total += cpu;
		if (when > last)
			last = when;
	}
	for (int i = 0; i < n; i++)
		wait(NULL);
	printf("started=%d\nall_ms=%.1f\ncpu_ms=%.1f\n", started, (double)(last - t0) / 1e6,
	       (double)cpu_total / 1e6);
	return 0;
}

/*
 * R times: start a process that churns allocations (this program, `churn`)
 * and SIGKILL it after a random delay of 0..MAXDELAY microseconds - during
 * its start-up (loader, constructor, cuInit, region, slot) or in the middle
 * of an allocation or a free, inside the library or the driver.
 */
static int cmd_victims(int runs, long max_delay_us, unsigned seed, const char *self)
{
	int killed_early = 0;
	for (int r = 0; r < runs; r++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			char seed_text[16];
			snprintf(seed_text, sizeof(seed_text), "%d", r);
			execl(self, self, "churn", seed_text, "4194304", (char *)NULL);
			_exit(127);
		}
		long delay = (long)(rand_r(&seed) % (unsigned)(max_delay_us + 1));
		struct timespec ts = {delay / 1000000, (delay % 1000000) * 1000};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			killed_early++; /* ended on its own before the signal: not a kill */
	}
	printf("victims=%d\nnot_killed=%d\n", runs, killed_early);
	return 0;
}

static int cmd_fork(size_t size)
{
	setup_or_die();
	CUdeviceptr p;
	CHECK(cu.cuMemAlloc_v2(&p, size));
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		/* A new process: CUDA starts over in it. */
		setup_or_die();
		CUdeviceptr q;
		CHECK(cu.cuMemAlloc_v2(&q, size / 2));
		printf("child=%d\n", (int)getpid());
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	printf("parent=%d\nchild_status=%d\n", (int)getpid(),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* From liblimiter_next.so, which the probe links (loaded after any preload). */
void *limiter_next_of(const char *name);
int puts(const char *s);

/* Allocate SIZE, then exec this program to `hold SIZE/2`: a new image, same pid. */
static int cmd_exec(size_t size, const char *self)
{
	setup_or_die();
	CUdeviceptr p;
	CHECK(cu.cuMemAlloc_v2(&p, size));
	char half[32];
	snprintf(half, sizeof(half), "%zu", size / 2);
	fflush(stdout);
	execl(self, self, "hold", half, (char *)NULL);
	fprintf(stderr, "limiter_probe: exec: %s\n", strerror(errno));
	return 1;
}

static int cmd_dlnext(void)
{
	/* From the program: the next cuInit after it is the first one in load order. */
	void *next = dlsym(RTLD_NEXT, "cuInit");
	void *deflt = dlsym(RTLD_DEFAULT, "cuInit");
	printf("program_next_is_default=%d\n", next != NULL && next == deflt);
	/*
	 * From a library loaded after the limiter that wraps puts: its
	 * RTLD_NEXT lookup must skip itself and find libc's, not its own.
	 */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *real_puts = libc ? dlsym(libc, "puts") : NULL;
	void *from_lib = limiter_next_of("puts");
	printf("library_next_skips_itself=%d\n", from_lib != (void *)puts);
	printf("library_next_is_libc=%d\n", from_lib != NULL && from_lib == real_puts);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: limiter_probe [--via link|dlsym|procaddr] [--ptsz] [--device N] "
	                "COMMAND [ARGS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *via = "link";
	bool per_thread = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--via") == 0 && i + 1 < argc)
			via = argv[++i];
		else if (strcmp(argv[i], "--ptsz") == 0)
			per_thread = true;
		else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
			device_index = atoi(argv[++i]);
		else
			usage();
	}
	if (i >= argc)
		usage();
	if (strcmp(via, "link") == 0)
		bind_link();
	else if (strcmp(via, "dlsym") == 0)
		bind_dlsym();
	else if (strcmp(via, "procaddr") == 0)
		bind_procaddr(per_thread);
	else
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argv[i];
	int n = argc - i - 1;
	char **a = argv + i + 1;
	if (strcmp(cmd, "fill") == 0 && n == 2)
		return cmd_fill(kind_parse(a[0]), strtoull(a[1], NULL, 0));
	if (strcmp(cmd, "alloc") == 0 && n == 2)
		return cmd_alloc(kind_parse(a[0]), strtoull(a[1], NULL, 0));
	if (strcmp(cmd, "info") == 0 && n == 0)
		return cmd_info();
	if (strcmp(cmd, "nvml") == 0 && n == 0)
		return cmd_nvml();
	if (strcmp(cmd, "race") == 0 && n == 3)
		return cmd_race(atoi(a[0]), (unsigned)atoi(a[1]), strtoull(a[2], NULL, 0));
	if (strcmp(cmd, "churn") == 0 && (n == 2 || n == 3))
		return cmd_churn((unsigned)atoi(a[0]), strtoull(a[1], NULL, 0),
		                 n == 3 ? atol(a[2]) : 0);
	if (strcmp(cmd, "hold") == 0 && n == 1)
		return cmd_hold(strtoull(a[0], NULL, 0));
	if (strcmp(cmd, "spawn") == 0 && n == 1)
		return cmd_spawn(atoi(a[0]));
	if (strcmp(cmd, "victims") == 0 && n == 3)
		return cmd_victims(atoi(a[0]), atol(a[1]), (unsigned)atoi(a[2]), argv[0]);
	if (strcmp(cmd, "exec") == 0 && n == 1)
		return cmd_exec(strtoull(a[0], NULL, 0), argv[0]);
	if (strcmp(cmd, "fork") == 0 && n == 1)
		return cmd_fork(strtoull(a[0], NULL, 0));
	if (strcmp(cmd, "dlnext") == 0 && n == 0)
		return cmd_dlnext();
	if (strcmp(cmd, "init") == 0 && n == 0) {
		CUresult rc = setup();
		printf("result=%s\n", rc == CUDA_SUCCESS ? "CUDA_SUCCESS" : err_name(rc));
		return 0;
	}
	usage();
	return 2;
}
