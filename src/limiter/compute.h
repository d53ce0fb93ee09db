/*
 * compute.h - the compute limiter inside libvxpu.so: what a kernel launch
 * does under a compute limit or a priority (model in budget.h, the shared
 * state in region.h and devcoord.h, the user's view in docs/limiter.md).
 *
 * A launch hook calls limiter_compute_skip() first: two relaxed loads and a
 * compare when the container has neither a compute limit nor a priority
 * (the fast path bench/limiter.sh measures). Otherwise it brackets the real
 * launch with limiter_compute_enter() (measure what completed, wait for the
 * budget, charge an estimate) and limiter_compute_leave() (record a
 * completion event after the launch on the launch's stream).
 *
 * The limits are read from the region: a change of core_limit or priority
 * bumps the region's limits_generation, which the fast path compares with
 * the generation it last evaluated, so a limit set while the workload runs
 * (vxpu region set-limit, the node agent) applies from the next launch; a
 * launch already waiting is woken by the same change.
 */
#ifndef VXPU_LIMITER_COMPUTE_H
#define VXPU_LIMITER_COMPUTE_H

#include "limiter/libvxpu.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The region generation last evaluated, and whether compute control is on. */
extern _Atomic uint64_t limiter_compute_generation;
extern _Atomic int limiter_compute_on;

/* Re-evaluates for generation; returns whether compute control is on. */
bool limiter_compute_refresh(uint64_t generation);

/* True when this launch needs nothing from the compute limiter. */
static inline bool limiter_compute_skip(void)
{
	if (VXPU_UNLIKELY(!atomic_load_explicit(&limiter.attached, memory_order_acquire)))
		return true;
	uint64_t g = atomic_load_explicit(&limiter.region.header->limits_generation,
	                                  memory_order_relaxed);
	if (VXPU_LIKELY(g ==
	                atomic_load_explicit(&limiter_compute_generation, memory_order_relaxed)))
		return !atomic_load_explicit(&limiter_compute_on, memory_order_relaxed);
	return !limiter_compute_refresh(g);
}

struct limiter_compute_ticket {
	int device;       /* container device, -1: nothing to do after the launch */
	bool record;      /* record a completion event after the launch */
	bool synchronise; /* conservative mode: synchronise and time on the host */
	bool wake_held;   /* a high launch: wake held containers after it */
	uint32_t percent; /* share the provisional charge was made at */
	int64_t provisional_ns;
	uint64_t launch_ns;
};

/* Before the real launch into stream (ptsz: per-thread default stream semantics). */
void limiter_compute_enter(struct limiter_compute_ticket *t, CUstream stream, bool ptsz);
/* After it, with its result. */
void limiter_compute_leave(struct limiter_compute_ticket *t, CUstream stream, bool ptsz,
                           CUresult rc);

/* In a forked child: forget the parent's events, streams and files. */
void limiter_compute_atfork_child(void);

#endif
