/*
 * local.c - assembling the single-machine view (see local.h) from the
 * discovery backends, the core allocator model, the ledger and the local
 * allocation tables.
 */
#include "cli/local.h"

#include "common/clock.h"
#include "meter/home.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The ledger's node names are host names: keep [A-Za-z0-9.-] only. */
static void local_hostname(char *buf, size_t cap)
{
	char raw[256] = "";
	if (gethostname(raw, sizeof(raw) - 1) != 0 || !raw[0])
		snprintf(raw, sizeof(raw), "localhost");
	size_t j = 0;
	for (size_t i = 0; raw[i] && j + 1 < cap; i++) {
		char c = raw[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '-';
		buf[j++] = ok ? c : '-';
	}
	buf[j] = '\0';
	if (!j)
		snprintf(buf, cap, "localhost");
}

static int local_build_node(struct vxpu_local *l, char *err, size_t errlen)
{
	vxpu_node_init(&l->node, l->hostname);
	for (unsigned i = 0; i < l->found.count; i++) {
		const struct vxpu_found_device *f = &l->found.devices[i];
		struct vxpu_device d;
		vxpu_device_init(&d, f->index, f->uuid[0] ? f->uuid : f->pci_bus_id,
		                 l->found.vendor, f->model, f->memory_bytes >> 20);
		d.numa = f->numa_node;
		d.healthy = f->healthy;
		if (vxpu_node_add_device(&l->node, &d, err, errlen) != 0)
			return -1;
	}
	for (unsigned i = 0; i < l->found.count; i++) {
		for (unsigned j = i + 1; j < l->found.count; j++) {
			const struct vxpu_found_link *k = &l->found.links[i][j];
			if (!k->type[0])
				continue;
			if (vxpu_node_add_link(&l->node, l->found.devices[i].index,
			                       l->found.devices[j].index, k->type,
			                       k->width ? k->width : 1, err, errlen) != 0)
				return -1;
		}
	}
	if (vxpu_node_finalize(&l->node, &l->vendors, err, errlen) != 0)
		return -1;
	l->node_ready = true;
	return 0;
}

int vxpu_local_open(struct vxpu_local *l, const struct vxpu_discover_options *opts, char *err,
                    size_t errlen)
{
	memset(l, 0, sizeof(*l));
	local_hostname(l->hostname, sizeof(l->hostname));
	vxpu_vendor_table_builtin(&l->vendors);
	if (vxpu_discover(opts, &l->found, err, errlen) != 0)
		return -1;
	if (local_build_node(l, err, errlen) != 0)
		return -1;
	if (vxpu_home_dir(l->home, sizeof(l->home), err, errlen) != 0)
		return -1;
	if (vxpu_home_make_dirs(l->home, err, errlen) != 0)
		return -1;
	static const char *const subdirs[] = {"run", "regions", "devices"};
	for (size_t i = 0; i < 3; i++) {
		char dir[PATH_MAX + 16];
		snprintf(dir, sizeof(dir), "%s/%s", l->home, subdirs[i]);
		if (vxpu_home_make_dirs(dir, err, errlen) != 0)
			return -1;
	}
	char db[PATH_MAX + 16];
	snprintf(db, sizeof(db), "%s/%s", l->home, VXPU_DB_FILE);
	if (vxpu_ledger_open(db, VXPU_LEDGER_OPEN_CREATE, &l->ledger, err, errlen) !=
	    VXPU_LEDGER_OK)
		return -1;
	return vxpu_ledger_ensure_component(l->ledger, VXPU_LOCAL_COMPONENT,
	                                    VXPU_LOCAL_SCHEMA_VERSION, vxpu_local_ddl(), err,
	                                    errlen);
}

void vxpu_local_close(struct vxpu_local *l)
{
	if (l->ledger)
		vxpu_ledger_close(l->ledger);
	if (l->node_ready)
		vxpu_node_destroy(&l->node);
	free(l->allocs);
	memset(l, 0, sizeof(*l));
}

int vxpu_local_view(struct vxpu_local *l, const struct vxpu_discover_options *opts, char *err,
                    size_t errlen)
{
	if (vxpu_local_open(l, opts, err, errlen) != 0 ||
	    vxpu_ledger_begin(l->ledger, err, errlen) != 0) {
		vxpu_local_close(l);
		return -1;
	}
	if (vxpu_local_load(l, vxpu_wall_ms(), err, errlen) != 0 ||
	    vxpu_ledger_commit(l->ledger, err, errlen) != 0) {
		vxpu_ledger_rollback(l->ledger);
		vxpu_local_close(l);
		return -1;
	}
	return 0;
}

int vxpu_local_device_pos(const struct vxpu_local *l, int device_index)
{
	return device_index < 0 ? -1 : vxpu_node_device_by_index(&l->node, (uint32_t)device_index);
}

struct collect_ctx {
	struct vxpu_local_alloc *items;
	size_t n, cap;
};

static int collect_alloc(const struct vxpu_local_alloc *a, void *p)
{
	struct collect_ctx *c = p;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct vxpu_local_alloc *items = realloc(c->items, cap * sizeof(*items));
		if (!items)
			return -1;
		c->items = items;
		c->cap = cap;
	}
	c->items[c->n++] = *a;
	return 0;
}

