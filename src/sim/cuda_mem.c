/*
 * cuda_mem.c - device, managed and host allocations, pointer queries,
 * copies and sets.
 *
 * A device allocation is an anonymous MAP_NORESERVE mapping of this process:
 * the device pointer is its address, so copies and `fill` are plain memory
 * operations, and a card of 80 GiB costs the host only the pages touched.
 * Physical capacity is the shared state's: an allocation is charged to the
 * device (rounded up to VXPU_SIM_ALLOC_ALIGN; pitched ones at pitch x
 * height) before it is mapped, and fails with CUDA_ERROR_OUT_OF_MEMORY when
 * the card is full across all processes. Host allocations and registrations
 * are not device memory and are never charged.
 *
 * The table of allocations is sorted by address, so "which allocation holds
 * this pointer" (copies, sets, fill, pointer attributes) is a binary search.
 *
 * Synchronous copies and sets behave like the real ones on the legacy
 * default stream: they wait for the context's submitted work first (the
 * `_ptds` forms for the calling thread's default stream only). Data moves at
 * call time; copies take no kernel time on the timeline (copy engines are
 * separate from the SMs).
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *sim_map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) / pg * pg;
}

/* ---- the allocation table (sim.lock held) ------------------------------------------- */

/* Index of the first allocation with base > p. */
static size_t upper_bound(uintptr_t p)
{
	size_t lo = 0, hi = sim.alloc_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sim.allocs[mid].base <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct sim_alloc *sim_alloc_find(uintptr_t p)
{
	size_t i = upper_bound(p);
	if (i == 0)
		return NULL;
	struct sim_alloc *a = &sim.allocs[i - 1];
	return p - a->base < a->size ? a : NULL;
}

struct sim_alloc *sim_alloc_at(uintptr_t base)
{
	struct sim_alloc *a = sim_alloc_find(base);
	return a && a->base == base ? a : NULL;
}

int sim_alloc_insert(const struct sim_alloc *a)
{
	if (sim.alloc_count == sim.alloc_cap) {
		size_t cap = sim.alloc_cap ? sim.alloc_cap * 2 : 64;
		struct sim_alloc *n = realloc(sim.allocs, cap * sizeof(*n));
		if (!n)
			return -1;
		sim.allocs = n;
		sim.alloc_cap = cap;
	}
	size_t i = upper_bound(a->base);
	memmove(&sim.allocs[i + 1], &sim.allocs[i], (sim.alloc_count - i) * sizeof(*a));
	sim.allocs[i] = *a;
	sim.alloc_count++;
	return 0;
}

void sim_alloc_remove(struct sim_alloc *a)
{
	size_t i = (size_t)(a - sim.allocs);
	memmove(&sim.allocs[i], &sim.allocs[i + 1], (sim.alloc_count - i - 1) * sizeof(*a));
	sim.alloc_count--;
}

bool sim_range_ok(uintptr_t p, size_t n)
{
	if (n == 0)
		return true;
	struct sim_alloc *a = sim_alloc_find(p);
	if (a && (a->kind != SIM_ALLOC_POOL || a->in_use))
		return n <= a->size - (p - a->base);
	return sim_vmm_range_ok(p, n);
}

/* Unmaps and uncharges a DEVICE/MANAGED/HOST allocation and drops its record. */
static void alloc_release(struct sim_alloc *a)
{
	if (a->map_len)
		munmap((void *)a->base, a->map_len);
	if (a->charged)
		vxpu_sim_mem_uncharge(&sim.st, a->dev, a->charged);
	sim_alloc_remove(a);
}

void sim_free_ctx_allocations(struct sim_ctx *ctx)
{
	size_t i = 0;
	while (i < sim.alloc_count) {
		struct sim_alloc *a = &sim.allocs[i];
		if (a->ctx == ctx && a->kind != SIM_ALLOC_POOL)
			alloc_release(a); /* the next one moved into slot i */
		else
			i++;
	}
}

/* ---- allocation entry points ------------------------------------------------------------ */

/* Charges `charge` bytes, maps `len` and records the allocation. */
static CUresult device_alloc(CUdeviceptr *dptr, size_t len, uint64_t charge,
                             enum sim_alloc_kind kind)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!dptr || len == 0)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	rc = sim_ctx_usable(ctx);
	if (rc != CUDA_SUCCESS)
		goto out;
	if (vxpu_sim_mem_charge(&sim.st, ctx->dev, charge) != 0) {
		rc = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	size_t map_len = page_round(len);
	void *p = sim_map_anon(map_len);
	struct sim_alloc a = {.base = (uintptr_t)p,
	                      .size = len,
	                      .map_len = map_len,
	                      .charged = charge,
	                      .dev = ctx->dev,
	                      .kind = kind,
	                      .ctx = ctx};
	if (!p || sim_alloc_insert(&a) != 0) {
		if (p)
			munmap(p, map_len);
		vxpu_sim_mem_uncharge(&sim.st, ctx->dev, charge);
		rc = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	*dptr = (CUdeviceptr)(uintptr_t)p;
out:
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	return device_alloc(dptr, bytesize, sim_round_up(bytesize, VXPU_SIM_ALLOC_ALIGN),
	                    SIM_ALLOC_DEVICE);
}

SIM_API CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	(void)dptr;
	(void)bytesize;
	return CUDA_ERROR_NOT_SUPPORTED; /* 32-bit device pointers cannot hold 64-bit addresses */
}

