/*
 * hook_pool.c - the stream-ordered allocator (cuMemAllocAsync,
 * cuMemAllocFromPoolAsync and their _ptsz forms), charged by each pool's
 * real reservation.
 *
 * A pool keeps freed blocks reserved for reuse and gives memory back to the
 * device only when it is trimmed (explicitly, or at a synchronisation when
 * it holds more than its release threshold). So the container is charged
 * what the pool reserves (CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), not what
 * the application has outstanding: memory kept in a pool stays charged
 * until trimmed, and an allocation that the pool serves from its own
 * reserve needs no new room.
 *
 * Per allocation: if the pool's unused reserve cannot hold the request, the
 * growth (the request rounded up to the 2 MiB granularity) is reserved
 * against the limit first; after the call the pool's reservation is read
 * and the difference from what is charged for it is charged or released.
 * If the driver grew the pool by more than was reserved and that takes the
 * container over its limit, the allocation is freed and trimmed away again
 * and the caller gets CUDA_ERROR_OUT_OF_MEMORY.
 *
 * Pools shrink behind our back at synchronisation points, so their
 * reservations are re-read before any refusal and in every memory query
 * (limiter_pools_refresh_all).
 */
#include "limiter/libvxpu.h"

/* Set once any pool is known: until then there is nothing to refresh. */
static _Atomic int pools_known;

static bool pool_attr(CUmemoryPool pool, CUmemPool_attribute attr, uint64_t *value)
{
	cuuint64_t v = 0;
	if (!limiter.cuda.cuMemPoolGetAttribute ||
	    limiter.cuda.cuMemPoolGetAttribute(pool, attr, &v) != CUDA_SUCCESS)
		return false;
	*value = v;
	return true;
}

/* The entry for pool, created on first sight (interned: never removed). */
static struct vxpu_track_entry *pool_entry(CUmemoryPool pool, int device)
{
	uint64_t key = (uint64_t)(uintptr_t)pool;
	struct vxpu_track_entry *e = vxpu_track_find(&limiter.pools, key);
	if (VXPU_LIKELY(e != NULL)) {
		/* A handle reused after a destroy may belong to another device. */
		if (atomic_load(&e->bytes) == 0)
			atomic_store(&e->device, (uint64_t)device);
		return e;
	}
	e = vxpu_track_intern(&limiter.pools, key, (uint64_t)device);
	if (e)
		atomic_store(&pools_known, 1);
	return e;
}

/* Brings the charge of one pool to its reservation. Returns the growth charged. */
static uint64_t pool_settle(struct vxpu_track_entry *e, CUmemoryPool pool)
{
	int device = (int)atomic_load_explicit(&e->device, memory_order_relaxed);
	for (;;) {
		uint64_t charged = atomic_load(&e->bytes);
		uint64_t reserved;
		if (!pool_attr(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved))
			return 0;
		if (reserved == charged)
			return 0;
		if (!atomic_compare_exchange_strong(&e->bytes, &charged, reserved))
			continue; /* another thread settled it meanwhile: read again */
		if (reserved > charged) {
			limiter_charge(device, reserved - charged);
			return reserved - charged;
		}
		limiter_release(device, charged - reserved);
		return 0;
	}
}

static void settle_entry(struct vxpu_track_entry *e, void *arg)
{
	(void)arg;
	pool_settle(e,
	            (CUmemoryPool)(uintptr_t)atomic_load_explicit(&e->key, memory_order_relaxed));
}

void limiter_pools_refresh_all(void)
{
	if (!atomic_load_explicit(&pools_known, memory_order_relaxed))
		return;
	vxpu_track_each(&limiter.pools, settle_entry, NULL);
}

struct async_call {
	CUresult (*alloc)(const struct async_call *c, CUdeviceptr *dptr, size_t bytesize);
	CUresult (*free)(CUdeviceptr dptr, CUstream stream);
	CUresult (*stream_ctx)(CUstream stream, CUcontext *ctx);
	CUmemoryPool pool; /* NULL: the device's current pool */
	CUstream stream;
};

