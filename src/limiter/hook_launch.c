/*
 * hook_launch.c - kernel launches: cuLaunchKernel, cuLaunchKernelEx,
 * cooperative launches, graph launches, each with its per-thread default
 * stream (_ptsz) form.
 *
 * They are interposed (exported, and handed out by cuGetProcAddress and by
 * dlsym on the driver's handle) so that every launch of the workload passes
 * through the limiter. Every form takes the same path: with neither a
 * compute limit nor a priority (limiter_compute_skip, a few loads) the
 * launch is forwarded at once, which is what the launch benchmark
 * (bench/limiter.sh) measures; otherwise the compute limiter (compute.h)
 * brackets it. A graph launch is one launch to the budget: its measured
 * device time is that of the whole graph. Launches into a capturing stream
 * only record work for later and are forwarded untouched.
 */
#include "limiter/compute.h"

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
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX,
		                                   blockDimY, blockDimZ, sharedMemBytes, hStream,
		                                   kernelParams, extra);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, false);
	CUresult rc = limiter.cuda.cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX,
	                                          blockDimY, blockDimZ, sharedMemBytes, hStream,
	                                          kernelParams, extra);
	limiter_compute_leave(&t, hStream, false, rc);
	return rc;
}

VXPU_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                         unsigned int gridDimZ, unsigned int blockDimX,
                                         unsigned int blockDimY, unsigned int blockDimZ,
                                         unsigned int sharedMemBytes, CUstream hStream,
                                         void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernel_ptsz);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchKernel_ptsz(f, gridDimX, gridDimY, gridDimZ, blockDimX,
		                                        blockDimY, blockDimZ, sharedMemBytes,
		                                        hStream, kernelParams, extra);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, true);
	CUresult rc = limiter.cuda.cuLaunchKernel_ptsz(f, gridDimX, gridDimY, gridDimZ, blockDimX,
	                                               blockDimY, blockDimZ, sharedMemBytes,
	                                               hStream, kernelParams, extra);
	limiter_compute_leave(&t, hStream, true, rc);
	return rc;
}

VXPU_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
                                      void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernelEx);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchKernelEx(config, f, kernelParams, extra);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, config ? config->hStream : NULL, false);
	CUresult rc = limiter.cuda.cuLaunchKernelEx(config, f, kernelParams, extra);
	limiter_compute_leave(&t, config ? config->hStream : NULL, false, rc);
	return rc;
}

VXPU_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
                                           void **kernelParams, void **extra)
{
	REAL_OR_FAIL(cuLaunchKernelEx_ptsz);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchKernelEx_ptsz(config, f, kernelParams, extra);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, config ? config->hStream : NULL, true);
	CUresult rc = limiter.cuda.cuLaunchKernelEx_ptsz(config, f, kernelParams, extra);
	limiter_compute_leave(&t, config ? config->hStream : NULL, true, rc);
	return rc;
}

VXPU_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
                                               unsigned int gridDimY, unsigned int gridDimZ,
                                               unsigned int blockDimX, unsigned int blockDimY,
                                               unsigned int blockDimZ, unsigned int sharedMemBytes,
                                               CUstream hStream, void **kernelParams)
{
	REAL_OR_FAIL(cuLaunchCooperativeKernel);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchCooperativeKernel(
		        f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
		        sharedMemBytes, hStream, kernelParams);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, false);
	CUresult rc = limiter.cuda.cuLaunchCooperativeKernel(f, gridDimX, gridDimY, gridDimZ,
	                                                     blockDimX, blockDimY, blockDimZ,
	                                                     sharedMemBytes, hStream, kernelParams);
	limiter_compute_leave(&t, hStream, false, rc);
	return rc;
}

VXPU_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                                    unsigned int gridDimY, unsigned int gridDimZ,
                                                    unsigned int blockDimX, unsigned int blockDimY,
                                                    unsigned int blockDimZ,
                                                    unsigned int sharedMemBytes, CUstream hStream,
                                                    void **kernelParams)
{
	REAL_OR_FAIL(cuLaunchCooperativeKernel_ptsz);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuLaunchCooperativeKernel_ptsz(
		        f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
		        sharedMemBytes, hStream, kernelParams);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, true);
	CUresult rc = limiter.cuda.cuLaunchCooperativeKernel_ptsz(
	        f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes,
	        hStream, kernelParams);
	limiter_compute_leave(&t, hStream, true, rc);
	return rc;
}

VXPU_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	REAL_OR_FAIL(cuGraphLaunch);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuGraphLaunch(hGraphExec, hStream);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, false);
	CUresult rc = limiter.cuda.cuGraphLaunch(hGraphExec, hStream);
	limiter_compute_leave(&t, hStream, false, rc);
	return rc;
}

VXPU_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	REAL_OR_FAIL(cuGraphLaunch_ptsz);
	if (VXPU_LIKELY(limiter_compute_skip()))
		return limiter.cuda.cuGraphLaunch_ptsz(hGraphExec, hStream);
	struct limiter_compute_ticket t;
	limiter_compute_enter(&t, hStream, true);
	CUresult rc = limiter.cuda.cuGraphLaunch_ptsz(hGraphExec, hStream);
	limiter_compute_leave(&t, hStream, true, rc);
	return rc;
}