/* Ends a dead owner's allocation: ledger intervals, rows, files. */
static int local_reclaim(struct vxpu_local *l, const struct vxpu_local_alloc *a, int64_t now_ms,
                         char *err, size_t errlen)
{
	int ended = 0;
	int64_t end_ms = now_ms < a->start_ms ? a->start_ms : now_ms;
	if (vxpu_ledger_interval_end(l->ledger, a->id, end_ms, false, 0, &ended, err, errlen) != 0)
		return -1;
	if (vxpu_local_delete(vxpu_ledger_sqlite(l->ledger), a->id, err, errlen) != 0)
		return -1;
	unlink(a->lock_path);
	if (a->region_path[0])
		unlink(a->region_path);
	return 0;
}

static void local_commit_onto_node(struct vxpu_local *l, const struct vxpu_local_alloc *a)
{
	struct vxpu_placement p;
	memset(&p, 0, sizeof(p));
	for (uint32_t i = 0; i < a->nshares && p.nshares < VXPU_POD_MAX_DEVICES; i++) {
		int pos = vxpu_local_device_pos(l, a->shares[i].device_index);
		if (pos < 0)
			continue; /* the device is gone from this machine */
		struct vxpu_share *s = &p.shares[p.nshares++];
		s->device = (uint8_t)pos;
		s->exclusive = a->shares[i].exclusive;
		s->template_index = (int8_t)a->shares[i].template_index;
		s->memory_mib = a->shares[i].memory_mib;
		s->compute_units = a->shares[i].compute_units;
	}
	char why[256];
	if (vxpu_placement_finish(&l->node, &p, why, sizeof(why)) != 0 ||
	    vxpu_node_commit(&l->node, &p, a->id, why, sizeof(why)) != 0) {
		/* Capacity shrank under a live allocation (a device changed);
		 * the allocation keeps running and new ones simply see less room. */
		fprintf(stderr, "vxpu: allocation %s no longer fits this machine: %s\n", a->id,
		        why);
	}
}

int vxpu_local_load(struct vxpu_local *l, int64_t now_ms, char *err, size_t errlen)
{
	struct collect_ctx c = {0};
	if (vxpu_local_each(vxpu_ledger_sqlite(l->ledger), collect_alloc, &c, err, errlen) != 0) {
		free(c.items);
		if (err && errlen && !err[0])
			snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Fresh usage: rebuild the node from the inventory. */
	vxpu_node_destroy(&l->node);
	l->node_ready = false;
	if (local_build_node(l, err, errlen) != 0) {
		free(c.items);
		return -1;
	}
	size_t live = 0;
	for (size_t i = 0; i < c.n; i++) {
		int held = vxpu_lockfile_held(c.items[i].lock_path);
		if (held == 0) {
			if (local_reclaim(l, &c.items[i], now_ms, err, errlen) != 0) {
				free(c.items);
				return -1;
			}
			continue;
		}
		local_commit_onto_node(l, &c.items[i]);
		c.items[live++] = c.items[i];
	}
	free(l->allocs);
	l->allocs = c.items;
	l->nallocs = live;
	return 0;
}
