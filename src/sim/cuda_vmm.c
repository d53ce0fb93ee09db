/*
 * cuda_vmm.c - virtual memory management: address reservations, physical
 * handles (cuMemCreate), mappings and access.
 *
 * Model, following the driver's lifetime rules:
 *   - cuMemAddressReserve reserves an inaccessible (PROT_NONE, NORESERVE)
 *     address range; nothing is charged.
 *   - cuMemCreate charges the device for the handle's whole size at once and
 *     backs it with a memfd, so one handle can be mapped at several
 *     addresses that then share the same bytes.
 *   - cuMemMap places the handle (or part of it) in a reservation, still
 *     inaccessible; cuMemSetAccess makes it readable/writable.
 *   - cuMemRelease drops the caller's handle, but the physical memory lives
 *     (and stays charged) until its last mapping is unmapped.
 * Sizes, offsets and addresses must be multiples of the granularity
 * (VXPU_SIM_GRANULARITY, 2 MiB), as on real GPUs.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PHYS_MAGIC 0x53594850u /* "PHYS" */

struct sim_phys {
	uint32_t magic;
	int dev;
	int fd;
	uint64_t size;
	bool released; /* the caller released its handle */
	int maps;      /* live mappings */
	struct sim_phys *next;
};

struct sim_reservation {
	uintptr_t base;
	size_t size;
	struct sim_reservation *next;
};

struct sim_mapping {
	uintptr_t base;
	size_t size;
	struct sim_phys *phys;
	bool accessible;
	struct sim_mapping *next;
};

static struct sim_phys *physs;
static struct sim_reservation *reservations;
static struct sim_mapping *mappings;

void sim_vmm_reset(void)
{
	while (mappings) {
		struct sim_mapping *m = mappings;
		mappings = m->next;
		free(m);
	}
	while (reservations) {
		struct sim_reservation *r = reservations;
		reservations = r->next;
		munmap((void *)r->base, r->size);
		free(r);
	}
	while (physs) {
		struct sim_phys *p = physs;
		physs = p->next;
		close(p->fd);
		free(p);
	}
}

bool sim_vmm_range_ok(uintptr_t p, size_t n)
{
	/* Mappings of one range may be adjacent: walk them in address order. */
	uintptr_t at = p, end = p + n;
	while (at < end) {
		const struct sim_mapping *hit = NULL;
		for (const struct sim_mapping *m = mappings; m; m = m->next)
			if (m->accessible && at >= m->base && at < m->base + m->size)
				hit = m;
		if (!hit)
			return false;
		at = hit->base + hit->size;
	}
	return true;
}

static struct sim_phys *phys_valid(CUmemGenericAllocationHandle h)
{
	for (struct sim_phys *p = physs; p; p = p->next)
		if ((uintptr_t)p == (uintptr_t)h && p->magic == PHYS_MAGIC && !p->released)
			return p;
	return NULL;
}

static void phys_destroy(struct sim_phys *p)
{
	struct sim_phys **pp = &physs;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	close(p->fd);
	vxpu_sim_mem_uncharge(&sim.st, p->dev, p->size);
	free(p);
}

static struct sim_reservation *reservation_holding(uintptr_t base, size_t size)
{
	for (struct sim_reservation *r = reservations; r; r = r->next)
		if (base >= r->base && size <= r->size && base - r->base <= r->size - size)
			return r;
	return NULL;
}

static bool granular(uint64_t v)
{
	return v % VXPU_SIM_GRANULARITY == 0;
}

