/*
 * hook_memory.c - plain, pitched and managed device allocations, their
 * frees, contexts (each charged VXPU_CONTEXT_MEMORY), and what the workload
 * is told about memory (cuMemGetInfo, cuDeviceTotalMem).
 *
 * Every allocation follows one order, which is what keeps the limit exact:
 *   reserve (admission.h) -> real allocation -> record in the process's
 *   table -> commit;  any failure rolls back what came before.
 * A free is the mirror image: the entry is taken out of the table first (so
 * an address the driver hands out again cannot meet it), the real free
 * runs, and only then is the charge released - the container never appears
 * to have room the device has not yet given back.
 *
 * Allocations are recorded with the context they were made in, because the
 * driver frees a context's memory when the context is destroyed (or when a
 * primary context is released for the last time, or reset); the limiter
 * then gives those charges back too (limiter_forget_context).
 *
 * The context cache (limiter.contexts) answers "which container device is
 * this context on" without a driver round trip on the allocation path.
 */
#include "limiter/libvxpu.h"

#include "common/log.h"
#include "core/size.h"

/* ---- devices and contexts ------------------------------------------------------- */

int limiter_ordinal_device(int ordinal)
{
	if (ordinal < 0 || ordinal >= limiter.ordinal_count)
		return -1;
	return limiter.ordinal_device[ordinal];
}

