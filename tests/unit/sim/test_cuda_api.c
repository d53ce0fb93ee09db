/*
 * The simulated libcuda.so.1 through its public entry points, as a program
 * linked against it uses them: contexts, every allocation family and its
 * charge on the device, copies and sets, kernels (busy, fill) and events,
 * streams, graph capture and replay, cuGetProcAddress versioning, a lost
 * device, and fork. The machine is the default one with a private state
 * file; the simulator's own accounting (vxpu_simstate) is the referee.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/size.h"
#include "cuda/cuda_abi.h"
#include "sim/simstate.h"

#define CHECK(call) assert_int_equal((call), CUDA_SUCCESS)

static char state_path[128];
static struct vxpu_sim_state referee;
static CUcontext ctx;

static uint64_t used0(void)
{
	return vxpu_sim_mem_used(&referee, 0);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(state_path, sizeof(state_path), "/dev/shm/vxpu-cuda-api-test-%d", (int)getpid());
	unlink(state_path);
	setenv("VXPU_SIM_STATE", state_path, 1);
	unsetenv("VXPU_SIM_CONFIG");
	unsetenv("CUDA_VISIBLE_DEVICES");
	char err[512];
	if (vxpu_sim_open_env(&referee, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	CHECK(cuInit(0));
	CUdevice dev;
	CHECK(cuDeviceGet(&dev, 0));
	CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CHECK(cuCtxSetCurrent(ctx));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	CUdevice dev;
	cuDeviceGet(&dev, 0);
	cuDevicePrimaryCtxRelease_v2(dev);
	vxpu_sim_close(&referee);
	unlink(state_path);
	return 0;
}

static CUfunction kernel(const char *name)
{
	static const char image[] = "any image loads";
	CUmodule mod;
	CUfunction f;
	CHECK(cuModuleLoadData(&mod, image));
	CHECK(cuModuleGetFunction(&f, mod, name));
	return f;
}

static void test_basics(void **state)
{
	(void)state;
	int v = 0, n = 0;
	CHECK(cuDriverGetVersion(&v));
	assert_int_equal(v, 13000);
	assert_int_equal(cuInit(1), CUDA_ERROR_INVALID_VALUE);
	CHECK(cuDeviceGetCount(&n));
	assert_int_equal(n, 2);
	CUdevice d;
	assert_int_equal(cuDeviceGet(&d, 2), CUDA_ERROR_INVALID_DEVICE);
	const char *s;
	CHECK(cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &s));
	assert_string_equal(s, "CUDA_ERROR_OUT_OF_MEMORY");
	CHECK(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s));
	assert_string_equal(s, "out of memory");
	assert_int_equal(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
	const void *table = &v;
	CUuuid id = {{0}};
	assert_int_equal(cuGetExportTable(&table, &id), CUDA_ERROR_NOT_SUPPORTED);
	assert_null(table);
	int attr;
	CHECK(cuDeviceGetAttribute(&attr, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
	assert_int_equal(attr, 80);
	assert_int_equal(cuDeviceGetAttribute(&attr, (CUdevice_attribute)0, 0),
	                 CUDA_ERROR_INVALID_VALUE);
	char bus[32];
	CHECK(cuDeviceGetPCIBusId(bus, sizeof(bus), 1));
	CHECK(cuDeviceGetByPCIBusId(&d, bus));
	assert_int_equal(d, 1);
}

static void test_contexts(void **state)
{
	(void)state;
	unsigned int flags;
	int active;
	CHECK(cuDevicePrimaryCtxGetState(0, &flags, &active));
	assert_int_equal(active, 1);
	CUcontext cur, made, popped;
	CHECK(cuCtxGetCurrent(&cur));
	assert_ptr_equal(cur, ctx);
	/* A created context is pushed, owns its allocations, and frees them at destroy. */
	uint64_t before = used0();
	CHECK(cuCtxCreate_v4(&made, NULL, 0, 0));
	CHECK(cuCtxGetCurrent(&cur));
	assert_ptr_equal(cur, made);
	CUdeviceptr p;
	CHECK(cuMemAlloc_v2(&p, 3 * VXPU_MIB));
	assert_true(used0() == before + 3 * VXPU_MIB);
	CHECK(cuCtxPopCurrent_v2(&popped));
	assert_ptr_equal(popped, made);
	CHECK(cuCtxPushCurrent_v2(made));
	CHECK(cuCtxDestroy_v2(made));
	assert_true(used0() == before);
	CHECK(cuCtxGetCurrent(&cur));
	assert_ptr_equal(cur, ctx);
	assert_int_equal(cuCtxDestroy_v2(ctx), CUDA_ERROR_INVALID_CONTEXT); /* primary */
	CUexecAffinityParam aff = {.type = CU_EXEC_AFFINITY_TYPE_SM_COUNT};
	aff.param.smCount.val = 8;
	CHECK(cuCtxCreate_v3(&made, &aff, 1, 0, 1));
	CUdevice dev;
	CHECK(cuCtxGetDevice(&dev));
	assert_int_equal(dev, 1);
	CHECK(cuCtxDestroy_v2(made));
	CHECK(cuCtxGetDevice(&dev));
	assert_int_equal(dev, 0);
	CHECK(cuCtxSynchronize());
}

