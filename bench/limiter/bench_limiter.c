/*
 * bench_limiter - the driver calls whose cost libvxpu adds to, in loops that
 * bench/limiter.sh runs under callgrind with and without the library: the
 * per-call difference in instructions is the limiter's cost.
 *
 *   bench_limiter launch N   N cuLaunchKernel of a zero-length kernel
 *   bench_limiter alloc N    N cuMemAlloc_v2 (64 KiB) + cuMemFree_v2 pairs
 *
 * Everything that happens once (driver and limiter initialisation, the
 * first call of each entry point) happens before the measured function, and
 * callgrind counts only inside it (--toggle-collect), so the result is the
 * steady state an application sees.
 */
#include "cuda/cuda_abi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			fprintf(stderr, "bench_limiter: %s failed (%d)\n", #call, (int)rc_);       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* Kept out of line and named, so callgrind can count exactly these. */
__attribute__((noinline)) void bench_launches(CUfunction f, long n);
__attribute__((noinline)) void bench_allocs(long n);

__attribute__((noinline)) void bench_launches(CUfunction f, long n)
{
	unsigned long long usec = 0;
	void *params[] = {&usec};
	for (long i = 0; i < n; i++)
		CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
}

__attribute__((noinline)) void bench_allocs(long n)
{
	for (long i = 0; i < n; i++) {
		CUdeviceptr p;
		CHECK(cuMemAlloc_v2(&p, 65536));
		CHECK(cuMemFree_v2(p));
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "launch") != 0 && strcmp(argv[1], "alloc") != 0)) {
		fprintf(stderr, "usage: bench_limiter launch|alloc N\n");
		return 2;
	}
	long n = atol(argv[2]);
	CUdevice dev;
	CUcontext ctx;
	CHECK(cuInit(0));
	CHECK(cuDeviceGet(&dev, 0));
	CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CHECK(cuCtxSetCurrent(ctx));
	if (strcmp(argv[1], "launch") == 0) {
		static const char image[] = "simulated module";
		CUmodule mod;
		CUfunction f;
		CHECK(cuModuleLoadData(&mod, image));
		CHECK(cuModuleGetFunction(&f, mod, "busy"));
		bench_launches(f, 16); /* warm: first calls resolve entry points */
		CHECK(cuCtxSynchronize());
		bench_launches(f, n);
		CHECK(cuCtxSynchronize());
	} else {
		bench_allocs(16);
		bench_allocs(n);
	}
	return 0;
}