static CUresult alloc_async_charged(const struct async_call *c, CUdeviceptr *dptr, size_t bytesize)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!dptr || bytesize == 0)
		return c->alloc(c, dptr, bytesize);
	CUcontext ctx = NULL;
	if (c->stream_ctx(c->stream, &ctx) != CUDA_SUCCESS || !ctx)
		return c->alloc(c, dptr, bytesize); /* the driver reports the bad stream */
	int ordinal;
	int device = limiter_ctx_device(ctx, &ordinal);
	if (device < 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	CUmemoryPool pool = c->pool;
	if (!pool) {
		rc = limiter.cuda.cuDeviceGetMemPool(&pool, ordinal);
		if (rc != CUDA_SUCCESS)
			return rc;
	}
	struct vxpu_track_entry *e = pool_entry(pool, device);
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pool_settle(e, pool);

	uint64_t need = limiter_round_up(bytesize, LIMITER_GRANULARITY);
	uint64_t reserved = 0, used = 0, growth = need;
	if (pool_attr(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved) &&
	    pool_attr(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used) && reserved >= used &&
	    reserved - used >= need)
		growth = 0; /* the pool's own reserve can serve it */
	if (growth) {
		rc = limiter_reserve(device, growth);
		if (rc != CUDA_SUCCESS)
			return rc;
	}
	rc = c->alloc(c, dptr, bytesize);
	uint64_t grew = pool_settle(e, pool);
	if (growth)
		limiter_cancel(device, growth);
	if (rc != CUDA_SUCCESS)
		return rc;
	uint64_t limit = vxpu_admit_limit(&limiter.region, (unsigned)device);
	if (grew > growth && limit != VXPU_REGION_UNLIMITED &&
	    vxpu_admit_used(&limiter.region, (unsigned)device) > limit) {
		/* The pool grew beyond what was admitted: undo. */
		c->free(*dptr, c->stream);
		if (limiter.cuda.cuMemPoolTrimTo)
			limiter.cuda.cuMemPoolTrimTo(pool, (size_t)reserved);
		pool_settle(e, pool);
		*dptr = 0;
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

static CUresult call_alloc_async(const struct async_call *c, CUdeviceptr *dptr, size_t bytesize)
{
	return limiter.cuda.cuMemAllocAsync(dptr, bytesize, c->stream);
}

static CUresult call_alloc_async_ptsz(const struct async_call *c, CUdeviceptr *dptr,
                                      size_t bytesize)
{
	return limiter.cuda.cuMemAllocAsync_ptsz(dptr, bytesize, c->stream);
}

static CUresult call_alloc_from_pool(const struct async_call *c, CUdeviceptr *dptr, size_t bytesize)
{
	return limiter.cuda.cuMemAllocFromPoolAsync(dptr, bytesize, c->pool, c->stream);
}

static CUresult call_alloc_from_pool_ptsz(const struct async_call *c, CUdeviceptr *dptr,
                                          size_t bytesize)
{
	return limiter.cuda.cuMemAllocFromPoolAsync_ptsz(dptr, bytesize, c->pool, c->stream);
}

static CUresult real_free_async(CUdeviceptr dptr, CUstream stream)
{
	return limiter.cuda.cuMemFreeAsync(dptr, stream);
}

static CUresult real_free_async_ptsz(CUdeviceptr dptr, CUstream stream)
{
	return limiter.cuda.cuMemFreeAsync_ptsz(dptr, stream);
}

VXPU_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAllocAsync)
		return CUDA_ERROR_NOT_SUPPORTED;
	struct async_call c = {call_alloc_async, real_free_async, limiter.cuda.cuStreamGetCtx, NULL,
	                       hStream};
	return alloc_async_charged(&c, dptr, bytesize);
}

VXPU_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAllocAsync_ptsz)
		return CUDA_ERROR_NOT_SUPPORTED;
	struct async_call c = {call_alloc_async_ptsz, real_free_async_ptsz,
	                       limiter.cuda.cuStreamGetCtx_ptsz, NULL, hStream};
	return alloc_async_charged(&c, dptr, bytesize);
}

VXPU_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                             CUstream hStream)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAllocFromPoolAsync)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!pool)
		return limiter.cuda.cuMemAllocFromPoolAsync(dptr, bytesize, pool, hStream);
	struct async_call c = {call_alloc_from_pool, real_free_async, limiter.cuda.cuStreamGetCtx,
	                       pool, hStream};
	return alloc_async_charged(&c, dptr, bytesize);
}

VXPU_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
                                                  CUmemoryPool pool, CUstream hStream)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemAllocFromPoolAsync_ptsz)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!pool)
		return limiter.cuda.cuMemAllocFromPoolAsync_ptsz(dptr, bytesize, pool, hStream);
	struct async_call c = {call_alloc_from_pool_ptsz, real_free_async_ptsz,
	                       limiter.cuda.cuStreamGetCtx_ptsz, pool, hStream};
	return alloc_async_charged(&c, dptr, bytesize);
}

VXPU_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemPoolTrimTo)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuMemPoolTrimTo(pool, minBytesToKeep);
	struct vxpu_track_entry *e =
	        atomic_load(&limiter.attached)
	                ? vxpu_track_find(&limiter.pools, (uint64_t)(uintptr_t)pool)
	                : NULL;
	if (rc == CUDA_SUCCESS && e)
		pool_settle(e, pool);
	return rc;
}

VXPU_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemPoolDestroy)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuMemPoolDestroy(pool);
	struct vxpu_track_entry *e =
	        rc == CUDA_SUCCESS && atomic_load(&limiter.attached)
	                ? vxpu_track_find(&limiter.pools, (uint64_t)(uintptr_t)pool)
	                : NULL;
	if (e) {
		/* The entry stays (a later pool may get the same handle), uncharged. */
		uint64_t charged = atomic_exchange(&e->bytes, 0);
		if (charged)
			limiter_release((int)atomic_load(&e->device), charged);
	}
	return rc;
}
