/*
 * hook_vmm.c - virtual memory management (cuMemCreate / cuMemMap family, as
 * used by NCCL and by caching allocators with expandable segments).
 *
 * The driver's lifetime rule: physical memory made by cuMemCreate exists
 * until its handle is released AND its last mapping is unmapped. So it is
 * charged at creation and given back only when both have happened. The
 * handle's entry keeps its mapping count and a "released" bit in one word
 * (aux); whichever of cuMemRelease and the last cuMemUnmap completes the
 * pair sees it in its own atomic update and gives the charge back, exactly
 * once. Mappings are recorded by address so that cuMemUnmap, which names
 * an address range and not a handle, finds the handles it unmaps.
 *
 * Memory located on the host (CU_MEM_LOCATION_TYPE_HOST*) is not device
 * memory and is not charged. Handles imported from another process are
 * charged to their exporter and are not tracked here.
 */
#include "limiter/libvxpu.h"

#include "common/log.h"

#define VMM_RELEASED (1ULL << 63)
#define VMM_MAPS_MASK (VMM_RELEASED - 1)

/* The handle's physical memory is gone: give its charge back. */
static void handle_gone(uint64_t handle)
{
	uint64_t bytes, device;
	if (vxpu_track_take(&limiter.handles, handle, &bytes, &device, NULL))
		limiter_release((int)device, bytes);
}

VXPU_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                                 const CUmemAllocationProp *prop, unsigned long long flags)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!handle || !prop || size == 0 || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return limiter.cuda.cuMemCreate(handle, size, prop, flags);
	int device = limiter_ordinal_device(prop->location.id);
	if (device < 0)
		return limiter.cuda.cuMemCreate(handle, size, prop, flags); /* invalid device */
	rc = limiter_reserve(device, size);
	if (rc != CUDA_SUCCESS)
		return rc;
	rc = limiter.cuda.cuMemCreate(handle, size, prop, flags);
	if (rc != CUDA_SUCCESS) {
		limiter_cancel(device, size);
		return rc;
	}
	if (vxpu_track_put(&limiter.handles, *handle, size, (uint64_t)device, 0) != 0) {
		limiter.cuda.cuMemRelease(*handle);
		limiter_cancel(device, size);
		vxpu_log(VXPU_LOG_WARN, "allocation refused: the limiter's handle table is full",
		         (char *)NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	limiter_commit(device, size, size);
	return CUDA_SUCCESS;
}

VXPU_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemRelease)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuMemRelease(handle);
	if (rc != CUDA_SUCCESS || !atomic_load(&limiter.attached))
		return rc;
	struct vxpu_track_entry *e = vxpu_track_find(&limiter.handles, handle);
	if (e && (atomic_fetch_or(&e->aux, VMM_RELEASED) & VMM_MAPS_MASK) == 0)
		handle_gone(handle);
	return rc;
}

VXPU_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                              CUmemGenericAllocationHandle handle, unsigned long long flags)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemMap)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuMemMap(ptr, size, offset, handle, flags);
	if (rc != CUDA_SUCCESS || !atomic_load(&limiter.attached))
		return rc;
	struct vxpu_track_entry *e = vxpu_track_find(&limiter.handles, handle);
	if (!e)
		return rc; /* imported: charged to its exporter */
	if (vxpu_track_put(&limiter.mappings, ptr, size, handle, 0) != 0) {
		/* Untracked, its unmap could never release the handle: refuse. */
		limiter.cuda.cuMemUnmap(ptr, size);
		vxpu_log(VXPU_LOG_WARN, "mapping refused: the limiter's mapping table is full",
		         (char *)NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	atomic_fetch_add(&e->aux, 1);
	return rc;
}

VXPU_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMemUnmap)
		return CUDA_ERROR_NOT_SUPPORTED;
	CUresult rc = limiter.cuda.cuMemUnmap(ptr, size);
	if (rc != CUDA_SUCCESS || !atomic_load(&limiter.attached))
		return rc;
	/* The range is covered by whole mappings laid end to end. */
	CUdeviceptr at = ptr, end = ptr + size;
	while (at < end) {
		uint64_t bytes, handle;
		if (!vxpu_track_take(&limiter.mappings, at, &bytes, &handle, NULL) || bytes == 0)
			break;
		struct vxpu_track_entry *e = vxpu_track_find(&limiter.handles, handle);
		if (e) {
			uint64_t before = atomic_fetch_sub(&e->aux, 1);
			if ((before & VMM_RELEASED) && (before & VMM_MAPS_MASK) == 1)
				handle_gone(handle);
		}
		at += bytes;
	}
	return rc;
}
