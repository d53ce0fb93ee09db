/*
 * admission.c - reserve / commit / cancel / release of device memory against
 * the container's limit (the protocol and why it holds: admission.h).
 *
 * Every shared access here is a sequentially consistent atomic: the
 * argument that two racing reservations cannot both miss each other needs
 * a single total order of their stores and loads. The scan reads a slot's
 * reserve before its charge because commit raises the charge before it
 * lowers the reserve: read in that order, bytes in transit are seen at
 * least once.
 */
#include "limiter/admission.h"

#include <sched.h>
#include <time.h>

/* After this many contended rounds, look for dead processes' reservations. */
#define ADMIT_SWEEP_EVERY 64u

struct admit_scan {
	uint64_t committed;     /* charges of all slots */
	uint64_t pending_lower; /* reservations that take precedence over ours */
	uint64_t pending_other; /* all other reservations */
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t s;
	return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t scan_limit(const struct vxpu_region *r)
{
	uint32_t high = atomic_load(&r->header->slot_high);
	return high > VXPU_REGION_MAX_SLOTS ? VXPU_REGION_MAX_SLOTS : high;
}

/*
 * Sums every slot's counters for device. Our own reservation of `ours`
 * bytes is left out; other threads of our own process count as taking
 * precedence (they withdraw and retry just as we do, so neither waits for
 * the other).
 */
static void admit_scan(const struct vxpu_region *r, unsigned self, unsigned device, uint64_t ours,
                       struct admit_scan *s)
{
	s->committed = 0;
	s->pending_lower = 0;
	s->pending_other = 0;
	uint32_t high = scan_limit(r);
	for (uint32_t i = 0; i < high; i++) {
		const struct vxpu_region_slot_memory *m = &r->slots[i].memory[device];
		uint64_t reserve = atomic_load(&m->reserve);
		uint64_t charge = atomic_load(&m->charge);
		s->committed = sat_add(s->committed, charge);
		if (i == self) {
			reserve = reserve >= ours ? reserve - ours : 0;
			s->pending_lower = sat_add(s->pending_lower, reserve);
		} else if (i < self) {
			s->pending_lower = sat_add(s->pending_lower, reserve);
		} else {
			s->pending_other = sat_add(s->pending_other, reserve);
		}
	}
}

static void admit_pause(unsigned round)
{
	if (round < 16) {
		for (int i = 0; i < 64; i++)
			__asm__ __volatile__("" ::: "memory");
	} else {
		sched_yield();
	}
}

enum vxpu_admit_result vxpu_admit_reserve(struct vxpu_region *r, unsigned slot, unsigned device,
                                          uint64_t bytes)
{
	struct vxpu_region_slot_memory *mine = &r->slots[slot].memory[device];
	uint64_t limit = atomic_load(&r->devices[device].memory_limit);
	if (limit == VXPU_REGION_UNLIMITED) {
		atomic_fetch_add(&mine->reserve, bytes);
		return VXPU_ADMIT_OK;
	}
	if (bytes > limit)
		return VXPU_ADMIT_OVER_LIMIT;
	atomic_fetch_add(&mine->reserve, bytes);
	bool swept = false;
	int64_t contended_since = 0;
	for (unsigned round = 0;; round++) {
		struct admit_scan s;
		admit_scan(r, slot, device, bytes, &s);
		limit = atomic_load(&r->devices[device].memory_limit);
		uint64_t total = sat_add(sat_add(s.committed, bytes),
		                         sat_add(s.pending_lower, s.pending_other));
		if (total <= limit)
			return VXPU_ADMIT_OK;
		if (sat_add(s.committed, bytes) > limit) {
			/* Held memory alone leaves no room: unless a dead process held it. */
			if (!swept) {
				swept = true;
				if (vxpu_region_reclaim_dead(r, (int)slot) > 0)
					continue;
			}
			atomic_fetch_sub(&mine->reserve, bytes);
			return VXPU_ADMIT_OVER_LIMIT;
		}
		/* Only pending reservations stand in the way. */
		int64_t now = now_ns();
		bool first_contention = contended_since == 0;
		if (first_contention)
			contended_since = now;
		else if (now - contended_since > VXPU_ADMIT_WAIT_NS) {
			/* Before giving up, make sure the reservation in the way is
			 * not a dead process's: a preempted waiter may not have
			 * reached a periodic sweep within the window. Each success
			 * frees a slot, so this retries a bounded number of times. */
			if (vxpu_region_reclaim_dead(r, (int)slot) > 0) {
				contended_since = now;
				continue;
			}
			atomic_fetch_sub(&mine->reserve, bytes);
			return VXPU_ADMIT_CONTENDED;
		}
		if (first_contention || round % ADMIT_SWEEP_EVERY == ADMIT_SWEEP_EVERY - 1)
			vxpu_region_reclaim_dead(r, (int)slot);
		if (s.pending_lower > 0) {
			/* Someone with precedence is pending: step aside, then retry. */
			atomic_fetch_sub(&mine->reserve, bytes);
			admit_pause(round);
			atomic_fetch_add(&mine->reserve, bytes);
		} else {
			/* Only later slots are pending: they will step aside or settle. */
			admit_pause(round);
		}
	}
}

void vxpu_admit_commit(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t reserved,
                       uint64_t actual)
{
	struct vxpu_region_slot_memory *mine = &r->slots[slot].memory[device];
	atomic_fetch_add(&mine->charge, actual);
	atomic_fetch_sub(&mine->reserve, reserved);
}

void vxpu_admit_cancel(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t reserved)
{
	atomic_fetch_sub(&r->slots[slot].memory[device].reserve, reserved);
}

void vxpu_admit_release(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t bytes)
{
	atomic_fetch_sub(&r->slots[slot].memory[device].charge, bytes);
}

void vxpu_admit_charge(struct vxpu_region *r, unsigned slot, unsigned device, uint64_t bytes)
{
	atomic_fetch_add(&r->slots[slot].memory[device].charge, bytes);
}

uint64_t vxpu_admit_used(const struct vxpu_region *r, unsigned device)
{
	uint64_t used = 0;
	uint32_t high = scan_limit(r);
	for (uint32_t i = 0; i < high; i++) {
		const struct vxpu_region_slot_memory *m = &r->slots[i].memory[device];
		used = sat_add(used, atomic_load(&m->reserve));
		used = sat_add(used, atomic_load(&m->charge));
	}
	return used;
}

uint64_t vxpu_admit_limit(const struct vxpu_region *r, unsigned device)
{
	return atomic_load(&r->devices[device].memory_limit);
}
