/*
 * cuda_procs.c - cuGetProcAddress: entry points by base name and version.
 *
 * Programs built with the CUDA runtime reach the driver through this call,
 * asking for a base name ("cuMemAlloc") and the CUDA version they were
 * written for; the driver answers with the symbol that version meant
 * (cuMemAlloc_v2 from 3.2 on). The table below lists, for every entry point
 * the simulator implements, the CUDA version at which each exported variant
 * became the one behind the base name, and the per-thread-default-stream
 * variants (`_ptsz`, `_ptds`). These versions are facts of the driver ABI,
 * the ones NVIDIA's cudaTypedefs.h encodes in its PFN_<name>_v<version>
 * names; tests/unit/sim/test_procs.c checks them against that header when
 * it is installed.
 *
 * Rules (as the real driver):
 *   - the highest variant whose version is <= the requested version wins;
 *   - with CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, a per-thread
 *     variant at or below the requested version wins over the plain one;
 *   - an unknown name gives CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND, a known
 *     name asked for at a too-old version CU_GET_PROC_ADDRESS_VERSION_NOT_-
 *     SUFFICIENT; both return CUDA_ERROR_NOT_FOUND and a NULL pointer.
 *   - The call works before cuInit (the runtime uses it to find cuInit).
 * The table is sorted by name for binary search.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

struct proc_version {
	int version;
	void *fn;
};

struct proc_entry {
	const char *name;
	struct proc_version plain[4];      /* ascending versions; fn NULL ends */
	struct proc_version per_thread[2]; /* ascending versions; fn NULL ends */
};

