/*
 * admission.h - charging device memory against a container's limit, atomically
 * across all the container's processes, in the shared region.
 *
 *   if (vxpu_admit_reserve(r, slot, dev, n) != VXPU_ADMIT_OK) -> out of memory
 *   real allocation ...
 *   success: vxpu_admit_commit(r, slot, dev, n, n_actual)
 *   failure: vxpu_admit_cancel(r, slot, dev, n)
 *   later, after the real free succeeded: vxpu_admit_release(r, slot, dev, n_actual)
 *
 * How the limit holds without a lock and without a shared total:
 *   A reservation is an atomic add to the caller's own slot counter
 *   (`reserve`), then a scan of every slot's reserve + charge. All of these
 *   are sequentially consistent, so of two racing reservations at least one
 *   sees the other (each stores before it loads). The last one to store
 *   therefore sees every reservation and charge that is still held, and only
 *   a reservation whose scan found the total within the limit is admitted:
 *   at no instant does the sum of admitted memory exceed the limit.
 *   Commit moves bytes from reserve to charge (charge first, so a concurrent
 *   scan counts them twice rather than never); release lowers the charge
 *   only after the driver has freed the memory.
 *
 *   Because every counter belongs to one process, a process killed at any
 *   instruction leaves only its own counters, which a peer zeroes after
 *   taking its slot lock (region.h): no total can be left wrong, no lock is
 *   left held.
 *
 *   Two reservations that only fail because of each other must not both give
 *   up (a spurious out-of-memory): the one in the lower slot keeps its
 *   reservation and waits for higher slots' pending reservations to settle
 *   (they are a few instructions from commit or cancel); a higher slot that
 *   sees a lower slot's pending reservation withdraws and retries. Waits are
 *   bounded (VXPU_ADMIT_WAIT_NS); a pending reservation of a dead process is
 *   reclaimed on the spot; after the bound the caller gets out-of-memory.
 *
 * A device whose limit is VXPU_REGION_UNLIMITED is only counted (no scan).
 */
#ifndef VXPU_LIMITER_ADMISSION_H
#define VXPU_LIMITER_ADMISSION_H

#include "limiter/region.h"

#include <stdint.h>

/* The longest a reservation waits for concurrent ones to settle. */
#define VXPU_ADMIT_WAIT_NS (50LL * 1000 * 1000)

enum vxpu_admit_result {
	VXPU_ADMIT_OK = 0,
	VXPU_ADMIT_OVER_LIMIT = 1, /* the limit does not leave room for it */
	VXPU_ADMIT_CONTENDED = 2,  /* concurrent reservations did not settle in time */
};

/* Reserves bytes on device for slot. On success the bytes stay reserved. */
enum vxpu_admit_result vxpu_admit_reserve(struct vxpu_region *r, unsigned slot, unsigned device,
                                          uint64_t bytes);

/* The allocation succeeded with `actual` bytes (>= 0) for a reservation of `reserved`. */
void vxpu_admit_commit(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t reserved,
                       uint64_t actual);

/* The allocation failed: drops the reservation. */
void vxpu_admit_cancel(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t reserved);

/* Memory that was committed has been freed by the driver. */
void vxpu_admit_release(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t bytes);

/*
 * Charges memory the driver already gave out (e.g. a pool that grew by more
 * than was reserved): counted, never refused.
 */
void vxpu_admit_charge(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t bytes);

/* The container's use of device: reserve + charge of every slot, saturating. */
uint64_t vxpu_admit_used(const struct vxpu_region *r, unsigned device);

/* The device's limit (VXPU_REGION_UNLIMITED when none). */
uint64_t vxpu_admit_limit(const struct vxpu_region *r, unsigned device);

#endif