/* Asks the driver which device ctx is on (pushing it when it is not current). */
static CUresult ctx_ordinal(CUcontext ctx, CUdevice *ordinal)
{
	CUcontext current = NULL;
	limiter.cuda.cuCtxGetCurrent(&current);
	if (current == ctx)
		return limiter.cuda.cuCtxGetDevice(ordinal);
	if (!limiter.cuda.cuCtxPushCurrent_v2 || !limiter.cuda.cuCtxPopCurrent_v2)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuCtxPushCurrent_v2(ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	rc = limiter.cuda.cuCtxGetDevice(ordinal);
	CUcontext popped;
	limiter.cuda.cuCtxPopCurrent_v2(&popped);
	return rc;
}

int limiter_ctx_device(CUcontext ctx, int *ordinal)
{
	struct vxpu_track_entry *e = vxpu_track_find(&limiter.contexts, (uint64_t)(uintptr_t)ctx);
	if (VXPU_LIKELY(e != NULL)) {
		if (ordinal)
			*ordinal = (int)atomic_load_explicit(&e->bytes, memory_order_relaxed);
		return (int)atomic_load_explicit(&e->device, memory_order_relaxed);
	}
	CUdevice dev;
	if (ctx_ordinal(ctx, &dev) != CUDA_SUCCESS)
		return -1;
	int device = limiter_ordinal_device(dev);
	if (device < 0)
		return -1;
	vxpu_track_put(&limiter.contexts, (uint64_t)(uintptr_t)ctx, (uint64_t)dev, (uint64_t)device,
	               0);
	if (ordinal)
		*ordinal = dev;
	return device;
}

int limiter_current_device(CUcontext *ctx, int *ordinal)
{
	CUcontext current = NULL;
	if (limiter.cuda.cuCtxGetCurrent(&current) != CUDA_SUCCESS || !current)
		return -1;
	*ctx = current;
	return limiter_ctx_device(current, ordinal);
}

/* ---- charging ------------------------------------------------------------------ */

CUresult limiter_reserve(int device, uint64_t bytes)
{
	struct vxpu_region *r = &limiter.region;
	enum vxpu_admit_result res =
	        vxpu_admit_reserve(r, (unsigned)limiter.slot, (unsigned)device, bytes);
	if (VXPU_LIKELY(res == VXPU_ADMIT_OK))
		return CUDA_SUCCESS;
	/* Pools shrink on synchronisation without telling us: look, then try once more. */
	limiter_pools_refresh_all();
	res = vxpu_admit_reserve(r, (unsigned)limiter.slot, (unsigned)device, bytes);
	if (res == VXPU_ADMIT_OK)
		return CUDA_SUCCESS;
	if (vxpu_log_enabled(VXPU_LOG_DEBUG)) {
		char want[32], limit[32], used[32];
		vxpu_size_format(bytes, want, sizeof(want));
		vxpu_size_format(vxpu_admit_limit(r, (unsigned)device), limit, sizeof(limit));
		vxpu_size_format(vxpu_admit_used(r, (unsigned)device), used, sizeof(used));
		vxpu_log(VXPU_LOG_DEBUG,
		         res == VXPU_ADMIT_CONTENDED
		                 ? "allocation refused: contention did not settle"
		                 : "allocation refused: over the memory limit",
		         "request", want, "used", used, "limit", limit, (char *)NULL);
	}
	return CUDA_ERROR_OUT_OF_MEMORY;
}

void limiter_commit(int device, uint64_t reserved, uint64_t actual)
{
	vxpu_admit_commit(&limiter.region, (unsigned)limiter.slot, (unsigned)device, reserved,
	                  actual);
}

void limiter_cancel(int device, uint64_t reserved)
{
	vxpu_admit_cancel(&limiter.region, (unsigned)limiter.slot, (unsigned)device, reserved);
}

void limiter_release(int device, uint64_t bytes)
{
	vxpu_admit_release(&limiter.region, (unsigned)limiter.slot, (unsigned)device, bytes);
}

void limiter_charge(int device, uint64_t bytes)
{
	vxpu_admit_charge(&limiter.region, (unsigned)limiter.slot, (unsigned)device, bytes);
}

static uint64_t mul_saturating(uint64_t a, uint64_t b)
{
	uint64_t p;
	return __builtin_mul_overflow(a, b, &p) ? UINT64_MAX : p;
}

/* ---- plain, pitched and managed allocations -------------------------------------------- */

/*
 * The common path: reserve `charge` on the current context's device, run
 * the real call, record ptr, commit. A pitched allocation is committed at
 * the pitch the driver chose (known only after the call).
 */
struct alloc_call {
	CUresult (*run)(struct alloc_call *call, CUdeviceptr *ptr);
	CUresult (*undo)(CUdeviceptr ptr);
	uint64_t charge;
	void *out;
	size_t bytesize;
	size_t width, height;
	unsigned int elem_or_flags;
	size_t pitch;
};

static CUresult alloc_charged(struct alloc_call *call, bool *passthrough)
{
	CUresult rc = limiter_ready();
	if (VXPU_UNLIKELY(rc != CUDA_SUCCESS))
		return rc;
	CUcontext ctx = NULL;
	if (limiter.cuda.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx || call->charge == 0) {
		/* No current context (or nothing to charge): the driver gives its own error. */
		*passthrough = true;
		return CUDA_SUCCESS;
	}
	int device = limiter_ctx_device(ctx, NULL);
	if (device < 0)
		return CUDA_ERROR_INVALID_CONTEXT; /* a device we cannot account: fail closed */
	uint64_t reserved = call->charge;
	rc = limiter_reserve(device, reserved);
	if (rc != CUDA_SUCCESS)
		return rc;
	CUdeviceptr ptr = 0;
	rc = call->run(call, &ptr);
	if (rc != CUDA_SUCCESS) {
		limiter_cancel(device, reserved);
		return rc;
	}
	uint64_t actual = reserved;
	if (call->pitch)
		actual = limiter_round_up(mul_saturating(call->pitch, call->height),
		                          LIMITER_ALLOC_ALIGN);
	if (actual > reserved) {
		/* The driver chose a wider pitch than foreseen: admit the rest too. */
		if (limiter_reserve(device, actual - reserved) != CUDA_SUCCESS) {
			call->undo(ptr);
			limiter_cancel(device, reserved);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		reserved = actual;
	}
	if (vxpu_track_put(&limiter.allocs, ptr, actual, (uint64_t)device,
	                   (uint64_t)(uintptr_t)ctx) != 0) {
		call->undo(ptr);
		limiter_cancel(device, reserved);
		vxpu_log(VXPU_LOG_WARN, "allocation refused: the limiter's table is full",
		         (char *)NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	limiter_commit(device, reserved, actual);
	return CUDA_SUCCESS;
}

static CUresult run_alloc_v2(struct alloc_call *c, CUdeviceptr *ptr)
{
	CUresult rc = limiter.cuda.cuMemAlloc_v2((CUdeviceptr *)c->out, c->bytesize);
	*ptr = rc == CUDA_SUCCESS ? *(CUdeviceptr *)c->out : 0;
	return rc;
}

static CUresult undo_free_v2(CUdeviceptr ptr)
{
	return limiter.cuda.cuMemFree_v2(ptr);
}

VXPU_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	struct alloc_call call = {.run = run_alloc_v2,
	                          .undo = undo_free_v2,
	                          .out = dptr,
	                          .bytesize = bytesize,
	                          .charge = dptr ? limiter_round_up(bytesize, LIMITER_ALLOC_ALIGN)
	                                         : 0};
	bool passthrough = false;
	CUresult rc = alloc_charged(&call, &passthrough);
	if (passthrough)
		return limiter.cuda.cuMemAlloc_v2(dptr, bytesize);
	return rc;
}

static CUresult run_alloc_managed(struct alloc_call *c, CUdeviceptr *ptr)
{
	CUresult rc = limiter.cuda.cuMemAllocManaged((CUdeviceptr *)c->out, c->bytesize,
	                                             c->elem_or_flags);
	*ptr = rc == CUDA_SUCCESS ? *(CUdeviceptr *)c->out : 0;
	return rc;
}

VXPU_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
	struct alloc_call call = {.run = run_alloc_managed,
	                          .undo = undo_free_v2,
	                          .out = dptr,
	                          .bytesize = bytesize,
	                          .elem_or_flags = flags,
	                          .charge = dptr ? limiter_round_up(bytesize, LIMITER_ALLOC_ALIGN)
	                                         : 0};
	bool passthrough = false;
	CUresult rc = alloc_charged(&call, &passthrough);
	if (passthrough)
		return limiter.cuda.cuMemAllocManaged(dptr, bytesize, flags);
	return rc;
}

static CUresult run_alloc_pitch_v2(struct alloc_call *c, CUdeviceptr *ptr)
{
	CUdeviceptr *out = c->out;
	CUresult rc = limiter.cuda.cuMemAllocPitch_v2(out, &c->pitch, c->width, c->height,
	                                              c->elem_or_flags);
	*ptr = rc == CUDA_SUCCESS ? *out : 0;
	return rc;
}

/* Pitch the driver will choose, for the reservation: rows padded to 512 bytes. */
static uint64_t pitch_estimate(uint64_t width, uint64_t height)
{
	return limiter_round_up(
	        mul_saturating(limiter_round_up(width, LIMITER_ALLOC_ALIGN), height),
	        LIMITER_ALLOC_ALIGN);
}

VXPU_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
                                        size_t Height, unsigned int ElementSizeBytes)
{
	struct alloc_call call = {.run = run_alloc_pitch_v2,
	                          .undo = undo_free_v2,
	                          .out = dptr,
	                          .width = WidthInBytes,
	                          .height = Height,
	                          .elem_or_flags = ElementSizeBytes,
	                          .charge = dptr && pPitch ? pitch_estimate(WidthInBytes, Height)
	                                                   : 0};
	bool passthrough = false;
	CUresult rc = alloc_charged(&call, &passthrough);
	if (passthrough)
		return limiter.cuda.cuMemAllocPitch_v2(dptr, pPitch, WidthInBytes, Height,
		                                       ElementSizeBytes);
	if (rc == CUDA_SUCCESS)
		*pPitch = call.pitch;
	return rc;
}

/* The pre-3.2 forms with 32-bit pointers and sizes: charged the same way. */
static CUresult run_alloc_v1(struct alloc_call *c, CUdeviceptr *ptr)
{
	CUdeviceptr_v1 *out = c->out;
	CUresult rc = limiter.cuda.cuMemAlloc(out, (unsigned int)c->bytesize);
	*ptr = rc == CUDA_SUCCESS ? (CUdeviceptr)*out : 0;
	return rc;
}

static CUresult undo_free_v1(CUdeviceptr ptr)
{
	return limiter.cuda.cuMemFree((CUdeviceptr_v1)ptr);
}

VXPU_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAlloc)
		return CUDA_ERROR_NOT_SUPPORTED;
	struct alloc_call call = {.run = run_alloc_v1,
	                          .undo = undo_free_v1,
	                          .out = dptr,
	                          .bytesize = bytesize,
	                          .charge = dptr ? limiter_round_up(bytesize, LIMITER_ALLOC_ALIGN)
	                                         : 0};
	bool passthrough = false;
	CUresult rc = alloc_charged(&call, &passthrough);
	if (passthrough)
		return limiter.cuda.cuMemAlloc(dptr, bytesize);
	return rc;
}