static const struct proc_entry procs[] = {
        {"cuArray3DCreate", {{3020, (void *)cuArray3DCreate_v2}}, {{0, NULL}}},
        {"cuArrayCreate", {{3020, (void *)cuArrayCreate_v2}}, {{0, NULL}}},
        {"cuArrayDestroy", {{2000, (void *)cuArrayDestroy}}, {{0, NULL}}},
        {"cuCtxCreate",
         {{2000, (void *)cuCtxCreate},
          {3020, (void *)cuCtxCreate_v2},
          {11040, (void *)cuCtxCreate_v3},
          {12050, (void *)cuCtxCreate_v4}},
         {{0, NULL}}},
        {"cuCtxDestroy",
         {{2000, (void *)cuCtxDestroy}, {4000, (void *)cuCtxDestroy_v2}},
         {{0, NULL}}},
        {"cuCtxGetApiVersion", {{3020, (void *)cuCtxGetApiVersion}}, {{0, NULL}}},
        {"cuCtxGetCurrent", {{4000, (void *)cuCtxGetCurrent}}, {{0, NULL}}},
        {"cuCtxGetDevice",
         {{2000, (void *)cuCtxGetDevice}, {13000, (void *)cuCtxGetDevice_v2}},
         {{0, NULL}}},
        {"cuCtxGetFlags", {{7000, (void *)cuCtxGetFlags}}, {{0, NULL}}},
        {"cuCtxGetLimit", {{3010, (void *)cuCtxGetLimit}}, {{0, NULL}}},
        {"cuCtxGetStreamPriorityRange", {{5050, (void *)cuCtxGetStreamPriorityRange}}, {{0, NULL}}},
        {"cuCtxPopCurrent",
         {{2000, (void *)cuCtxPopCurrent}, {4000, (void *)cuCtxPopCurrent_v2}},
         {{0, NULL}}},
        {"cuCtxPushCurrent",
         {{2000, (void *)cuCtxPushCurrent}, {4000, (void *)cuCtxPushCurrent_v2}},
         {{0, NULL}}},
        {"cuCtxSetCurrent", {{4000, (void *)cuCtxSetCurrent}}, {{0, NULL}}},
        {"cuCtxSetLimit", {{3010, (void *)cuCtxSetLimit}}, {{0, NULL}}},
        {"cuCtxSynchronize",
         {{2000, (void *)cuCtxSynchronize}, {13000, (void *)cuCtxSynchronize_v2}},
         {{0, NULL}}},
        {"cuDeviceGet", {{2000, (void *)cuDeviceGet}}, {{0, NULL}}},
        {"cuDeviceGetAttribute", {{2000, (void *)cuDeviceGetAttribute}}, {{0, NULL}}},
        {"cuDeviceGetByPCIBusId", {{4010, (void *)cuDeviceGetByPCIBusId}}, {{0, NULL}}},
        {"cuDeviceGetCount", {{2000, (void *)cuDeviceGetCount}}, {{0, NULL}}},
        {"cuDeviceGetDefaultMemPool", {{11020, (void *)cuDeviceGetDefaultMemPool}}, {{0, NULL}}},
        {"cuDeviceGetMemPool", {{11020, (void *)cuDeviceGetMemPool}}, {{0, NULL}}},
        {"cuDeviceGetName", {{2000, (void *)cuDeviceGetName}}, {{0, NULL}}},
        {"cuDeviceGetPCIBusId", {{4010, (void *)cuDeviceGetPCIBusId}}, {{0, NULL}}},
        {"cuDeviceGetUuid",
         {{9020, (void *)cuDeviceGetUuid}, {11040, (void *)cuDeviceGetUuid_v2}},
         {{0, NULL}}},
        {"cuDevicePrimaryCtxGetState", {{7000, (void *)cuDevicePrimaryCtxGetState}}, {{0, NULL}}},
        {"cuDevicePrimaryCtxRelease",
         {{7000, (void *)cuDevicePrimaryCtxRelease}, {11000, (void *)cuDevicePrimaryCtxRelease_v2}},
         {{0, NULL}}},
        {"cuDevicePrimaryCtxReset",
         {{7000, (void *)cuDevicePrimaryCtxReset}, {11000, (void *)cuDevicePrimaryCtxReset_v2}},
         {{0, NULL}}},
        {"cuDevicePrimaryCtxRetain", {{7000, (void *)cuDevicePrimaryCtxRetain}}, {{0, NULL}}},
        {"cuDevicePrimaryCtxSetFlags",
         {{7000, (void *)cuDevicePrimaryCtxSetFlags},
          {11000, (void *)cuDevicePrimaryCtxSetFlags_v2}},
         {{0, NULL}}},
        {"cuDeviceSetMemPool", {{11020, (void *)cuDeviceSetMemPool}}, {{0, NULL}}},
        {"cuDeviceTotalMem",
         {{2000, (void *)cuDeviceTotalMem}, {3020, (void *)cuDeviceTotalMem_v2}},
         {{0, NULL}}},
        {"cuDriverGetVersion", {{2020, (void *)cuDriverGetVersion}}, {{0, NULL}}},
        {"cuEventCreate", {{2000, (void *)cuEventCreate}}, {{0, NULL}}},
        {"cuEventDestroy",
         {{2000, (void *)cuEventDestroy}, {4000, (void *)cuEventDestroy_v2}},
         {{0, NULL}}},
        {"cuEventElapsedTime",
         {{2000, (void *)cuEventElapsedTime}, {12080, (void *)cuEventElapsedTime_v2}},
         {{0, NULL}}},
        {"cuEventQuery", {{2000, (void *)cuEventQuery}}, {{0, NULL}}},
        {"cuEventRecord", {{2000, (void *)cuEventRecord}}, {{7000, (void *)cuEventRecord_ptsz}}},
        {"cuEventRecordWithFlags",
         {{11010, (void *)cuEventRecordWithFlags}},
         {{11010, (void *)cuEventRecordWithFlags_ptsz}}},
        {"cuEventSynchronize", {{2000, (void *)cuEventSynchronize}}, {{0, NULL}}},
        {"cuGetErrorName", {{6000, (void *)cuGetErrorName}}, {{0, NULL}}},
        {"cuGetErrorString", {{6000, (void *)cuGetErrorString}}, {{0, NULL}}},
        {"cuGetExportTable", {{3000, (void *)cuGetExportTable}}, {{0, NULL}}},
        {"cuGetProcAddress",
         {{11030, (void *)cuGetProcAddress}, {12000, (void *)cuGetProcAddress_v2}},
         {{0, NULL}}},
        {"cuGraphCreate", {{10000, (void *)cuGraphCreate}}, {{0, NULL}}},
        {"cuGraphDestroy", {{10000, (void *)cuGraphDestroy}}, {{0, NULL}}},
        {"cuGraphExecDestroy", {{10000, (void *)cuGraphExecDestroy}}, {{0, NULL}}},
        {"cuGraphInstantiate",
         {{10000, (void *)cuGraphInstantiate},
          {11000, (void *)cuGraphInstantiate_v2},
          {12000, (void *)cuGraphInstantiateWithFlags}},
         {{0, NULL}}},
        {"cuGraphInstantiateWithFlags",
         {{11040, (void *)cuGraphInstantiateWithFlags}},
         {{0, NULL}}},
        {"cuGraphInstantiateWithParams",
         {{12000, (void *)cuGraphInstantiateWithParams}},
         {{12000, (void *)cuGraphInstantiateWithParams_ptsz}}},
        {"cuGraphLaunch", {{10000, (void *)cuGraphLaunch}}, {{10000, (void *)cuGraphLaunch_ptsz}}},
        {"cuInit", {{2000, (void *)cuInit}}, {{0, NULL}}},
        {"cuLaunchCooperativeKernel",
         {{9000, (void *)cuLaunchCooperativeKernel}},
         {{9000, (void *)cuLaunchCooperativeKernel_ptsz}}},
        {"cuLaunchKernel", {{4000, (void *)cuLaunchKernel}}, {{7000, (void *)cuLaunchKernel_ptsz}}},
        {"cuLaunchKernelEx",
         {{11060, (void *)cuLaunchKernelEx}},
         {{11060, (void *)cuLaunchKernelEx_ptsz}}},
        {"cuMemAddressFree", {{10020, (void *)cuMemAddressFree}}, {{0, NULL}}},
        {"cuMemAddressReserve", {{10020, (void *)cuMemAddressReserve}}, {{0, NULL}}},
        {"cuMemAlloc", {{2000, (void *)cuMemAlloc}, {3020, (void *)cuMemAlloc_v2}}, {{0, NULL}}},
        {"cuMemAllocAsync",
         {{11020, (void *)cuMemAllocAsync}},
         {{11020, (void *)cuMemAllocAsync_ptsz}}},
        {"cuMemAllocFromPoolAsync",
         {{11020, (void *)cuMemAllocFromPoolAsync}},
         {{11020, (void *)cuMemAllocFromPoolAsync_ptsz}}},
        {"cuMemAllocHost",
         {{2000, (void *)cuMemAllocHost}, {3020, (void *)cuMemAllocHost_v2}},
         {{0, NULL}}},
        {"cuMemAllocManaged", {{6000, (void *)cuMemAllocManaged}}, {{0, NULL}}},
        {"cuMemAllocPitch",
         {{2000, (void *)cuMemAllocPitch}, {3020, (void *)cuMemAllocPitch_v2}},
         {{0, NULL}}},
        {"cuMemCreate", {{10020, (void *)cuMemCreate}}, {{0, NULL}}},
        {"cuMemFree", {{2000, (void *)cuMemFree}, {3020, (void *)cuMemFree_v2}}, {{0, NULL}}},
        {"cuMemFreeAsync",
         {{11020, (void *)cuMemFreeAsync}},
         {{11020, (void *)cuMemFreeAsync_ptsz}}},
        {"cuMemFreeHost", {{2000, (void *)cuMemFreeHost}}, {{0, NULL}}},
        {"cuMemGetAddressRange", {{3020, (void *)cuMemGetAddressRange_v2}}, {{0, NULL}}},
        {"cuMemGetAllocationGranularity",
         {{10020, (void *)cuMemGetAllocationGranularity}},
         {{0, NULL}}},
        {"cuMemGetInfo",
         {{2000, (void *)cuMemGetInfo}, {3020, (void *)cuMemGetInfo_v2}},
         {{0, NULL}}},
        {"cuMemHostAlloc", {{2020, (void *)cuMemHostAlloc}}, {{0, NULL}}},
        {"cuMemHostRegister",
         {{4000, (void *)cuMemHostRegister}, {6050, (void *)cuMemHostRegister_v2}},
         {{0, NULL}}},
        {"cuMemHostUnregister", {{4000, (void *)cuMemHostUnregister}}, {{0, NULL}}},
        {"cuMemMap", {{10020, (void *)cuMemMap}}, {{0, NULL}}},
        {"cuMemPoolCreate", {{11020, (void *)cuMemPoolCreate}}, {{0, NULL}}},
        {"cuMemPoolDestroy", {{11020, (void *)cuMemPoolDestroy}}, {{0, NULL}}},
        {"cuMemPoolGetAttribute", {{11020, (void *)cuMemPoolGetAttribute}}, {{0, NULL}}},
        {"cuMemPoolSetAttribute", {{11020, (void *)cuMemPoolSetAttribute}}, {{0, NULL}}},
        {"cuMemPoolTrimTo", {{11020, (void *)cuMemPoolTrimTo}}, {{0, NULL}}},
        {"cuMemRelease", {{10020, (void *)cuMemRelease}}, {{0, NULL}}},
        {"cuMemSetAccess", {{10020, (void *)cuMemSetAccess}}, {{0, NULL}}},
        {"cuMemUnmap", {{10020, (void *)cuMemUnmap}}, {{0, NULL}}},
        {"cuMemcpy", {{4000, (void *)cuMemcpy}}, {{7000, (void *)cuMemcpy_ptds}}},
        {"cuMemcpyAsync", {{4000, (void *)cuMemcpyAsync}}, {{7000, (void *)cuMemcpyAsync_ptsz}}},
        {"cuMemcpyDtoD", {{3020, (void *)cuMemcpyDtoD_v2}}, {{7000, (void *)cuMemcpyDtoD_v2_ptds}}},
        {"cuMemcpyDtoDAsync",
         {{3020, (void *)cuMemcpyDtoDAsync_v2}},
         {{7000, (void *)cuMemcpyDtoDAsync_v2_ptsz}}},
        {"cuMemcpyDtoH", {{3020, (void *)cuMemcpyDtoH_v2}}, {{7000, (void *)cuMemcpyDtoH_v2_ptds}}},
        {"cuMemcpyDtoHAsync",
         {{3020, (void *)cuMemcpyDtoHAsync_v2}},
         {{7000, (void *)cuMemcpyDtoHAsync_v2_ptsz}}},
        {"cuMemcpyHtoD", {{3020, (void *)cuMemcpyHtoD_v2}}, {{7000, (void *)cuMemcpyHtoD_v2_ptds}}},
        {"cuMemcpyHtoDAsync",
         {{3020, (void *)cuMemcpyHtoDAsync_v2}},
         {{7000, (void *)cuMemcpyHtoDAsync_v2_ptsz}}},
        {"cuMemsetD32", {{3020, (void *)cuMemsetD32_v2}}, {{7000, (void *)cuMemsetD32_v2_ptds}}},
        {"cuMemsetD32Async",
         {{3020, (void *)cuMemsetD32Async}},
         {{7000, (void *)cuMemsetD32Async_ptsz}}},
        {"cuMemsetD8", {{3020, (void *)cuMemsetD8_v2}}, {{7000, (void *)cuMemsetD8_v2_ptds}}},
        {"cuMemsetD8Async",
         {{3020, (void *)cuMemsetD8Async}},
         {{7000, (void *)cuMemsetD8Async_ptsz}}},
        {"cuMipmappedArrayCreate", {{5000, (void *)cuMipmappedArrayCreate}}, {{0, NULL}}},
        {"cuMipmappedArrayDestroy", {{5000, (void *)cuMipmappedArrayDestroy}}, {{0, NULL}}},
        {"cuMipmappedArrayGetLevel", {{5000, (void *)cuMipmappedArrayGetLevel}}, {{0, NULL}}},
        {"cuModuleGetFunction", {{2000, (void *)cuModuleGetFunction}}, {{0, NULL}}},
        {"cuModuleLoad", {{2000, (void *)cuModuleLoad}}, {{0, NULL}}},
        {"cuModuleLoadData", {{2000, (void *)cuModuleLoadData}}, {{0, NULL}}},
        {"cuModuleLoadDataEx", {{2010, (void *)cuModuleLoadDataEx}}, {{0, NULL}}},
        {"cuModuleLoadFatBinary", {{2000, (void *)cuModuleLoadFatBinary}}, {{0, NULL}}},
        {"cuModuleUnload", {{2000, (void *)cuModuleUnload}}, {{0, NULL}}},
        {"cuPointerGetAttribute", {{4000, (void *)cuPointerGetAttribute}}, {{0, NULL}}},
        {"cuStreamBeginCapture",
         {{10000, (void *)cuStreamBeginCapture}, {10010, (void *)cuStreamBeginCapture_v2}},
         {{10000, (void *)cuStreamBeginCapture_ptsz},
          {10010, (void *)cuStreamBeginCapture_v2_ptsz}}},
        {"cuStreamCreate", {{2000, (void *)cuStreamCreate}}, {{0, NULL}}},
        {"cuStreamCreateWithPriority", {{5050, (void *)cuStreamCreateWithPriority}}, {{0, NULL}}},
        {"cuStreamDestroy",
         {{2000, (void *)cuStreamDestroy}, {4000, (void *)cuStreamDestroy_v2}},
         {{0, NULL}}},
        {"cuStreamEndCapture",
         {{10000, (void *)cuStreamEndCapture}},
         {{10000, (void *)cuStreamEndCapture_ptsz}}},
        {"cuStreamGetCtx",
         {{9020, (void *)cuStreamGetCtx}, {12050, (void *)cuStreamGetCtx_v2}},
         {{9020, (void *)cuStreamGetCtx_ptsz}, {12050, (void *)cuStreamGetCtx_v2_ptsz}}},
        {"cuStreamIsCapturing",
         {{10000, (void *)cuStreamIsCapturing}},
         {{10000, (void *)cuStreamIsCapturing_ptsz}}},
        {"cuStreamQuery", {{2000, (void *)cuStreamQuery}}, {{7000, (void *)cuStreamQuery_ptsz}}},
        {"cuStreamSynchronize",
         {{2000, (void *)cuStreamSynchronize}},
         {{7000, (void *)cuStreamSynchronize_ptsz}}},
        {"cuStreamWaitEvent",
         {{3020, (void *)cuStreamWaitEvent}},
         {{7000, (void *)cuStreamWaitEvent_ptsz}}},
};

