/*
 * cuda_ctx.c - primary and created contexts, the per-thread context stack,
 * context synchronisation.
 *
 * A context is what makes a process visible on a device: activating one
 * adds a context to this process's slot in the shared state (so NVML lists
 * the process) and charges the device's configured context_memory.
 * Destroying it (or the last release / a reset of a primary context) frees
 * everything allocated in it, as the real driver does, and gives both back.
 *
 * The primary context of a device is a static object whose handle stays the
 * same across activations; `magic` is set only while it is active, so a
 * thread that still has a released primary context current gets
 * CUDA_ERROR_INVALID_CONTEXT.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define CTX_MAGIC 0x43545853u /* "SXTC" */

static __thread struct sim_ctx *ctx_stack[SIM_CTX_STACK_MAX];
static __thread int ctx_depth;

void sim_ctx_forget_thread(void)
{
	ctx_depth = 0;
}

bool sim_ctx_valid(const struct sim_ctx *ctx)
{
	if (!ctx)
		return false;
	for (int d = 0; d < VXPU_SIM_MAX_DEVICES; d++)
		if (ctx == &sim.primary[d])
			return ctx->magic == CTX_MAGIC;
	for (const struct sim_ctx *c = sim.contexts; c; c = c->next)
		if (c == ctx)
			return c->magic == CTX_MAGIC;
	return false;
}

CUresult sim_ctx_usable(const struct sim_ctx *ctx)
{
	return vxpu_sim_is_lost(&sim.st, ctx->dev) ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_SUCCESS;
}

CUresult sim_current_ctx(struct sim_ctx **out)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	struct sim_ctx *c = ctx_depth > 0 ? ctx_stack[ctx_depth - 1] : NULL;
	sim_lock();
	bool valid = c && sim_ctx_valid(c);
	sim_unlock();
	if (!valid)
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = c;
	return CUDA_SUCCESS;
}

/* Makes ctx live on its device (sim.lock held). */
static CUresult ctx_activate(struct sim_ctx *ctx, int dev, unsigned int flags)
{
	const struct vxpu_sim_device_config *cfg = sim_device_config(dev);
	if (vxpu_sim_is_lost(&sim.st, dev))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	ctx->charged = 0;
	if (cfg->context_memory) {
		if (vxpu_sim_mem_charge(&sim.st, dev, cfg->context_memory) != 0)
			return CUDA_ERROR_OUT_OF_MEMORY;
		ctx->charged = cfg->context_memory;
	}
	ctx->dev = dev;
	ctx->flags = flags;
	ctx->last_end = 0;
	ctx->magic = CTX_MAGIC;
	vxpu_sim_ctx_add(&sim.st, dev, +1);
	return CUDA_SUCCESS;
}

/* Frees everything the context owns and takes it off the device (sim.lock held). */
static void ctx_deactivate(struct sim_ctx *ctx)
{
	sim_streams_destroy_ctx(ctx);
	sim_free_ctx_allocations(ctx);
	if (ctx->charged)
		vxpu_sim_mem_uncharge(&sim.st, ctx->dev, ctx->charged);
	ctx->charged = 0;
	vxpu_sim_ctx_add(&sim.st, ctx->dev, -1);
	ctx->magic = 0;
}

CUresult sim_ctx_synchronize(struct sim_ctx *ctx)
{
	sim_lock();
	if (!sim_ctx_valid(ctx)) {
		sim_unlock();
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	CUresult rc = sim_ctx_usable(ctx);
	uint64_t until = ctx->last_end;
	int dev = ctx->dev;
	sim_unlock();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_wait_until(until);
	sim_lock();
	sim_pools_release_idle(dev);
	sim_unlock();
	return CUDA_SUCCESS;
}

/* ---- primary contexts ---------------------------------------------------------- */

SIM_API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	struct sim_ctx *ctx = &sim.primary[phys];
	if (sim.primary_refs[phys] == 0) {
		rc = ctx_activate(ctx, phys, ctx->flags);
		if (rc != CUDA_SUCCESS) {
			sim_unlock();
			return rc;
		}
	}
	sim.primary_refs[phys]++;
	sim_unlock();
	*pctx = (CUcontext)ctx;
	return CUDA_SUCCESS;
}