SIM_API CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                               CUmemAllocationGranularity_flags option)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!granularity || !prop || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM &&
	     option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
		return CUDA_ERROR_INVALID_VALUE;
	if (sim_device_index(prop->location.id) < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*granularity = VXPU_SIM_GRANULARITY;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment,
                                     CUdeviceptr addr, unsigned long long flags)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!ptr || size == 0 || !granular(size) || flags != 0 ||
	    (alignment & (alignment - 1)) != 0)
		return CUDA_ERROR_INVALID_VALUE;
	size_t align = alignment > VXPU_SIM_GRANULARITY ? alignment : VXPU_SIM_GRANULARITY;
	(void)addr; /* a hint only, as for the real driver */
	size_t span = size + align;
	void *m = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	uintptr_t raw = (uintptr_t)m;
	uintptr_t base = (raw + align - 1) / align * align;
	if (base > raw)
		munmap(m, base - raw);
	if (base + size < raw + span)
		munmap((void *)(base + size), raw + span - (base + size));
	struct sim_reservation *r = calloc(1, sizeof(*r));
	if (!r) {
		munmap((void *)base, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	r->base = base;
	r->size = size;
	sim_lock();
	r->next = reservations;
	reservations = r;
	sim_unlock();
	*ptr = (CUdeviceptr)base;
	return CUDA_SUCCESS;
}

/* Removes mapping m (sim.lock held); the range returns to PROT_NONE reserve. */
static void mapping_drop(struct sim_mapping *m)
{
	(void)mmap((void *)m->base, m->size, PROT_NONE,
	           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	struct sim_phys *p = m->phys;
	struct sim_mapping **mp = &mappings;
	while (*mp && *mp != m)
		mp = &(*mp)->next;
	if (*mp)
		*mp = m->next;
	free(m);
	if (--p->maps == 0 && p->released)
		phys_destroy(p);
}

SIM_API CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_reservation **rp = &reservations;
	while (*rp && !((*rp)->base == (uintptr_t)ptr && (*rp)->size == size))
		rp = &(*rp)->next;
	if (!*rp) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	struct sim_reservation *r = *rp;
	*rp = r->next;
	/* Mappings left inside go with the range. */
	struct sim_mapping *m = mappings;
	while (m) {
		struct sim_mapping *next = m->next;
		if (m->base >= r->base && m->base < r->base + r->size)
			mapping_drop(m);
		m = next;
	}
	munmap((void *)r->base, r->size);
	free(r);
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                             const CUmemAllocationProp *prop, unsigned long long flags)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!handle || !prop || size == 0 || !granular(size) || flags != 0 ||
	    prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	int phys = sim_device_index(prop->location.id);
	if (phys < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (vxpu_sim_is_lost(&sim.st, phys))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	struct sim_phys *p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p->fd = memfd_create("vxpu-sim-vmm", MFD_CLOEXEC);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)size) != 0) {
		if (p->fd >= 0)
			close(p->fd);
		free(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	sim_lock();
	if (vxpu_sim_mem_charge(&sim.st, phys, size) != 0) {
		sim_unlock();
		close(p->fd);
		free(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	p->magic = PHYS_MAGIC;
	p->dev = phys;
	p->size = size;
	p->next = physs;
	physs = p;
	sim_unlock();
	*handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_phys *p = phys_valid(handle);
	if (!p) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	p->released = true;
	if (p->maps == 0)
		phys_destroy(p);
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                          CUmemGenericAllocationHandle handle, unsigned long long flags)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	uintptr_t base = (uintptr_t)ptr;
	if (size == 0 || flags != 0 || !granular(base) || !granular(size) || !granular(offset))
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_mapping *m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	sim_lock();
	struct sim_phys *p = phys_valid(handle);
	if (!p || offset > p->size || size > p->size - offset || !reservation_holding(base, size))
		rc = CUDA_ERROR_INVALID_VALUE;
	for (const struct sim_mapping *o = mappings; rc == CUDA_SUCCESS && o; o = o->next)
		if (base < o->base + o->size && o->base < base + size)
			rc = CUDA_ERROR_ALREADY_MAPPED;
	if (rc == CUDA_SUCCESS && mmap((void *)base, size, PROT_NONE, MAP_SHARED | MAP_FIXED, p->fd,
	                               (off_t)offset) == MAP_FAILED)
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	if (rc != CUDA_SUCCESS) {
		sim_unlock();
		free(m);
		return rc;
	}
	m->base = base;
	m->size = size;
	m->phys = p;
	m->next = mappings;
	mappings = m;
	p->maps++;
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	uintptr_t base = (uintptr_t)ptr;
	if (size == 0 || !granular(base) || !granular(size))
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	/* The range must be covered exactly by whole mappings. */
	size_t covered = 0;
	for (const struct sim_mapping *m = mappings; m; m = m->next) {
		bool inside = m->base >= base && m->base + m->size <= base + size;
		bool overlaps = base < m->base + m->size && m->base < base + size;
		if (overlaps && !inside) {
			sim_unlock();
			return CUDA_ERROR_INVALID_VALUE;
		}
		if (inside)
			covered += m->size;
	}
	if (covered != size) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	struct sim_mapping *m = mappings;
	while (m) {
		struct sim_mapping *next = m->next;
		if (m->base >= base && m->base + m->size <= base + size)
			mapping_drop(m);
		m = next;
	}
	sim_unlock();
	return CUDA_SUCCESS;
}

SIM_API CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
                                size_t count)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	uintptr_t base = (uintptr_t)ptr;
	if (!desc || count == 0 || size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	int prot = PROT_NONE;
	for (size_t i = 0; i < count; i++) {
		if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
		    sim_device_index(desc[i].location.id) < 0)
			return CUDA_ERROR_INVALID_DEVICE;
		if (desc[i].flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
			prot = PROT_READ | PROT_WRITE;
		else if (desc[i].flags == CU_MEM_ACCESS_FLAGS_PROT_READ && prot == PROT_NONE)
			prot = PROT_READ;
		else if (desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE &&
		         desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ)
			return CUDA_ERROR_INVALID_VALUE;
	}
	sim_lock();
	/* Every byte of the range must be mapped. */
	size_t covered = 0;
	for (const struct sim_mapping *m = mappings; m; m = m->next) {
		uintptr_t s = m->base > base ? m->base : base;
		uintptr_t e = m->base + m->size < base + size ? m->base + m->size : base + size;
		if (e > s)
			covered += e - s;
	}
	if (covered != size) {
		sim_unlock();
		return CUDA_ERROR_INVALID_VALUE;
	}
	mprotect((void *)base, size, prot);
	for (struct sim_mapping *m = mappings; m; m = m->next)
		if (base < m->base + m->size && m->base < base + size)
			m->accessible = prot != PROT_NONE;
	sim_unlock();
	return CUDA_SUCCESS;
}
