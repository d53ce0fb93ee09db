/*
 * hook_launch.c - kernel launches: cuLaunchKernel, cuLaunchKernelEx,
 * cooperative launches, graph launches, each with its per-thread default
 * stream (_ptsz) form.
 *
 * They are interposed (exported, and handed out by cuGetProcAddress and by
 * dlsym on the driver's handle) so that every launch of the workload passes
 * through the limiter; the compute budget attaches here. Device memory is
 * not touched by a launch, so with no compute limit a launch is forwarded
 * at once: one load of the real entry point and a tail call, which is what
 * the launch benchmark (bench/limiter.sh) measures.
 */
#include "limiter/libvxpu.h"

/* The real entry, resolving the driver on the very first call. */
#define REAL_OR_FAIL(name)                                                                         \
	do {                                                                                       \
		if (VXPU_UNLIKELY(!limiter.cuda.name) &&                                           \
		    (limiter_cuda_real_ready() != 0 || !limiter.cuda.name))                        \
			return CUDA_ERROR_NOT_SUPPORTED;                                           \
	} while (0)

VXPU_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                    unsigned int gridDimZ, unsigned int blockDimX,
                                    unsigned int blockDimY, unsigned int blockDimZ,
                                    unsigned int sharedMemBytes, CUstream hStream,
                                    void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernel);
	return limiter.cuda.cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
	                                   blockDimZ, sharedMemBytes, hStream, kernelParams, extra);
}

VXPU_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                         unsigned int gridDimZ, unsigned int blockDimX,
                                         unsigned int blockDimY, unsigned int blockDimZ,
                                         unsigned int sharedMemBytes, CUstream hStream,
                                         void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernel_ptsz);
	return limiter.cuda.cuLaunchKernel_ptsz(f, gridDimX, gridDimY, gridDimZ, blockDimX,
	                                        blockDimY, blockDimZ, sharedMemBytes, hStream,
	                                        kernelParams, extra);
}

VXPU_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
                                      void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernelEx);
	return limiter.cuda.cuLaunchKernelEx(config, f, kernelParams, extra);
}

VXPU_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
                                           void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernelEx_ptsz);
	return limiter.cuda.cuLaunchKernelEx_ptsz(config, f, kernelParams, extra);
}

VXPU_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
                                               unsigned int gridDimY, unsigned int gridDimZ,
                                               unsigned int blockDimX, unsigned int blockDimY,
                                               unsigned int blockDimZ, unsigned int sharedMemBytes,
                                               CUstream hStream, void **kernelParams)
{
	REAL_OR_FAIL(cuLaunchCooperativeKernel);
	return limiter.cuda.cuLaunchCooperativeKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX,
	                                              blockDimY, blockDimZ, sharedMemBytes, hStream,
	                                              kernelParams);
}

VXPU_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                                    unsigned int gridDimY, unsigned int gridDimZ,
                                                    unsigned int blockDimX, unsigned int blockDimY,
                                                    unsigned int blockDimZ,
                                                    unsigned int sharedMemBytes, CUstream hStream,
                                                    void **kernelParams)
{
	REAL_OR_FAIL(cuLaunchCooperativeKernel_ptsz);
	return limiter.cuda.cuLaunchCooperativeKernel_ptsz(f, gridDimX, gridDimY, gridDimZ,
	                                                   blockDimX, blockDimY, blockDimZ,
	                                                   sharedMemBytes, hStream, kernelParams);
}

VXPU_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	REAL_OR_FAIL(cuGraphLaunch);
	return limiter.cuda.cuGraphLaunch(hGraphExec, hStream);
}

VXPU_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	REAL_OR_FAIL(cuGraphLaunch_ptsz);
	return limiter.cuda.cuGraphLaunch_ptsz(hGraphExec, hStream);
}