static void test_allocations(void **state)
{
	(void)state;
	size_t free0, total;
	CHECK(cuMemGetInfo_v2(&free0, &total));
	assert_true(total == 16 * VXPU_GIB);
	uint64_t before = used0();
	CUdeviceptr a, b, m;
	size_t pitch;
	CHECK(cuMemAlloc_v2(&a, 1000)); /* charged 1024 (512-byte rounding) */
	CHECK(cuMemAllocPitch_v2(&b, &pitch, 1000, 10, 4));
	assert_int_equal(pitch, 1024);
	CHECK(cuMemAllocManaged(&m, 4096, CU_MEM_ATTACH_GLOBAL));
	assert_true(used0() == before + 1024 + 10240 + 4096);
	size_t free1;
	CHECK(cuMemGetInfo_v2(&free1, &total));
	assert_true(free0 - free1 == 1024 + 10240 + 4096);

	CUdeviceptr base;
	size_t size;
	CHECK(cuMemGetAddressRange_v2(&base, &size, b + 100));
	assert_true(base == b && size == 10240);
	unsigned int type;
	CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a));
	assert_int_equal(type, CU_MEMORYTYPE_DEVICE);

	/* Host memory is never charged. */
	void *h1, *h2;
	CHECK(cuMemAllocHost_v2(&h1, 1 << 20));
	CHECK(cuMemHostAlloc(&h2, 1 << 20, CU_MEMHOSTALLOC_PORTABLE));
	static char reg[8192];
	CHECK(cuMemHostRegister_v2(reg, sizeof(reg), 0));
	assert_int_equal(cuMemHostRegister_v2(reg, 16, 0),
	                 CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	assert_true(used0() == before + 1024 + 10240 + 4096);
	CHECK(cuMemHostUnregister(reg));
	CHECK(cuMemFreeHost(h1));
	CHECK(cuMemFreeHost(h2));

	/* More than the card: out of memory, nothing charged. */
	CUdeviceptr big;
	assert_int_equal(cuMemAlloc_v2(&big, 17 * VXPU_GIB), CUDA_ERROR_OUT_OF_MEMORY);
	assert_int_equal(cuMemFree_v2(a + 8), CUDA_ERROR_INVALID_VALUE);
	CHECK(cuMemFree_v2(a));
	CHECK(cuMemFree_v2(b));
	CHECK(cuMemFree_v2(m));
	assert_true(used0() == before);
	/* An 80%-of-card allocation costs the host only what is touched. */
	CHECK(cuMemAlloc_v2(&big, 12 * VXPU_GIB));
	CHECK(cuMemsetD8_v2(big + 6 * VXPU_GIB, 7, 4096));
	CHECK(cuMemFree_v2(big));
}