SIM_API CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
                                    size_t Height, unsigned int ElementSizeBytes)
{
	if (!pPitch || WidthInBytes == 0 || Height == 0 ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	size_t pitch = (size_t)sim_round_up(WidthInBytes, VXPU_SIM_ALLOC_ALIGN);
	if (Height > SIZE_MAX / pitch)
		return CUDA_ERROR_OUT_OF_MEMORY;
	size_t bytes = pitch * Height;
	CUresult rc = device_alloc(dptr, bytes, bytes, SIM_ALLOC_DEVICE);
	if (rc == CUDA_SUCCESS)
		*pPitch = pitch;
	return rc;
}

SIM_API CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
                                 unsigned int WidthInBytes, unsigned int Height,
                                 unsigned int ElementSizeBytes)
{
	(void)dptr;
	(void)pPitch;
	(void)WidthInBytes;
	(void)Height;
	(void)ElementSizeBytes;
	return CUDA_ERROR_NOT_SUPPORTED;
}

SIM_API CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
	if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
		return CUDA_ERROR_INVALID_VALUE;
	return device_alloc(dptr, bytesize, sim_round_up(bytesize, VXPU_SIM_ALLOC_ALIGN),
	                    SIM_ALLOC_MANAGED);
}

static CUresult free_device(CUdeviceptr dptr)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (dptr == 0)
		return CUDA_SUCCESS;
	sim_lock();
	struct sim_alloc *a = sim_alloc_at((uintptr_t)dptr);
	if (!a || a->kind == SIM_ALLOC_HOST || a->kind == SIM_ALLOC_REGISTERED)
		rc = CUDA_ERROR_INVALID_VALUE;
	else if (a->kind == SIM_ALLOC_POOL)
		rc = a->in_use ? sim_pool_free(a) : CUDA_ERROR_INVALID_VALUE;
	else
		alloc_release(a);
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	return free_device(dptr);
}

SIM_API CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	return free_device(dptr);
}

static CUresult host_alloc(void **pp, size_t bytesize)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pp || bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	size_t map_len = page_round(bytesize);
	void *p = sim_map_anon(map_len);
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct sim_alloc a = {.base = (uintptr_t)p,
	                      .size = bytesize,
	                      .map_len = map_len,
	                      .dev = ctx->dev,
	                      .kind = SIM_ALLOC_HOST,
	                      .ctx = ctx};
	sim_lock();
	int ok = sim_alloc_insert(&a);
	sim_unlock();
	if (ok != 0) {
		munmap(p, map_len);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*pp = p;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	return host_alloc(pp, bytesize);
}

SIM_API CUresult cuMemAllocHost(void **pp, unsigned int bytesize)
{
	return host_alloc(pp, bytesize);
}

SIM_API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
	if (Flags & ~(unsigned int)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP |
	                            CU_MEMHOSTALLOC_WRITECOMBINED))
		return CUDA_ERROR_INVALID_VALUE;
	return host_alloc(pp, bytesize);
}

SIM_API CUresult cuMemFreeHost(void *p)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_alloc *a = sim_alloc_at((uintptr_t)p);
	if (!a || a->kind != SIM_ALLOC_HOST)
		rc = CUDA_ERROR_INVALID_VALUE;
	else
		alloc_release(a);
	sim_unlock();
	return rc;
}

static CUresult host_register(void *p, size_t bytesize, unsigned int Flags)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!p || bytesize == 0 ||
	    (Flags & ~(unsigned int)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
	                             CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)))
		return CUDA_ERROR_INVALID_VALUE;
	uintptr_t b = (uintptr_t)p;
	sim_lock();
	size_t i = upper_bound(b + bytesize - 1);
	if (i > 0 && sim.allocs[i - 1].base + sim.allocs[i - 1].size > b) {
		sim_unlock();
		return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	}
	struct sim_alloc a = {.base = b,
	                      .size = bytesize,
	                      .dev = ctx->dev,
	                      .kind = SIM_ALLOC_REGISTERED,
	                      .ctx = ctx};
	rc = sim_alloc_insert(&a) == 0 ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
	sim_unlock();
	return rc;
}