static CUresult run_alloc_pitch_v1(struct alloc_call *c, CUdeviceptr *ptr)
{
	unsigned int pitch = 0;
	CUdeviceptr_v1 *out = c->out;
	CUresult rc = limiter.cuda.cuMemAllocPitch(out, &pitch, (unsigned int)c->width,
	                                           (unsigned int)c->height, c->elem_or_flags);
	c->pitch = pitch;
	*ptr = rc == CUDA_SUCCESS ? (CUdeviceptr)*out : 0;
	return rc;
}

VXPU_EXPORT CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
                                     unsigned int WidthInBytes, unsigned int Height,
                                     unsigned int ElementSizeBytes)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAllocPitch)
		return CUDA_ERROR_NOT_SUPPORTED;
	struct alloc_call call = {.run = run_alloc_pitch_v1,
	                          .undo = undo_free_v1,
	                          .out = dptr,
	                          .width = WidthInBytes,
	                          .height = Height,
	                          .elem_or_flags = ElementSizeBytes,
	                          .charge = dptr && pPitch ? pitch_estimate(WidthInBytes, Height)
	                                                   : 0};
	bool passthrough = false;
	CUresult rc = alloc_charged(&call, &passthrough);
	if (passthrough)
		return limiter.cuda.cuMemAllocPitch(dptr, pPitch, WidthInBytes, Height,
		                                    ElementSizeBytes);
	if (rc == CUDA_SUCCESS)
		*pPitch = (unsigned int)call.pitch;
	return rc;
}

