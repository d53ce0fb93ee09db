/*
 * cuda_pool.c - the stream-ordered allocator: memory pools, cuMemAllocAsync,
 * cuMemAllocFromPoolAsync, cuMemFreeAsync, pool attributes and trimming.
 *
 * A pool reserves physical memory in blocks of VXPU_SIM_GRANULARITY
 * multiples, one block per allocation, and charges the device when it
 * reserves, not when it hands a block out. A freed block stays reserved
 * (and charged) in the pool for reuse; the pool gives reserved memory back
 * to the device only when the application synchronises (stream, event or
 * context) and the pool holds more than its release threshold (default 0),
 * or on cuMemPoolTrimTo. That is the real allocator's observable contract,
 * and it is why a limiter must charge pools by their reservation.
 *
 * Attributes: RESERVED_MEM_* count reserved bytes, USED_MEM_* the bytes of
 * blocks handed out; the *_HIGH watermarks can be reset by setting 0.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define POOL_MAGIC 0x4c4f4f50u /* "POOL" */

struct sim_pool {
	uint32_t magic;
	int dev;
	bool is_default;
	bool destroyed; /* destroyed with blocks still handed out */
	uint64_t max_size;
	uint64_t release_threshold;
	uint64_t reserved, reserved_high;
	uint64_t used, used_high;
	int reuse_follow, reuse_opportunistic, reuse_internal;
	uint64_t outstanding;
	struct sim_pool *next;
};

static struct sim_pool *pools;
static struct sim_pool *default_pools[VXPU_SIM_MAX_DEVICES];

void sim_pools_reset(void)
{
	while (pools) {
		struct sim_pool *p = pools;
		pools = p->next;
		free(p);
	}
	memset(default_pools, 0, sizeof(default_pools));
}

static struct sim_pool *pool_valid(CUmemoryPool h)
{
	for (struct sim_pool *p = pools; p; p = p->next)
		if (p == (struct sim_pool *)h && p->magic == POOL_MAGIC && !p->destroyed)
			return p;
	return NULL;
}

static struct sim_pool *pool_new(int dev, bool is_default)
{
	struct sim_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->magic = POOL_MAGIC;
	p->dev = dev;
	p->is_default = is_default;
	p->reuse_follow = p->reuse_opportunistic = p->reuse_internal = 1;
	p->next = pools;
	pools = p;
	return p;
}

static struct sim_pool *default_pool(int dev)
{
	if (!default_pools[dev])
		default_pools[dev] = pool_new(dev, true);
	return default_pools[dev];
}

static struct sim_pool *current_pool(int dev)
{
	return sim.current_pool[dev] ? sim.current_pool[dev] : default_pool(dev);
}

/* Gives a free block back to the device. */
static void block_release(struct sim_pool *p, struct sim_alloc *a)
{
	p->reserved -= a->size;
	munmap((void *)a->base, a->map_len);
	vxpu_sim_mem_uncharge(&sim.st, a->dev, a->charged);
	sim_alloc_remove(a);
}

/* Releases free blocks of p while it reserves more than keep. */
static void pool_trim(struct sim_pool *p, uint64_t keep)
{
	size_t i = 0;
	while (i < sim.alloc_count && p->reserved > keep) {
		struct sim_alloc *a = &sim.allocs[i];
		if (a->kind == SIM_ALLOC_POOL && a->pool == p && !a->in_use)
			block_release(p, a);
		else
			i++;
	}
}

static void pool_unlink_free(struct sim_pool *p)
{
	struct sim_pool **pp = &pools;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	free(p);
}

void sim_pools_release_idle(int dev)
{
	for (struct sim_pool *p = pools; p; p = p->next)
		if (p->dev == dev && p->reserved > p->release_threshold)
			pool_trim(p, p->release_threshold);
}

CUresult sim_pool_free(struct sim_alloc *a)
{
	struct sim_pool *p = a->pool;
	a->in_use = false;
	p->used -= a->size;
	p->outstanding--;
	if (p->destroyed && p->outstanding == 0) {
		pool_trim(p, 0);
		pool_unlink_free(p);
	}
	return CUDA_SUCCESS;
}