SIM_API CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	return host_register(p, bytesize, Flags);
}

SIM_API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
	return host_register(p, bytesize, Flags);
}

SIM_API CUresult cuMemHostUnregister(void *p)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_alloc *a = sim_alloc_at((uintptr_t)p);
	if (!a || a->kind != SIM_ALLOC_REGISTERED)
		rc = CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
	else
		sim_alloc_remove(a);
	sim_unlock();
	return rc;
}

static CUresult mem_get_info(size_t *free, size_t *total)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	vxpu_sim_reap(&sim.st); /* a dead process's memory is free again */
	uint64_t cap = vxpu_sim_mem_total(&sim.st, ctx->dev);
	uint64_t used = vxpu_sim_mem_used(&sim.st, ctx->dev);
	*total = (size_t)cap;
	*free = (size_t)(used < cap ? cap - used : 0);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	return mem_get_info(free, total);
}

SIM_API CUresult cuMemGetInfo(unsigned int *free, unsigned int *total)
{
	size_t f, t;
	CUresult rc = mem_get_info(&f, &t);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	*free = f > 0xFFFFFFFFu ? 0xFFFFFFFFu : (unsigned int)f;
	*total = t > 0xFFFFFFFFu ? 0xFFFFFFFFu : (unsigned int)t;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_alloc *a = sim_alloc_find((uintptr_t)dptr);
	if (!a || a->kind == SIM_ALLOC_HOST || a->kind == SIM_ALLOC_REGISTERED ||
	    (a->kind == SIM_ALLOC_POOL && !a->in_use)) {
		rc = CUDA_ERROR_NOT_FOUND;
	} else {
		if (pbase)
			*pbase = (CUdeviceptr)a->base;
		if (psize)
			*psize = a->kind == SIM_ALLOC_POOL ? a->user_size : a->size;
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_alloc *a = sim_alloc_find((uintptr_t)ptr);
	if (!a || (a->kind == SIM_ALLOC_POOL && !a->in_use)) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	bool host = a->kind == SIM_ALLOC_HOST || a->kind == SIM_ALLOC_REGISTERED;
	switch (attribute) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = (CUcontext)a->ctx;
		break;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = host ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
		*(CUdeviceptr *)data = ptr;
		break;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		if (!host && a->kind != SIM_ALLOC_MANAGED)
			rc = CUDA_ERROR_INVALID_VALUE;
		else
			*(void **)data = (void *)(uintptr_t)ptr;
		break;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
		*(unsigned int *)data = a->kind == SIM_ALLOC_MANAGED;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = sim_device_ordinal(a->dev);
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
		*(CUdeviceptr *)data = (CUdeviceptr)a->base;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
		*(size_t *)data = a->kind == SIM_ALLOC_POOL ? a->user_size : a->size;
		break;
	case CU_POINTER_ATTRIBUTE_MAPPED:
		*(unsigned int *)data = 1;
		break;
	case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
		*(CUmemoryPool *)data = (CUmemoryPool)a->pool;
		break;
	default:
		rc = CUDA_ERROR_NOT_SUPPORTED;
	}
	sim_unlock();
	return rc;
}

/* ---- copies and sets ------------------------------------------------------------------ */

enum copy_sync { COPY_ASYNC, COPY_SYNC_LEGACY, COPY_SYNC_PER_THREAD };

/*
 * Checks the device ranges (dst_dev/src_dev are 0 when host memory), waits as
 * a synchronous operation must, then runs op. stream is used by async forms.
 */
static CUresult copy_common(uintptr_t dst_dev, size_t dst_n, uintptr_t src_dev, size_t src_n,
                            enum copy_sync sync, CUstream stream, bool ptsz)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	rc = sim_ctx_usable(ctx);
	if (rc == CUDA_SUCCESS && ((dst_dev && !sim_range_ok(dst_dev, dst_n)) ||
	                           (src_dev && !sim_range_ok(src_dev, src_n))))
		rc = CUDA_ERROR_INVALID_VALUE;
	struct sim_stream *s = NULL;
	if (rc == CUDA_SUCCESS && sync != COPY_SYNC_LEGACY)
		rc = sim_stream_resolve(sync == COPY_SYNC_PER_THREAD ? NULL : stream,
		                        sync == COPY_SYNC_PER_THREAD || ptsz, &s);
	if (rc == CUDA_SUCCESS && s && s->capture != CU_STREAM_CAPTURE_STATUS_NONE)
		rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* only kernels are captured */
	uint64_t wait = 0;
	if (rc == CUDA_SUCCESS && sync == COPY_SYNC_LEGACY)
		wait = ctx->last_end;
	sim_unlock();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (sync == COPY_SYNC_PER_THREAD)
		return sim_stream_wait(s);
	if (wait)
		sim_wait_until(wait);
	return CUDA_SUCCESS;
}