static void test_copies_and_kernels(void **state)
{
	(void)state;
	enum { N = 1024 };
	static uint32_t host[N], back[N];
	CUdeviceptr d1, d2;
	CHECK(cuMemAlloc_v2(&d1, sizeof(host)));
	CHECK(cuMemAlloc_v2(&d2, sizeof(host)));
	for (int i = 0; i < N; i++)
		host[i] = (uint32_t)i * 3;
	CHECK(cuMemcpyHtoD_v2(d1, host, sizeof(host)));
	CHECK(cuMemcpyDtoD_v2(d2, d1, sizeof(host)));
	CHECK(cuMemcpyDtoH_v2(back, d2, sizeof(back)));
	assert_memory_equal(host, back, sizeof(host));
	CHECK(cuMemsetD32_v2(d1, 0xdeadbeef, N));
	CHECK(cuMemcpyDtoH_v2(back, d1, sizeof(back)));
	assert_int_equal(back[N - 1], 0xdeadbeef);
	assert_int_equal(cuMemcpyHtoD_v2(d1 + sizeof(host) - 4, host, 8), CUDA_ERROR_INVALID_VALUE);

	CUstream s;
	CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	CHECK(cuMemsetD8Async(d2, 0x11, 16, s));
	CHECK(cuMemcpyDtoHAsync_v2(back, d2, 16, s));
	CHECK(cuStreamSynchronize(s));
	assert_int_equal(back[0], 0x11111111);

	/* fill through kernelParams and through the packed `extra` buffer. */
	CUfunction fill = kernel("fill");
	CUdeviceptr ptr = d1;
	uint32_t value = 42;
	uint64_t count = N / 2;
	void *params[] = {&ptr, &value, &count};
	CHECK(cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, s, params, NULL));
	struct {
		CUdeviceptr p;
		uint32_t v, pad;
		uint64_t n;
	} packed = {d1 + N / 2 * 4, 7, 0, N / 2};
	size_t psize = sizeof(packed);
	void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
	                 &psize, CU_LAUNCH_PARAM_END};
	CHECK(cuLaunchKernel(kernel("_Z4fillmjm"), 1, 1, 1, 1, 1, 1, 0, s, NULL, extra));
	CHECK(cuStreamSynchronize(s));
	CHECK(cuMemcpyDtoH_v2(back, d1, sizeof(back)));
	assert_int_equal(back[0], 42);
	assert_int_equal(back[N / 2 - 1], 42);
	assert_int_equal(back[N / 2], 7);
	/* A fill outside any allocation is an illegal address. */
	ptr = 4096;
	assert_int_equal(cuLaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, s, params, NULL),
	                 CUDA_ERROR_ILLEGAL_ADDRESS);

	/* busy occupies the device: events measure device time, queries see it pending. */
	CUfunction busy = kernel("busy");
	uint64_t usec = 30000;
	void *bp[] = {&usec};
	CUevent e0, e1;
	CHECK(cuEventCreate(&e0, 0));
	CHECK(cuEventCreate(&e1, 0));
	CHECK(cuEventRecord(e0, s));
	CHECK(cuLaunchKernel(busy, 1, 1, 1, 1, 1, 1, 0, s, bp, NULL));
	CHECK(cuEventRecord(e1, s));
	assert_int_equal(cuStreamQuery(s), CUDA_ERROR_NOT_READY);
	assert_int_equal(cuEventQuery(e1), CUDA_ERROR_NOT_READY);
	float ms = 0;
	assert_int_equal(cuEventElapsedTime_v2(&ms, e0, e1), CUDA_ERROR_NOT_READY);
	CHECK(cuEventSynchronize(e1));
	CHECK(cuStreamQuery(s));
	CHECK(cuEventElapsedTime_v2(&ms, e0, e1));
	assert_true(ms >= 30.0f && ms < 35.0f);

	/* Launch validation. */
	assert_int_equal(cuLaunchKernel(busy, 1, 1, 1, 2048, 1, 1, 0, s, bp, NULL),
	                 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuLaunchKernel((CUfunction)&ms, 1, 1, 1, 1, 1, 1, 0, s, bp, NULL),
	                 CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuLaunchCooperativeKernel(busy, 80 * 32 + 1, 1, 1, 1, 1, 1, 0, s, bp),
	                 CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
	usec = 1000;
	CHECK(cuLaunchCooperativeKernel(busy, 80, 1, 1, 1, 1, 1, 0, s, bp));
	CUlaunchAttribute at = {.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE};
	at.value.cooperative = 1;
	CUlaunchConfig lc = {.gridDimX = 1,
	                     .gridDimY = 1,
	                     .gridDimZ = 1,
	                     .blockDimX = 1,
	                     .blockDimY = 1,
	                     .blockDimZ = 1,
	                     .hStream = s,
	                     .attrs = &at,
	                     .numAttrs = 1};
	CHECK(cuLaunchKernelEx(&lc, busy, bp, NULL));
	/* Per-thread default stream forms. */
	CHECK(cuLaunchKernel_ptsz(busy, 1, 1, 1, 1, 1, 1, 0, NULL, bp, NULL));
	CHECK(cuStreamSynchronize_ptsz(NULL));
	CHECK(cuStreamSynchronize(s));
	CHECK(cuEventDestroy_v2(e0));
	CHECK(cuEventDestroy_v2(e1));
	CHECK(cuStreamDestroy_v2(s));
	CHECK(cuMemFree_v2(d1));
	CHECK(cuMemFree_v2(d2));
}