/* Hands out a block of p for size bytes (sim.lock held). */
static CUresult pool_alloc(struct sim_pool *p, struct sim_ctx *ctx, size_t size, CUdeviceptr *dptr)
{
	uint64_t need = sim_round_up(size, VXPU_SIM_GRANULARITY);
	struct sim_alloc *best = NULL;
	for (size_t i = 0; i < sim.alloc_count; i++) {
		struct sim_alloc *a = &sim.allocs[i];
		if (a->kind == SIM_ALLOC_POOL && a->pool == p && !a->in_use && a->size >= need &&
		    (!best || a->size < best->size))
			best = a;
	}
	if (!best) {
		if (p->max_size && p->reserved + need > p->max_size)
			return CUDA_ERROR_OUT_OF_MEMORY;
		if (vxpu_sim_mem_charge(&sim.st, p->dev, need) != 0) {
			/* Free blocks of other pools may be what fills the card. */
			sim_pools_release_idle(p->dev);
			if (vxpu_sim_mem_charge(&sim.st, p->dev, need) != 0)
				return CUDA_ERROR_OUT_OF_MEMORY;
		}
		void *m = sim_map_anon(need);
		struct sim_alloc a = {.base = (uintptr_t)m,
		                      .size = need,
		                      .map_len = need,
		                      .charged = need,
		                      .dev = p->dev,
		                      .kind = SIM_ALLOC_POOL,
		                      .ctx = ctx,
		                      .pool = p};
		if (!m || sim_alloc_insert(&a) != 0) {
			if (m)
				munmap(m, need);
			vxpu_sim_mem_uncharge(&sim.st, p->dev, need);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		p->reserved += need;
		if (p->reserved > p->reserved_high)
			p->reserved_high = p->reserved;
		best = sim_alloc_at((uintptr_t)m);
	}
	best->in_use = true;
	best->user_size = size;
	best->ctx = ctx;
	p->used += best->size;
	if (p->used > p->used_high)
		p->used_high = p->used;
	p->outstanding++;
	*dptr = (CUdeviceptr)best->base;
	return CUDA_SUCCESS;
}

/* Common front of the async allocation entry points (pool NULL: the stream's device's current
 * pool). */
static CUresult alloc_async(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool hpool, bool use_pool,
                            CUstream hStream, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!dptr || bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(hStream, ptsz, &s);
	if (rc != CUDA_SUCCESS)
		goto out;
	rc = sim_ctx_usable(s->ctx);
	if (rc != CUDA_SUCCESS)
		goto out;
	if (s->capture != CU_STREAM_CAPTURE_STATUS_NONE) {
		rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
		goto out;
	}
	struct sim_pool *p = use_pool ? pool_valid(hpool) : current_pool(s->ctx->dev);
	if (!p) {
		rc = use_pool ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	rc = pool_alloc(p, s->ctx, bytesize, dptr);
out:
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, false, hStream, false);
}

SIM_API CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, false, hStream, true);
}

SIM_API CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                         CUstream hStream)
{
	return alloc_async(dptr, bytesize, pool, true, hStream, false);
}

SIM_API CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                              CUstream hStream)
{
	return alloc_async(dptr, bytesize, pool, true, hStream, true);
}

static CUresult free_async(CUdeviceptr dptr, CUstream hStream, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(hStream, ptsz, &s);
	if (rc == CUDA_SUCCESS && s->capture != CU_STREAM_CAPTURE_STATUS_NONE)
		rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	if (rc == CUDA_SUCCESS) {
		struct sim_alloc *a = sim_alloc_at((uintptr_t)dptr);
		if (!a || a->kind != SIM_ALLOC_POOL || !a->in_use)
			rc = CUDA_ERROR_INVALID_VALUE;
		else
			rc = sim_pool_free(a);
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	return free_async(dptr, hStream, false);
}

SIM_API CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	return free_async(dptr, hStream, true);
}

/* ---- pools --------------------------------------------------------------------------- */

SIM_API CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pool || !poolProps || poolProps->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    (poolProps->handleTypes != CU_MEM_HANDLE_TYPE_NONE &&
	     poolProps->handleTypes != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR))
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(poolProps->location.id);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	struct sim_pool *p = pool_new(phys, false);
	if (p)
		p->max_size = poolProps->maxSize;
	sim_unlock();
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pool = (CUmemoryPool)p;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_pool *p = pool_valid(pool);
	if (!p || p->is_default) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (sim.current_pool[p->dev] == p)
		sim.current_pool[p->dev] = NULL; /* back to the default pool */
	pool_trim(p, 0);
	if (p->outstanding == 0)
		pool_unlink_free(p);
	else
		p->destroyed = true; /* freed with its last block */
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_pool *p = pool_valid(pool);
	if (p)
		pool_trim(p, minBytesToKeep);
	sim_unlock();
	return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SIM_API CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_pool *p = pool_valid(pool);
	if (!p) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	switch (attr) {
	case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
		*(int *)value = p->reuse_follow;
		break;
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
		*(int *)value = p->reuse_opportunistic;
		break;
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
		*(int *)value = p->reuse_internal;
		break;
	case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
		*(cuuint64_t *)value = p->release_threshold;
		break;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
		*(cuuint64_t *)value = p->reserved;
		break;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
		*(cuuint64_t *)value = p->reserved_high;
		break;
	case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
		*(cuuint64_t *)value = p->used;
		break;
	case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
		*(cuuint64_t *)value = p->used_high;
		break;
	default:
		rc = CUDA_ERROR_INVALID_VALUE;
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_pool *p = pool_valid(pool);
	if (!p) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	switch (attr) {
	case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
		p->reuse_follow = *(int *)value != 0;
		break;
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
		p->reuse_opportunistic = *(int *)value != 0;
		break;
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
		p->reuse_internal = *(int *)value != 0;
		break;
	case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
		p->release_threshold = *(cuuint64_t *)value;
		break;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
		if (*(cuuint64_t *)value != 0)
			rc = CUDA_ERROR_INVALID_VALUE; /* a watermark can only be reset */
		else
			p->reserved_high = p->reserved;
		break;
	case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
		if (*(cuuint64_t *)value != 0)
			rc = CUDA_ERROR_INVALID_VALUE;
		else
			p->used_high = p->used;
		break;
	default:
		rc = CUDA_ERROR_INVALID_VALUE; /* the current values are read-only */
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pool_out)
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	struct sim_pool *p = default_pool(phys);
	sim_unlock();
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pool_out = (CUmemoryPool)p;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pool)
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	struct sim_pool *p = current_pool(phys);
	sim_unlock();
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pool = (CUmemoryPool)p;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	int phys = sim_device_index(dev);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	sim_lock();
	struct sim_pool *p = pool_valid(pool);
	if (!p || p->dev != phys)
		rc = CUDA_ERROR_INVALID_VALUE;
	else
		sim.current_pool[phys] = p->is_default ? NULL : p;
	sim_unlock();
	return rc;
}
