/*
 * A driver-API program written against NVIDIA's own cuda.h (not vxpu's
 * headers), built and run on the simulator by tests/sim/cuda_h.sh when the
 * toolkit header is installed. Through the header's macros it calls the
 * versioned symbols (cuCtxCreate_v4, cuMemAlloc_v2, cuGetProcAddress_v2, ...)
 * exactly as a program built with the toolkit would, so it checks that the
 * simulator's exports, types and error codes match the real ABI.
 */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                                                \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			const char *n_ = "?";                                                      \
			cuGetErrorName(rc_, &n_);                                                  \
			fprintf(stderr, "line %d: %s: %s\n", __LINE__, #call, n_);                 \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(void)
{
	int version, count;
	CHECK(cuInit(0));
	CHECK(cuDriverGetVersion(&version));
	CHECK(cuDeviceGetCount(&count));
	CUdevice dev;
	char name[128];
	size_t total;
	CHECK(cuDeviceGet(&dev, 0));
	CHECK(cuDeviceGetName(name, sizeof(name), dev));
	CHECK(cuDeviceTotalMem(&total, dev));
	CUuuid uuid;
	CHECK(cuDeviceGetUuid(&uuid, dev));

	CUcontext ctx;
	CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
	size_t free0, total0;
	CHECK(cuMemGetInfo(&free0, &total0));

	enum { N = 4096 };
	static uint32_t host[N];
	CUdeviceptr d;
	CHECK(cuMemAlloc(&d, sizeof(host)));
	CHECK(cuMemsetD32(d, 0, N));

	CUmodule mod;
	CUfunction fill, busy;
	static const char image[] = "placeholder module image";
	CHECK(cuModuleLoadData(&mod, image));
	CHECK(cuModuleGetFunction(&fill, mod, "fill"));
	CHECK(cuModuleGetFunction(&busy, mod, "busy"));
	CUstream s;
	CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	uint32_t value = 0xC0FFEE;
	uint64_t n = N, usec = 5000;
	void *fill_args[] = {&d, &value, &n};
	void *busy_args[] = {&usec};
	CUevent start, stop;
	CHECK(cuEventCreate(&start, CU_EVENT_DEFAULT));
	CHECK(cuEventCreate(&stop, CU_EVENT_DEFAULT));
	CHECK(cuEventRecord(start, s));
	CHECK(cuLaunchKernel(busy, 1, 1, 1, 32, 1, 1, 0, s, busy_args, NULL));
	CHECK(cuLaunchKernel(fill, 16, 1, 1, 256, 1, 1, 0, s, fill_args, NULL));
	CHECK(cuEventRecord(stop, s));
	CHECK(cuStreamSynchronize(s));
	float ms;
	CHECK(cuEventElapsedTime(&ms, start, stop));
	CHECK(cuMemcpyDtoH(host, d, sizeof(host)));
	if (host[0] != value || host[N - 1] != value || ms < 5.0f) {
		fprintf(stderr, "fill/busy not observed: %x %x %.3f ms\n", host[0], host[N - 1],
		        ms);
		return 1;
	}

	/* The runtime's way in: entry points by name and version. */
	void *fn = NULL;
	CUdriverProcAddressQueryResult status;
	CHECK(cuGetProcAddress("cuMemAlloc", &fn, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT,
	                       &status));
	if (fn != (void *)cuMemAlloc || status != CU_GET_PROC_ADDRESS_SUCCESS) {
		fprintf(stderr, "cuGetProcAddress(cuMemAlloc) gave another function\n");
		return 1;
	}
	CUresult rc = cuMemAlloc(&d, (size_t)1 << 62);
	if (rc != CUDA_ERROR_OUT_OF_MEMORY) {
		fprintf(stderr, "huge allocation: %d, want CUDA_ERROR_OUT_OF_MEMORY\n", (int)rc);
		return 1;
	}
	CHECK(cuMemFree(d));
	CHECK(cuEventDestroy(start));
	CHECK(cuEventDestroy(stop));
	CHECK(cuStreamDestroy(s));
	CHECK(cuModuleUnload(mod));
	CHECK(cuCtxDestroy(ctx));
	printf("ok cuda=%d devices=%d name=\"%s\" total=%zu elapsed_ms=%.1f\n", version, count,
	       name, total, ms);
	return 0;
}