static int entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct proc_entry *)elem)->name);
}

/* Best variant of list[n] at or below version, or NULL. */
static void *best(const struct proc_version *list, size_t n, int version)
{
	void *fn = NULL;
	for (size_t i = 0; i < n && list[i].fn; i++)
		if (list[i].version <= version)
			fn = list[i].fn;
	return fn;
}

static CUresult get_proc(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                         CUdriverProcAddressQueryResult *status)
{
	if (!symbol || !pfn || cudaVersion < 0 ||
	    (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
	                           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)))
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = NULL;
	const struct proc_entry *e = bsearch(symbol, procs, sizeof(procs) / sizeof(procs[0]),
	                                     sizeof(procs[0]), entry_cmp);
	if (!e) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
		return CUDA_ERROR_NOT_FOUND;
	}
	void *fn = NULL;
	if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
		fn = best(e->per_thread, 2, cudaVersion);
	if (!fn)
		fn = best(e->plain, 4, cudaVersion);
	if (!fn) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
		return CUDA_ERROR_NOT_FOUND;
	}
	*pfn = fn;
	if (status)
		*status = CU_GET_PROC_ADDRESS_SUCCESS;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
	return get_proc(symbol, pfn, cudaVersion, flags, NULL);
}

SIM_API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                     cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
	return get_proc(symbol, pfn, cudaVersion, flags, symbolStatus);
}