static CUresult copy_htod(CUdeviceptr dst, const void *src, size_t n, enum copy_sync sync,
                          CUstream stream, bool ptsz)
{
	if (n && !src)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = copy_common((uintptr_t)dst, n, 0, 0, sync, stream, ptsz);
	if (rc == CUDA_SUCCESS && n)
		memcpy((void *)(uintptr_t)dst, src, n);
	return rc;
}

static CUresult copy_dtoh(void *dst, CUdeviceptr src, size_t n, enum copy_sync sync,
                          CUstream stream, bool ptsz)
{
	if (n && !dst)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = copy_common(0, 0, (uintptr_t)src, n, sync, stream, ptsz);
	if (rc == CUDA_SUCCESS && n)
		memcpy(dst, (const void *)(uintptr_t)src, n);
	return rc;
}

static CUresult copy_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, enum copy_sync sync,
                          CUstream stream, bool ptsz)
{
	CUresult rc = copy_common((uintptr_t)dst, n, (uintptr_t)src, n, sync, stream, ptsz);
	if (rc == CUDA_SUCCESS && n)
		memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return rc;
}

static CUresult set_d8(CUdeviceptr dst, unsigned char v, size_t n, enum copy_sync sync,
                       CUstream stream, bool ptsz)
{
	CUresult rc = copy_common((uintptr_t)dst, n, 0, 0, sync, stream, ptsz);
	if (rc == CUDA_SUCCESS && n)
		memset((void *)(uintptr_t)dst, v, n);
	return rc;
}

static CUresult set_d32(CUdeviceptr dst, unsigned int v, size_t n, enum copy_sync sync,
                        CUstream stream, bool ptsz)
{
	if (dst % 4 != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (n > SIZE_MAX / 4)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = copy_common((uintptr_t)dst, n * 4, 0, 0, sync, stream, ptsz);
	if (rc == CUDA_SUCCESS) {
		uint32_t *p = (uint32_t *)(uintptr_t)dst;
		for (size_t i = 0; i < n; i++)
			p[i] = v;
	}
	return rc;
}

SIM_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
	return copy_htod(dstDevice, srcHost, ByteCount, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
	return copy_htod(dstDevice, srcHost, ByteCount, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
	return copy_dtoh(dstHost, srcDevice, ByteCount, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
	return copy_dtoh(dstHost, srcDevice, ByteCount, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
	return copy_dtod(dstDevice, srcDevice, ByteCount, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                      size_t ByteCount)
{
	return copy_dtod(dstDevice, srcDevice, ByteCount, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
	return copy_dtod(dst, src, ByteCount, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
	return copy_dtod(dst, src, ByteCount, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                      CUstream hStream)
{
	return copy_htod(dstDevice, srcHost, ByteCount, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost,
                                           size_t ByteCount, CUstream hStream)
{
	return copy_htod(dstDevice, srcHost, ByteCount, COPY_ASYNC, hStream, true);
}

SIM_API CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                      CUstream hStream)
{
	return copy_dtoh(dstHost, srcDevice, ByteCount, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                           CUstream hStream)
{
	return copy_dtoh(dstHost, srcDevice, ByteCount, COPY_ASYNC, hStream, true);
}

SIM_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                      size_t ByteCount, CUstream hStream)
{
	return copy_dtod(dstDevice, srcDevice, ByteCount, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                           size_t ByteCount, CUstream hStream)
{
	return copy_dtod(dstDevice, srcDevice, ByteCount, COPY_ASYNC, hStream, true);
}

SIM_API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
	return copy_dtod(dst, src, ByteCount, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                                    CUstream hStream)
{
	return copy_dtod(dst, src, ByteCount, COPY_ASYNC, hStream, true);
}

SIM_API CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
	return set_d8(dstDevice, uc, N, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
	return set_d8(dstDevice, uc, N, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
	return set_d32(dstDevice, ui, N, COPY_SYNC_LEGACY, NULL, false);
}

SIM_API CUresult cuMemsetD32_v2_ptds(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
	return set_d32(dstDevice, ui, N, COPY_SYNC_PER_THREAD, NULL, true);
}

SIM_API CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                                 CUstream hStream)
{
	return set_d8(dstDevice, uc, N, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                                      CUstream hStream)
{
	return set_d8(dstDevice, uc, N, COPY_ASYNC, hStream, true);
}

SIM_API CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N,
                                  CUstream hStream)
{
	return set_d32(dstDevice, ui, N, COPY_ASYNC, hStream, false);
}

SIM_API CUresult cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui, size_t N,
                                       CUstream hStream)
{
	return set_d32(dstDevice, ui, N, COPY_ASYNC, hStream, true);
}