static CUresult primary_release(CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	if (sim.primary_refs[phys] == 0) {
		sim_unlock();
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	if (--sim.primary_refs[phys] == 0)
		ctx_deactivate(&sim.primary[phys]);
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return primary_release(dev);
}

SIM_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return primary_release(dev);
}

static CUresult primary_reset(CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	if (sim.primary_refs[phys] > 0)
		ctx_deactivate(&sim.primary[phys]);
	sim.primary_refs[phys] = 0;
	sim.primary[phys].flags = 0;
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return primary_reset(dev);
}

SIM_API CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	return primary_reset(dev);
}

static CUresult primary_set_flags(CUdevice dev, unsigned int flags, bool legacy)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (flags & ~(unsigned int)CU_CTX_FLAGS_MASK)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	/* Before CUDA 11 the flags could not change while the context was active. */
	if (legacy && sim.primary_refs[phys] > 0) {
		sim_unlock();
		return CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE;
	}
	sim.primary[phys].flags = flags;
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
	return primary_set_flags(dev, flags, true);
}

SIM_API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	return primary_set_flags(dev, flags, false);
}

SIM_API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	*flags = sim.primary[phys].flags;
	*active = sim.primary_refs[phys] > 0;
	sim_unlock();
	return CUDA_SUCCESS;
}

/* ---- created contexts ----------------------------------------------------------------- */

static CUresult ctx_create(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pctx || (flags & ~(unsigned int)CU_CTX_FLAGS_MASK))
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (ctx_depth >= SIM_CTX_STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct sim_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return CUDA_ERROR_OUT_OF_MEMORY;
	sim_lock();
	rc = ctx_activate(ctx, phys, flags);
	if (rc != CUDA_SUCCESS) {
		sim_unlock();
		free(ctx);
		return rc;
	}
	ctx->next = sim.contexts;
	sim.contexts = ctx;
	sim_unlock();
	ctx_stack[ctx_depth++] = ctx;
	*pctx = (CUcontext)ctx;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return ctx_create(pctx, flags, dev);
}

SIM_API CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return ctx_create(pctx, flags, dev);
}

SIM_API CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev)
{
	if (numParams < 0 || (numParams > 0 && !paramsArray))
		return CUDA_ERROR_INVALID_VALUE;
	for (int i = 0; i < numParams; i++)
		if (paramsArray[i].type != CU_EXEC_AFFINITY_TYPE_SM_COUNT)
			return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
	return ctx_create(pctx, flags, dev);
}

SIM_API CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
                                unsigned int flags, CUdevice dev)
{
	if (ctxCreateParams) {
		if (ctxCreateParams->cigParams)
			return CUDA_ERROR_NOT_SUPPORTED; /* no graphics interop */
		if (ctxCreateParams->numExecAffinityParams < 0 ||
		    (ctxCreateParams->numExecAffinityParams > 0 &&
		     !ctxCreateParams->execAffinityParams))
			return CUDA_ERROR_INVALID_VALUE;
		for (int i = 0; i < ctxCreateParams->numExecAffinityParams; i++)
			if (ctxCreateParams->execAffinityParams[i].type !=
			    CU_EXEC_AFFINITY_TYPE_SM_COUNT)
				return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
	}
	return ctx_create(pctx, flags, dev);
}

static CUresult ctx_destroy(CUcontext h)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	struct sim_ctx *ctx = (struct sim_ctx *)h;
	sim_lock();
	struct sim_ctx **pp = &sim.contexts;
	while (*pp && *pp != ctx)
		pp = &(*pp)->next;
	if (!*pp || ctx->magic != CTX_MAGIC) {
		sim_unlock();
		return CUDA_ERROR_INVALID_CONTEXT; /* unknown, or a primary context */
	}
	*pp = ctx->next;
	ctx_deactivate(ctx);
	sim_unlock();
	/* Off this thread's stack wherever it sits. */
	int w = 0;
	for (int r = 0; r < ctx_depth; r++)
		if (ctx_stack[r] != ctx)
			ctx_stack[w++] = ctx_stack[r];
	ctx_depth = w;
	free(ctx);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxDestroy(CUcontext ctx)
{
	return ctx_destroy(ctx);
}

