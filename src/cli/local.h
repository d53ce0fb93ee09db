/*
 * local.h - the single-machine mode's view of this machine, shared by
 * `vxpu run`, `vxpu ps` and `vxpu devices`: the discovered devices as a core
 * allocator node, the ledger database in VXPU_HOME, and the live
 * allocations of earlier runs committed onto the node's usage.
 *
 * Every command that looks at allocations first reclaims those whose owner
 * is dead (exact liveness through lock files, node/localstate.h), ending
 * their ledger intervals, so a `vxpu run` killed with SIGKILL is released by
 * the next command — no timeout involved.
 */
#ifndef VXPU_CLI_LOCAL_H
#define VXPU_CLI_LOCAL_H

#include "core/fit.h"
#include "core/model.h"
#include "core/vendor.h"
#include "meter/ledger.h"
#include "node/discover.h"
#include "node/localstate.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct vxpu_local {
	char home[PATH_MAX];
	char hostname[256];
	struct vxpu_ledger *ledger;
	struct vxpu_vendor_table vendors;
	struct vxpu_discovery found;
	struct vxpu_node node;
	bool node_ready;
	/* Live allocations as loaded by vxpu_local_load (heap array). */
	struct vxpu_local_alloc *allocs;
	size_t nallocs;
};

/*
 * Discovers devices, builds the node, opens (creating if needed) the
 * database in VXPU_HOME. Returns 0, or -1 with a reason.
 */
int vxpu_local_open(struct vxpu_local *l, const struct vxpu_discover_options *opts, char *err,
                    size_t errlen);
void vxpu_local_close(struct vxpu_local *l);

/*
 * Inside the caller's write transaction: reclaims dead allocations, then
 * loads the live ones into l->allocs and commits them onto the node's
 * usage (the node's usage is reset first). now_ms ends reclaimed intervals.
 */
int vxpu_local_load(struct vxpu_local *l, int64_t now_ms, char *err, size_t errlen);

/*
 * vxpu_local_open followed by vxpu_local_load in its own write transaction:
 * the view `vxpu ps`, `vxpu devices` and `vxpu serve` show. On failure l is
 * closed.
 */
int vxpu_local_view(struct vxpu_local *l, const struct vxpu_discover_options *opts, char *err,
                    size_t errlen);

/* The position in l->node.devices of the device with this index, or -1. */
int vxpu_local_device_pos(const struct vxpu_local *l, int device_index);

#endif