static void test_pools(void **state)
{
	(void)state;
	uint64_t before = used0();
	CUmemoryPool pool;
	cuuint64_t v;
	CHECK(cuDeviceGetDefaultMemPool(&pool, 0));
	CUstream s;
	CHECK(cuStreamCreate(&s, 0));
	CUdeviceptr p;
	CHECK(cuMemAllocAsync(&p, 3 * VXPU_MIB, s));
	CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &v));
	assert_true(v == 4 * VXPU_MIB); /* 2 MiB granules */
	assert_true(used0() == before + 4 * VXPU_MIB);
	CHECK(cuMemsetD8Async(p, 1, 3 * VXPU_MIB, s));
	CHECK(cuMemFreeAsync(p, s));
	/* Freed but still reserved (and charged) until the application synchronises. */
	CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v));
	assert_true(v == 0);
	assert_true(used0() == before + 4 * VXPU_MIB);
	CHECK(cuStreamSynchronize(s));
	assert_true(used0() == before);
	/* With a release threshold the pool keeps its memory; TrimTo gives it back. */
	v = 64 * VXPU_MIB;
	CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v));
	CHECK(cuMemAllocAsync(&p, VXPU_MIB, s));
	CHECK(cuMemFreeAsync(p, s));
	CHECK(cuStreamSynchronize(s));
	assert_true(used0() == before + 2 * VXPU_MIB);
	CUdeviceptr q;
	CHECK(cuMemAllocAsync(&q, VXPU_MIB, s)); /* reuses the kept block */
	assert_true(q == p);
	assert_true(used0() == before + 2 * VXPU_MIB);
	CHECK(cuMemFreeAsync(q, s));
	CHECK(cuMemPoolTrimTo(pool, 0));
	assert_true(used0() == before);
	CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, &v));
	assert_true(v == 4 * VXPU_MIB);
	v = 0;
	CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, &v));
	CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, &v));
	assert_true(v == 0);
	v = 0;
	CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v));

	/* An explicit pool; destroying it gives its reservation back. */
	CUmemPoolProps props = {.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
	                        .location = {CU_MEM_LOCATION_TYPE_DEVICE, 0}};
	CUmemoryPool mine;
	CHECK(cuMemPoolCreate(&mine, &props));
	CHECK(cuMemAllocFromPoolAsync(&p, 5 * VXPU_MIB, mine, s));
	assert_true(used0() == before + 6 * VXPU_MIB);
	CHECK(cuMemFreeAsync(p, s));
	CHECK(cuMemPoolDestroy(mine));
	assert_true(used0() == before);
	assert_int_equal(cuMemPoolDestroy(pool), CUDA_ERROR_INVALID_VALUE); /* the default */
	CHECK(cuStreamDestroy_v2(s));
}