SIM_API CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	return ctx_destroy(ctx);
}

/* ---- the context stack ---------------------------------------------------------------- */

static CUresult ctx_push(CUcontext h)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	struct sim_ctx *ctx = (struct sim_ctx *)h;
	sim_lock();
	bool ok = sim_ctx_valid(ctx);
	sim_unlock();
	if (!ok)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (ctx_depth >= SIM_CTX_STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx_stack[ctx_depth++] = ctx;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxPushCurrent(CUcontext ctx)
{
	return ctx_push(ctx);
}

SIM_API CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	return ctx_push(ctx);
}

static CUresult ctx_pop(CUcontext *pctx)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (ctx_depth == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	struct sim_ctx *ctx = ctx_stack[--ctx_depth];
	if (pctx)
		*pctx = (CUcontext)ctx;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxPopCurrent(CUcontext *pctx)
{
	return ctx_pop(pctx);
}

SIM_API CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	return ctx_pop(pctx);
}

SIM_API CUresult cuCtxSetCurrent(CUcontext h)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	struct sim_ctx *ctx = (struct sim_ctx *)h;
	if (!ctx) {
		if (ctx_depth > 0)
			ctx_depth--;
		return CUDA_SUCCESS;
	}
	sim_lock();
	bool ok = sim_ctx_valid(ctx);
	sim_unlock();
	if (!ok)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (ctx_depth == 0)
		ctx_depth = 1;
	ctx_stack[ctx_depth - 1] = ctx;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = ctx_depth > 0 ? (CUcontext)ctx_stack[ctx_depth - 1] : NULL;
	return CUDA_SUCCESS;
}

/* The context named by h, or the current one for NULL (sim.lock not held). */
static CUresult ctx_or_current(CUcontext h, struct sim_ctx **out)
{
	if (!h)
		return sim_current_ctx(out);
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	bool ok = sim_ctx_valid((struct sim_ctx *)h);
	sim_unlock();
	if (!ok)
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = (struct sim_ctx *)h;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetDevice(CUdevice *device)
{
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	*device = sim_device_ordinal(ctx->dev);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext h)
{
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_ctx *ctx;
	CUresult rc = ctx_or_current(h, &ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	*device = sim_device_ordinal(ctx->dev);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetFlags(unsigned int *flags)
{
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	*flags = ctx->flags;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetApiVersion(CUcontext h, unsigned int *version)
{
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_ctx *ctx;
	CUresult rc = ctx_or_current(h, &ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	*version = 3020; /* contexts of the 64-bit (v2) API */
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxSynchronize(void)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	return sim_ctx_synchronize(ctx);
}

SIM_API CUresult cuCtxSynchronize_v2(CUcontext h)
{
	struct sim_ctx *ctx;
	CUresult rc = ctx_or_current(h, &ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	return sim_ctx_synchronize(ctx);
}

static size_t limit_default(CUlimit limit)
{
	switch (limit) {
	case CU_LIMIT_STACK_SIZE:
		return 1024;
	case CU_LIMIT_PRINTF_FIFO_SIZE:
		return 1048576;
	case CU_LIMIT_MALLOC_HEAP_SIZE:
		return 8388608;
	case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:
		return 2;
	case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
		return 2048;
	case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
		return 64;
	default:
		return 0;
	}
}

SIM_API CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	(void)value; /* accepted; kernels of the simulator need no stack or heap */
	return (int)limit < 0 || limit >= CU_LIMIT_MAX ? CUDA_ERROR_UNSUPPORTED_LIMIT
	                                               : CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
	if (!pvalue)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if ((int)limit < 0 || limit >= CU_LIMIT_MAX)
		return CUDA_ERROR_UNSUPPORTED_LIMIT;
	*pvalue = limit_default(limit);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (leastPriority)
		*leastPriority = 0;
	if (greatestPriority)
		*greatestPriority = -5;
	return CUDA_SUCCESS;
}