/* ---- frees --------------------------------------------------------------------- */

/* Takes ptr out of the table, frees it for real, then releases its charge. */
static CUresult free_charged(CUdeviceptr ptr, CUresult (*real_free)(CUdeviceptr))
{
	uint64_t bytes, device, ctx;
	if (!atomic_load_explicit(&limiter.attached, memory_order_acquire) ||
	    !vxpu_track_take(&limiter.allocs, ptr, &bytes, &device, &ctx))
		return real_free(ptr);
	CUresult rc = real_free(ptr);
	if (rc != CUDA_SUCCESS) {
		/* Still allocated: keep it (and its charge) recorded. */
		if (vxpu_track_put(&limiter.allocs, ptr, bytes, device, ctx) != 0)
			vxpu_log(VXPU_LOG_WARN,
			         "lost track of an allocation after a failed free; its "
			         "charge stays until the process ends",
			         (char *)NULL);
		return rc;
	}
	limiter_release((int)device, bytes);
	return CUDA_SUCCESS;
}

static CUresult real_free_v2(CUdeviceptr ptr)
{
	return limiter.cuda.cuMemFree_v2(ptr);
}

static CUresult real_free_v1(CUdeviceptr ptr)
{
	return limiter.cuda.cuMemFree((CUdeviceptr_v1)ptr);
}

VXPU_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	if (VXPU_UNLIKELY(limiter_cuda_real_ready() != 0))
		return CUDA_ERROR_NOT_INITIALIZED;
	return free_charged(dptr, real_free_v2);
}

VXPU_EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemFree)
		return CUDA_ERROR_NOT_SUPPORTED;
	return free_charged((CUdeviceptr)dptr, real_free_v1);
}

/* ---- contexts -------------------------------------------------------------------- */

struct forget_ctx {
	struct vxpu_track *table;
	uint64_t ctx;
};

static void forget_entry(struct vxpu_track_entry *e, void *arg)
{
	struct forget_ctx *f = arg;
	if (atomic_load_explicit(&e->aux, memory_order_relaxed) != f->ctx)
		return;
	uint64_t key = atomic_load_explicit(&e->key, memory_order_relaxed);
	uint64_t bytes, device;
	if (vxpu_track_take(f->table, key, &bytes, &device, NULL))
		limiter_release((int)device, bytes);
}

void limiter_forget_context(CUcontext ctx)
{
	if (!ctx)
		return;
	struct vxpu_track *tables[] = {&limiter.allocs, &limiter.arrays, &limiter.modules};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		struct forget_ctx f = {tables[i], (uint64_t)(uintptr_t)ctx};
		vxpu_track_each(tables[i], forget_entry, &f);
	}
	/* The context's own charge (every cached copy of it). */
	uint64_t ordinal, device, charged;
	while (vxpu_track_take(&limiter.contexts, (uint64_t)(uintptr_t)ctx, &ordinal, &device,
	                       &charged))
		if (charged)
			limiter_release((int)device, charged);
	limiter_pools_refresh_all();
}