static void test_vmm(void **state)
{
	(void)state;
	uint64_t before = used0();
	CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
	                            .location = {CU_MEM_LOCATION_TYPE_DEVICE, 0}};
	size_t gran;
	CHECK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
	assert_int_equal(gran, 2 * VXPU_MIB);
	CUdeviceptr va;
	CHECK(cuMemAddressReserve(&va, 8 * gran, 0, 0, 0));
	assert_true(used0() == before); /* address space is free */
	CUmemGenericAllocationHandle h;
	assert_int_equal(cuMemCreate(&h, gran + 1, &prop, 0), CUDA_ERROR_INVALID_VALUE);
	CHECK(cuMemCreate(&h, 2 * gran, &prop, 0));
	assert_true(used0() == before + 2 * gran);
	CHECK(cuMemMap(va, 2 * gran, 0, h, 0));
	CHECK(cuMemMap(va + 4 * gran, gran, gran, h, 0)); /* second view of the second half */
	assert_int_equal(cuMemMap(va, gran, 0, h, 0), CUDA_ERROR_ALREADY_MAPPED);
	CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0},
	                       CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
	assert_int_equal(cuMemcpyHtoD_v2(va, "x", 1), CUDA_ERROR_INVALID_VALUE); /* no access yet */
	CHECK(cuMemSetAccess(va, 2 * gran, &acc, 1));
	CHECK(cuMemSetAccess(va + 4 * gran, gran, &acc, 1));
	uint32_t word = 0x12345678, back = 0;
	CHECK(cuMemcpyHtoD_v2(va + gran + 64, &word, 4));
	CHECK(cuMemcpyDtoH_v2(&back, va + 4 * gran + 64, 4)); /* same physical bytes */
	assert_int_equal(back, word);
	/* Released but mapped: the memory lives, and stays charged. */
	CHECK(cuMemRelease(h));
	assert_true(used0() == before + 2 * gran);
	CHECK(cuMemcpyDtoH_v2(&back, va + gran + 64, 4));
	assert_int_equal(back, word);
	CHECK(cuMemUnmap(va, 2 * gran));
	assert_true(used0() == before + 2 * gran);
	CHECK(cuMemUnmap(va + 4 * gran, gran));
	assert_true(used0() == before);
	CHECK(cuMemAddressFree(va, 8 * gran));
}

static void test_arrays(void **state)
{
	(void)state;
	uint64_t before = used0();
	CUDA_ARRAY_DESCRIPTOR d2 = {1000, 1000, CU_AD_FORMAT_FLOAT, 4};
	CUarray a;
	CHECK(cuArrayCreate_v2(&a, &d2));
	assert_true(used0() == before + 16384000); /* 16000-byte rows padded to 16384 */
	CUDA_ARRAY3D_DESCRIPTOR d3 = {
	        64, 64, 6, CU_AD_FORMAT_UNSIGNED_INT8, 1, CUDA_ARRAY3D_CUBEMAP};
	CUarray cube;
	CHECK(cuArray3DCreate_v2(&cube, &d3));
	assert_true(used0() == before + 16384000 + 3 * 65536); /* 512 * 64 * 6 faces */
	CUmipmappedArray mm;
	CUDA_ARRAY3D_DESCRIPTOR dm = {256, 256, 0, CU_AD_FORMAT_FLOAT, 1, 0};
	CHECK(cuMipmappedArrayCreate(&mm, &dm, 3));
	/* levels 256x256, 128x128, 64x64 of 4-byte texels: 256K + 64K + 64K (rounded) */
	assert_true(used0() == before + 16384000 + 3 * 65536 + 262144 + 65536 + 65536);
	CUarray level;
	CHECK(cuMipmappedArrayGetLevel(&level, mm, 2));
	assert_int_equal(cuArrayDestroy(level), CUDA_ERROR_INVALID_HANDLE);
	CHECK(cuMipmappedArrayDestroy(mm));
	CHECK(cuArrayDestroy(cube));
	CHECK(cuArrayDestroy(a));
	assert_true(used0() == before);
	CUDA_ARRAY_DESCRIPTOR bad = {0, 1, CU_AD_FORMAT_FLOAT, 3};
	assert_int_equal(cuArrayCreate_v2(&a, &bad), CUDA_ERROR_INVALID_VALUE);
}

