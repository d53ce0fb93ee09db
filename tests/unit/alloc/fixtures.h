/*
 * fixtures.h - builders shared by the allocator tests: a vendor table, nodes
 * of N identical devices, single-container pods, fit and commit with the
 * assertions every scenario needs. Each helper fails the running test (via
 * cmocka) when its own step fails, so scenarios read as their story.
 */
#ifndef VXPU_TEST_ALLOC_FIXTURES_H
#define VXPU_TEST_ALLOC_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/annotation.h"
#include "core/fit.h"
#include "core/model.h"
#include "core/policy.h"
#include "core/quota.h"
#include "core/request.h"
#include "core/schedule.h"
#include "core/shapes.h"
#include "core/vendor.h"

/* The built-in vendor table (one per test process). */
const struct vxpu_vendor_table *fx_vendors(void);

/*
 * Heap-allocated node (nodes are large) with ndev devices of one vendor and
 * model, memory_mib each, ids "<name>-gpu<i>", NUMA 0, indices 0..n-1.
 * Not finalized, so callers can still adjust devices; fx_finalize does it.
 */
struct vxpu_node *fx_node(const char *name, uint32_t ndev, const char *vendor, const char *model,
                          uint64_t memory_mib);
void fx_finalize(struct vxpu_node *n);
void fx_free(struct vxpu_node *n);

/* Heap-allocated pod with one app container "main". */
struct vxpu_pod_request *fx_pod(const char *name, uint32_t count, uint64_t memory_mib,
                                uint32_t memory_percent, uint32_t compute_percent);
/* Normalizes (asserting success). */
void fx_normalize(struct vxpu_pod_request *pod);

/* Fits pod on n under a device policy; returns whether it fits. */
bool fx_fit(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
            enum vxpu_policy device_policy, struct vxpu_placement *p, struct vxpu_refusal *why);

/* Fits and commits under owner (asserting both succeed). */
void fx_place(struct vxpu_node *n, const struct vxpu_pod_request *pod,
              enum vxpu_policy device_policy, const char *owner, struct vxpu_placement *p);

/* Commits a one-device share of memory_mib/compute units on device pos. */
void fx_use(struct vxpu_node *n, uint32_t pos, uint64_t memory_mib, uint32_t compute_units,
            const char *owner);

/* The refusal line of a failed fit. */
const char *fx_refusal(const struct vxpu_refusal *why);

#endif