/* Records a context the driver made, with its charge already reserved. */
static void context_created(CUcontext ctx, CUdevice ordinal, int device, uint64_t charge)
{
	/* A stale cache entry for a reused handle must not shadow the new one. */
	uint64_t o, d, c;
	while (vxpu_track_take(&limiter.contexts, (uint64_t)(uintptr_t)ctx, &o, &d, &c))
		if (c)
			limiter_release((int)d, c);
	if (vxpu_track_put(&limiter.contexts, (uint64_t)(uintptr_t)ctx, (uint64_t)ordinal,
	                   (uint64_t)device, charge) != 0)
		vxpu_log(VXPU_LOG_WARN,
		         "context table full; its charge stays until the process ends",
		         (char *)NULL);
}

/* Reserve for a new context on ordinal; device receives the container device. */
static CUresult context_reserve(CUdevice ordinal, int *device)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	*device = limiter_ordinal_device(ordinal);
	if (*device < 0 || limiter.config.context_memory == 0)
		return CUDA_SUCCESS;
	return limiter_reserve(*device, limiter.config.context_memory);
}

static CUresult context_finish(CUresult rc, CUcontext *pctx, CUdevice ordinal, int device)
{
	uint64_t charge = limiter.config.context_memory;
	if (device < 0)
		return rc;
	if (rc != CUDA_SUCCESS) {
		if (charge)
			limiter_cancel(device, charge);
		return rc;
	}
	context_created(*pctx, ordinal, device, charge);
	if (charge)
		limiter_commit(device, charge, charge);
	return rc;
}

VXPU_EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	int device;
	CUresult rc = context_reserve(dev, &device);
	if (rc != CUDA_SUCCESS)
		return rc;
	return context_finish(limiter.cuda.cuCtxCreate_v2(pctx, flags, dev), pctx, dev, device);
}

VXPU_EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	int device;
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuCtxCreate)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = context_reserve(dev, &device);
	if (rc != CUDA_SUCCESS)
		return rc;
	return context_finish(limiter.cuda.cuCtxCreate(pctx, flags, dev), pctx, dev, device);
}

VXPU_EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray,
                                    int numParams, unsigned int flags, CUdevice dev)
{
	int device;
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuCtxCreate_v3)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = context_reserve(dev, &device);
	if (rc != CUDA_SUCCESS)
		return rc;
	return context_finish(limiter.cuda.cuCtxCreate_v3(pctx, paramsArray, numParams, flags, dev),
	                      pctx, dev, device);
}

VXPU_EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
                                    unsigned int flags, CUdevice dev)
{
	int device;
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuCtxCreate_v4)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = context_reserve(dev, &device);
	if (rc != CUDA_SUCCESS)
		return rc;
	return context_finish(limiter.cuda.cuCtxCreate_v4(pctx, ctxCreateParams, flags, dev), pctx,
	                      dev, device);
}

static CUresult context_destroy(CUcontext ctx, CUresult (*real)(CUcontext))
{
	CUresult rc = real(ctx);
	if (rc == CUDA_SUCCESS && atomic_load(&limiter.attached))
		limiter_forget_context(ctx);
	return rc;
}

VXPU_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	if (limiter_cuda_real_ready() != 0)
		return CUDA_ERROR_NOT_INITIALIZED;
	return context_destroy(ctx, limiter.cuda.cuCtxDestroy_v2);
}

VXPU_EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuCtxDestroy)
		return CUDA_ERROR_NOT_SUPPORTED;
	return context_destroy(ctx, limiter.cuda.cuCtxDestroy);
}

/*
 * Primary contexts: active while retained. The first retain in this
 * process activates it (charged once), the last release or a reset ends it
 * and the driver frees its memory.
 */
VXPU_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	int device = limiter_ordinal_device(dev);
	if (device < 0 || !pctx)
		return limiter.cuda.cuDevicePrimaryCtxRetain(pctx, dev);
	uint64_t charge = limiter.config.context_memory;
	bool reserved = false;
	if (charge && atomic_load(&limiter.primary_refs[dev]) == 0) {
		rc = limiter_reserve(device, charge);
		if (rc != CUDA_SUCCESS)
			return rc;
		reserved = true;
	}
	rc = limiter.cuda.cuDevicePrimaryCtxRetain(pctx, dev);
	if (rc != CUDA_SUCCESS) {
		if (reserved)
			limiter_cancel(device, charge);
		return rc;
	}
	if (atomic_fetch_add(&limiter.primary_refs[dev], 1) == 0) {
		atomic_store(&limiter.primary_ctx[dev], *pctx);
		context_created(*pctx, dev, device, charge);
		if (reserved)
			limiter_commit(device, charge, charge);
		else if (charge)
			limiter_charge(device,
			               charge); /* activated by us after a concurrent release */
	} else if (reserved) {
		limiter_cancel(device, charge);
	}
	return CUDA_SUCCESS;
}