static void test_graph_replay(void **state)
{
	(void)state;
	enum { N = 256 };
	uint32_t back[N];
	CUdeviceptr d;
	CHECK(cuMemAlloc_v2(&d, N * 4));
	CHECK(cuMemsetD32_v2(d, 0, N));
	CUstream s;
	CHECK(cuStreamCreate(&s, 0));
	CUfunction fill = kernel("fill"), busy = kernel("busy");
	uint32_t value = 9;
	uint64_t count = N, usec = 20000;
	void *fp[] = {&d, &value, &count};
	void *bp[] = {&usec};
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CUstreamCaptureStatus st;
	CHECK(cuStreamIsCapturing(s, &st));
	assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
	CHECK(cuLaunchKernel(busy, 1, 1, 1, 1, 1, 1, 0, s, bp, NULL));
	CHECK(cuLaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, s, fp, NULL));
	assert_int_equal(cuMemsetD8Async(d, 0, 4, s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CUgraph g;
	CHECK(cuStreamEndCapture(s, &g));
	/* Captured, not run. */
	CHECK(cuMemcpyDtoH_v2(back, d, sizeof(back)));
	assert_int_equal(back[0], 0);
	CUgraphExec x;
	CHECK(cuGraphInstantiateWithFlags(&x, g, 0));
	uint64_t t0 = vxpu_sim_now_ns();
	CHECK(cuGraphLaunch(x, s));
	CHECK(cuGraphLaunch(x, s));
	CHECK(cuStreamSynchronize(s));
	uint64_t t1 = vxpu_sim_now_ns();
	/* Both replays ran their busy kernel (2 x 20 ms of device time) and the fill. */
	assert_true(vxpu_sim_busy_total(&referee, 0, t0, t1) >= 40000000ULL);
	assert_true(t1 - t0 >= 40000000ULL);
	CHECK(cuMemcpyDtoH_v2(back, d, sizeof(back)));
	assert_int_equal(back[0], 9);
	assert_int_equal(back[N - 1], 9);
	CHECK(cuGraphExecDestroy(x));
	CHECK(cuGraphDestroy(g));
	/* Synchronising a capturing stream invalidates the capture. */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	assert_int_equal(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	assert_int_equal(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	assert_int_equal(cuStreamBeginCapture_v2(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL),
	                 CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CHECK(cuStreamDestroy_v2(s));
	CHECK(cuMemFree_v2(d));
}

static void *proc(const char *name, int version, cuuint64_t flags,
                  CUdriverProcAddressQueryResult *status)
{
	void *fn = NULL;
	CUresult rc = cuGetProcAddress_v2(name, &fn, version, flags, status);
	assert_true((rc == CUDA_SUCCESS) == (fn != NULL));
	return fn;
}

static void test_get_proc_address(void **state)
{
	(void)state;
	CUdriverProcAddressQueryResult st;
	const cuuint64_t PT = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
	assert_ptr_equal(proc("cuMemAlloc", 13000, 0, &st), (void *)cuMemAlloc_v2);
	assert_int_equal(st, CU_GET_PROC_ADDRESS_SUCCESS);
	assert_ptr_equal(proc("cuMemAlloc", 3010, 0, &st), (void *)cuMemAlloc);
	assert_ptr_equal(proc("cuCtxCreate", 11030, 0, &st), (void *)cuCtxCreate_v2);
	assert_ptr_equal(proc("cuCtxCreate", 11040, 0, &st), (void *)cuCtxCreate_v3);
	assert_ptr_equal(proc("cuCtxCreate", 12050, 0, &st), (void *)cuCtxCreate_v4);
	assert_ptr_equal(proc("cuGetProcAddress", 12000, 0, &st), (void *)cuGetProcAddress_v2);
	assert_ptr_equal(proc("cuGetProcAddress", 11080, 0, &st), (void *)cuGetProcAddress);
	assert_ptr_equal(proc("cuGraphInstantiate", 11000, 0, &st), (void *)cuGraphInstantiate_v2);
	assert_ptr_equal(proc("cuGraphInstantiate", 12000, 0, &st),
	                 (void *)cuGraphInstantiateWithFlags);
	assert_ptr_equal(proc("cuEventElapsedTime", 12080, 0, &st), (void *)cuEventElapsedTime_v2);
	assert_ptr_equal(proc("cuDevicePrimaryCtxRelease", 11000, 0, &st),
	                 (void *)cuDevicePrimaryCtxRelease_v2);
	/* Per-thread default stream: the _ptsz / _ptds variants. */
	assert_ptr_equal(proc("cuLaunchKernel", 12000, 0, &st), (void *)cuLaunchKernel);
	assert_ptr_equal(proc("cuLaunchKernel", 12000, PT, &st), (void *)cuLaunchKernel_ptsz);
	assert_ptr_equal(proc("cuLaunchKernel", 6050, PT, &st), (void *)cuLaunchKernel);
	assert_ptr_equal(proc("cuMemcpyHtoD", 12000, PT, &st), (void *)cuMemcpyHtoD_v2_ptds);
	assert_ptr_equal(proc("cuMemAllocAsync", 12000, PT, &st), (void *)cuMemAllocAsync_ptsz);
	assert_ptr_equal(proc("cuStreamBeginCapture", 10000, PT, &st),
	                 (void *)cuStreamBeginCapture_ptsz);
	assert_ptr_equal(proc("cuStreamBeginCapture", 12000, PT, &st),
	                 (void *)cuStreamBeginCapture_v2_ptsz);
	assert_ptr_equal(proc("cuGraphLaunch", 12000, PT, &st), (void *)cuGraphLaunch_ptsz);
	assert_ptr_equal(proc("cuMemAlloc", 12000, PT, &st), (void *)cuMemAlloc_v2);
	/* Misses. */
	assert_null(proc("cuNoSuchCall", 12000, 0, &st));
	assert_int_equal(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	assert_null(proc("cuMemAllocAsync", 11010, 0, &st));
	assert_int_equal(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	assert_null(proc("cuMemAlloc_v2", 12000, 0, &st)); /* base names only */
	void *fn;
	assert_int_equal(cuGetProcAddress_v2("cuInit", &fn, 12000, 4, &st),
	                 CUDA_ERROR_INVALID_VALUE);
	CHECK(cuGetProcAddress("cuInit", &fn, 12000, 0));
	assert_ptr_equal(fn, (void *)cuInit);
}

/*
 * Cross-check with NVIDIA's cudaTypedefs.h when installed: every
 * PFN_<name>_v<version> of a name the simulator knows must resolve at that
 * version, and to the variant the naming rule gives (n-th version = _v<n>).
 */
static void test_procs_match_cuda_typedefs(void **state)
{
	(void)state;
	FILE *f = fopen("/usr/local/cuda/include/cudaTypedefs.h", "r");
	if (!f)
		skip();
	regex_t re;
	assert_int_equal(regcomp(&re, "PFN_(cu[A-Za-z0-9]+)_v([0-9]+)(_pt[sd]z)?\\)", REG_EXTENDED),
	                 0);
	enum { MAX = 4096 };
	static struct {
		char name[64];
		int version;
	} pfn[MAX];
	int n = 0;
	char line[1024];
	while (n < MAX && fgets(line, sizeof(line), f)) {
		regmatch_t m[4];
		const char *text = line + strspn(line, " \t");
		if (strncmp(text, "typedef", 7) != 0 || regexec(&re, line, 4, m, 0) != 0 ||
		    m[3].rm_so >= 0)
			continue; /* only the plain (not per-thread) variants */
		snprintf(pfn[n].name, sizeof(pfn[n].name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
		         line + m[1].rm_so);
		pfn[n].version = atoi(line + m[2].rm_so);
		n++;
	}
	regfree(&re);
	fclose(f);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		CUdriverProcAddressQueryResult st;
		void *fn = NULL;
		const char *name = pfn[i].name;
		if (cuGetProcAddress_v2(name, &fn, 99999, 0, &st) != CUDA_SUCCESS)
			continue; /* not simulated */
		if (cuGetProcAddress_v2(name, &fn, pfn[i].version, 0, &st) != CUDA_SUCCESS)
			continue; /* an early variant the simulator does not export */
		int index = 0;    /* how many older variants the name has */
		for (int j = 0; j < n; j++)
			if (strcmp(pfn[j].name, name) == 0 && pfn[j].version < pfn[i].version)
				index++;
		Dl_info info;
		assert_true(dladdr(fn, &info) != 0 && info.dli_sname);
		char want[sizeof(pfn[0].name) + 16];
		if (index == 0)
			snprintf(want, sizeof(want), "%.63s", name);
		else
			snprintf(want, sizeof(want), "%.63s_v%d", name, index + 1);
		if (strcmp(info.dli_sname, want) != 0)
			fail_msg("%s at %d resolves to %s, want %s", name, pfn[i].version,
			         info.dli_sname, want);
		checked++;
	}
	assert_true(checked > 100);
}

/* Threads share the driver: each allocates, fills through its per-thread
 * default stream, checks, frees; the device ends where it began. */
static void *thread_work(void *arg)
{
	CUfunction fill = arg;
	if (cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
		return (void *)1;
	for (int i = 0; i < 100; i++) {
		CUdeviceptr d;
		uint32_t value = (uint32_t)i, back = 0;
		uint64_t count = 64;
		void *params[] = {&d, &value, &count};
		if (cuMemAlloc_v2(&d, 256) != CUDA_SUCCESS ||
		    cuLaunchKernel_ptsz(fill, 1, 1, 1, 64, 1, 1, 0, NULL, params, NULL) !=
		            CUDA_SUCCESS ||
		    cuStreamSynchronize_ptsz(NULL) != CUDA_SUCCESS ||
		    cuMemcpyDtoH_v2_ptds(&back, d + 252, 4) != CUDA_SUCCESS || back != value ||
		    cuMemFree_v2(d) != CUDA_SUCCESS)
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	uint64_t before = used0();
	CUfunction fill = kernel("fill");
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_work, fill), 0);
	for (int i = 0; i < 4; i++) {
		void *rc = NULL;
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
	assert_true(used0() == before);
}

static void test_lost_device(void **state)
{
	(void)state;
	CUdeviceptr p;
	vxpu_sim_set_lost(&referee, 0);
	assert_int_equal(cuMemAlloc_v2(&p, 4096), CUDA_ERROR_DEVICE_UNAVAILABLE);
	assert_int_equal(cuCtxSynchronize(), CUDA_ERROR_DEVICE_UNAVAILABLE);
	char name[64];
	CHECK(cuDeviceGetName(name, sizeof(name), 0)); /* identity still answers */
	vxpu_sim_clear(&referee, 0);
	CHECK(cuMemAlloc_v2(&p, 4096));
	CHECK(cuMemFree_v2(p));
}

static void test_fork_child_starts_afresh(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int n;
		CUcontext c;
		CUdeviceptr p;
		if (cuDeviceGetCount(&n) != CUDA_ERROR_NOT_INITIALIZED)
			_exit(10);
		if (cuInit(0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&c, 0) != CUDA_SUCCESS ||
		    cuCtxSetCurrent(c) != CUDA_SUCCESS ||
		    cuMemAlloc_v2(&p, VXPU_MIB) != CUDA_SUCCESS)
			_exit(11);
		_exit(0); /* exits holding 1 MiB: reclaimed as a dead process's */
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	uint64_t before = used0();
	vxpu_sim_reap(&referee);
	assert_true(used0() == before - VXPU_MIB);
	int n;
	CHECK(cuDeviceGetCount(&n)); /* the parent is untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_basics),
	        cmocka_unit_test(test_contexts),
	        cmocka_unit_test(test_allocations),
	        cmocka_unit_test(test_copies_and_kernels),
	        cmocka_unit_test(test_pools),
	        cmocka_unit_test(test_vmm),
	        cmocka_unit_test(test_arrays),
	        cmocka_unit_test(test_graph_replay),
	        cmocka_unit_test(test_get_proc_address),
	        cmocka_unit_test(test_procs_match_cuda_typedefs),
	        cmocka_unit_test(test_threads),
	        cmocka_unit_test(test_lost_device),
	        cmocka_unit_test(test_fork_child_starts_afresh),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
