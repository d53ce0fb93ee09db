/*
 * The ABI headers compile on their own and agree with the real driver ABI on
 * the facts programs depend on: enum values, struct sizes and field offsets
 * (LP64). A wrong layout here would corrupt memory in a program built against
 * NVIDIA's headers, so each checked value is one a caller passes or reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cuda/cuda_abi.h"
#include "cuda/nvml_abi.h"

static void test_cuda_values(void **state)
{
	(void)state;
	assert_int_equal(CUDA_ERROR_OUT_OF_MEMORY, 2);
	assert_int_equal(CUDA_ERROR_NO_DEVICE, 100);
	assert_int_equal(CUDA_ERROR_INVALID_HANDLE, 400);
	assert_int_equal(CUDA_ERROR_NOT_READY, 600);
	assert_int_equal(CUDA_ERROR_NOT_SUPPORTED, 801);
	assert_int_equal(CUDA_ERROR_UNKNOWN, 999);
	assert_int_equal(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 16);
	assert_int_equal(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 33);
	assert_int_equal(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 75);
	assert_int_equal(CU_DEVICE_ATTRIBUTE_NUMA_ID, 131);
	assert_int_equal(CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, 2);
	assert_int_equal(CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT, 2);
	assert_int_equal(CU_MEMPOOL_ATTR_USED_MEM_HIGH, 8);
	assert_int_equal(CU_AD_FORMAT_FLOAT, 0x20);
	assert_int_equal(CU_LAUNCH_ATTRIBUTE_COOPERATIVE, 2);
}

static void test_cuda_layouts(void **state)
{
	(void)state;
	assert_int_equal(sizeof(CUdeviceptr), 8);
	assert_int_equal(sizeof(CUuuid), 16);
	assert_int_equal(sizeof(CUmemLocation), 8);
	assert_int_equal(sizeof(CUmemAllocationProp), 32);
	assert_int_equal(offsetof(CUmemAllocationProp, win32HandleMetaData), 16);
	assert_int_equal(offsetof(CUmemAllocationProp, allocFlags), 24);
	assert_int_equal(sizeof(CUmemAccessDesc), 12);
	assert_int_equal(sizeof(CUmemPoolProps), 88);
	assert_int_equal(offsetof(CUmemPoolProps, maxSize), 24);
	assert_int_equal(sizeof(CUDA_ARRAY_DESCRIPTOR), 24);
	assert_int_equal(sizeof(CUDA_ARRAY3D_DESCRIPTOR), 40);
	assert_int_equal(sizeof(CUlaunchAttributeValue), 64);
	assert_int_equal(sizeof(CUlaunchAttribute), 72);
	assert_int_equal(offsetof(CUlaunchAttribute, value), 8);
	assert_int_equal(offsetof(CUlaunchConfig, hStream), 32);
	assert_int_equal(offsetof(CUlaunchConfig, numAttrs), 48);
	assert_int_equal(sizeof(CUlaunchConfig), 56);
	assert_int_equal(sizeof(CUctxCreateParams), 24);
	assert_int_equal(sizeof(CUexecAffinityParam), 8);
	assert_int_equal(sizeof(CUDA_GRAPH_INSTANTIATE_PARAMS), 32);
}

static void test_nvml(void **state)
{
	(void)state;
	assert_int_equal(NVML_ERROR_GPU_IS_LOST, 15);
	assert_int_equal(NVML_ERROR_TIMEOUT, 10);
	assert_int_equal(NVML_ERROR_INSUFFICIENT_SIZE, 7);
	assert_int_equal(NVML_TOPOLOGY_HOSTBRIDGE, 30);
	assert_int_equal(nvmlEventTypeXidCriticalError, 8);
	assert_int_equal(sizeof(nvmlPciInfo_t), 68);
	assert_int_equal(offsetof(nvmlPciInfo_t, busId), 36);
	assert_int_equal(sizeof(nvmlMemory_t), 24);
	assert_int_equal(sizeof(nvmlMemory_v2_t), 40);
	assert_int_equal(nvmlMemory_v2, 40u | (2u << 24));
	assert_int_equal(sizeof(nvmlProcessInfo_t), 24);
	assert_int_equal(offsetof(nvmlProcessInfo_t, gpuInstanceId), 16);
	assert_int_equal(sizeof(nvmlProcessUtilizationSample_t), 32);
	assert_int_equal(offsetof(nvmlProcessUtilizationSample_t, smUtil), 16);
	assert_int_equal(sizeof(nvmlEventData_t), 32);
	assert_int_equal(offsetof(nvmlEventData_t, eventData), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cuda_values),
	        cmocka_unit_test(test_cuda_layouts),
	        cmocka_unit_test(test_nvml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