static CUresult primary_end(CUdevice dev, CUresult (*real)(CUdevice), bool reset)
{
	CUresult rc = real(dev);
	if (rc != CUDA_SUCCESS || !atomic_load(&limiter.attached) || dev < 0 ||
	    dev >= VXPU_VISIBLE_MAX)
		return rc;
	int before = reset ? atomic_exchange(&limiter.primary_refs[dev], 0)
	                   : atomic_fetch_sub(&limiter.primary_refs[dev], 1);
	if (!reset && before <= 0)
		atomic_fetch_add(&limiter.primary_refs[dev], 1); /* not one of ours */
	else if (before == 1 || (reset && before > 0))
		limiter_forget_context(atomic_load(&limiter.primary_ctx[dev]));
	return rc;
}

VXPU_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	if (limiter_cuda_real_ready() != 0)
		return CUDA_ERROR_NOT_INITIALIZED;
	return primary_end(dev, limiter.cuda.cuDevicePrimaryCtxRelease_v2, false);
}

VXPU_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuDevicePrimaryCtxRelease)
		return CUDA_ERROR_NOT_SUPPORTED;
	return primary_end(dev, limiter.cuda.cuDevicePrimaryCtxRelease, false);
}

VXPU_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	if (limiter_cuda_real_ready() != 0)
		return CUDA_ERROR_NOT_INITIALIZED;
	return primary_end(dev, limiter.cuda.cuDevicePrimaryCtxReset_v2, true);
}

VXPU_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuDevicePrimaryCtxReset)
		return CUDA_ERROR_NOT_SUPPORTED;
	return primary_end(dev, limiter.cuda.cuDevicePrimaryCtxReset, true);
}

/* ---- what the workload sees ----------------------------------------------------------- */

/*
 * The limited view of a device: total = min(limit, physical total),
 * free = min(total - container use, physical free), never below zero.
 * Unchanged when the device has no limit.
 */
static void memory_view(int device, uint64_t *free_bytes, uint64_t *total_bytes)
{
	uint64_t limit = vxpu_admit_limit(&limiter.region, (unsigned)device);
	if (limit == VXPU_REGION_UNLIMITED)
		return;
	limiter_pools_refresh_all();
	uint64_t used = vxpu_admit_used(&limiter.region, (unsigned)device);
	uint64_t total = *total_bytes < limit ? *total_bytes : limit;
	uint64_t room = used < total ? total - used : 0;
	*total_bytes = total;
	*free_bytes = *free_bytes < room ? *free_bytes : room;
}

VXPU_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	rc = limiter.cuda.cuMemGetInfo_v2(free, total);
	CUcontext ctx;
	int ordinal;
	int device;
	if (rc != CUDA_SUCCESS || !free || !total ||
	    (device = limiter_current_device(&ctx, &ordinal)) < 0)
		return rc;
	uint64_t f = *free, t = *total;
	memory_view(device, &f, &t);
	*free = (size_t)f;
	*total = (size_t)t;
	return rc;
}

VXPU_EXPORT CUresult cuMemGetInfo(unsigned int *free, unsigned int *total)
{
	size_t f, t;
	CUresult rc = cuMemGetInfo_v2(&f, &t);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	*free = f > UINT32_MAX ? UINT32_MAX : (unsigned int)f;
	*total = t > UINT32_MAX ? UINT32_MAX : (unsigned int)t;
	return rc;
}

VXPU_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	rc = limiter.cuda.cuDeviceTotalMem_v2(bytes, dev);
	int device = limiter_ordinal_device(dev);
	if (rc != CUDA_SUCCESS || !bytes || device < 0)
		return rc;
	uint64_t limit = vxpu_admit_limit(&limiter.region, (unsigned)device);
	if (limit < *bytes)
		*bytes = (size_t)limit;
	return rc;
}

VXPU_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t b;
	CUresult rc = cuDeviceTotalMem_v2(&b, dev);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = b > UINT32_MAX ? UINT32_MAX : (unsigned int)b;
	return rc;
}
