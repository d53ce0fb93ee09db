/*
 * model.c - building and finalizing nodes (see model.h for the model and
 * its invariants). Every builder validates its input and leaves the node
 * unchanged on failure, so a node is always in a state finalize can judge.
 */
#include "core/model.h"

#include "core/match.h"
#include "core/fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vxpu_node_init(struct vxpu_node *n, const char *name)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name ? name : "");
	n->memory_scaling = 1.0;
	n->compute_scaling = 1.0;
}

void vxpu_node_destroy(struct vxpu_node *n)
{
	free(n->allocs);
	n->allocs = NULL;
	n->nallocs = 0;
	n->alloc_cap = 0;
}

void vxpu_device_init(struct vxpu_device *d, uint32_t index, const char *id, const char *vendor,
                      const char *model, uint64_t memory_mib)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->vendor, sizeof(d->vendor), "%s", vendor);
	snprintf(d->model, sizeof(d->model), "%s", model);
	d->memory_mib = memory_mib;
	d->numa = -1;
	d->healthy = true;
}

static bool scaling_ok(double s, bool zero_allowed)
{
	if (s == 0.0)
		return zero_allowed;
	return s > 0.0 && s <= VXPU_SCALING_MAX;
}

int vxpu_node_add_device(struct vxpu_node *n, const struct vxpu_device *d, char *err, size_t errlen)
{
	if (n->ndevices >= VXPU_NODE_MAX_DEVICES)
		return vxpu_fail(err, errlen, "node \"%s\": more than %d devices", n->name,
		                 VXPU_NODE_MAX_DEVICES);
	if (!d->id[0])
		return vxpu_fail(err, errlen, "device %u: empty id", d->index);
	if (d->memory_mib == 0)
		return vxpu_fail(err, errlen, "device %u (%s): memory must be at least 1 MiB",
		                 d->index, d->id);
	if (d->numa < -1)
		return vxpu_fail(err, errlen, "device %u (%s): invalid NUMA node %d", d->index,
		                 d->id, d->numa);
	if (!scaling_ok(d->memory_scaling, true) || !scaling_ok(d->compute_scaling, true))
		return vxpu_fail(err, errlen, "device %u (%s): scaling must be in (0, %g]",
		                 d->index, d->id, VXPU_SCALING_MAX);
	for (uint32_t i = 0; i < n->ndevices; i++) {
		if (n->devices[i].index == d->index)
			return vxpu_fail(err, errlen, "device index %u appears twice", d->index);
		if (strcmp(n->devices[i].id, d->id) == 0)
			return vxpu_fail(err, errlen, "device id \"%s\" appears twice", d->id);
	}
	n->devices[n->ndevices++] = *d;
	n->finalized = false;
	return 0;
}

int vxpu_node_add_link(struct vxpu_node *n, uint32_t ia, uint32_t ib, const char *type,
                       uint32_t width, char *err, size_t errlen)
{
	int a = vxpu_node_device_by_index(n, ia);
	int b = vxpu_node_device_by_index(n, ib);
	if (a < 0 || b < 0)
		return vxpu_fail(err, errlen, "link %u-%u: no device with index %u", ia, ib,
		                 a < 0 ? ia : ib);
	if (a == b)
		return vxpu_fail(err, errlen, "link %u-%u: a device cannot link to itself", ia, ib);
	if (width < 1 || width > 255)
		return vxpu_fail(err, errlen, "link %u-%u: width %u is not in 1..255", ia, ib,
		                 width);
	if (!type[0] || strlen(type) >= VXPU_LINK_TYPE_MAX)
		return vxpu_fail(err, errlen, "link %u-%u: link type \"%s\" must have 1..%d bytes",
		                 ia, ib, type, VXPU_LINK_TYPE_MAX - 1);
	if (n->nlinks >= VXPU_NODE_MAX_LINKS)
		return vxpu_fail(err, errlen, "node \"%s\": more than %d links", n->name,
		                 VXPU_NODE_MAX_LINKS);
	uint32_t t = 0;
	while (t < n->nlink_types && strcmp(n->link_types[t], type) != 0)
		t++;
	if (t == n->nlink_types) {
		if (n->nlink_types >= VXPU_NODE_MAX_LINK_TYPES)
			return vxpu_fail(err, errlen, "node \"%s\": more than %d link types",
			                 n->name, VXPU_NODE_MAX_LINK_TYPES);
		vxpu_copy_name(n->link_types[n->nlink_types++], VXPU_LINK_TYPE_MAX, type);
	}
	n->links[n->nlinks++] = (struct vxpu_link){
	        .a = (uint8_t)a, .b = (uint8_t)b, .type = (uint8_t)t, .width = (uint8_t)width};
	n->finalized = false;
	return 0;
}

int vxpu_node_set_label(struct vxpu_node *n, const char *key, const char *value, char *err,
                        size_t errlen)
{
	if (!key[0] || strlen(key) >= VXPU_LABEL_MAX || strlen(value) >= VXPU_LABEL_MAX)
		return vxpu_fail(err, errlen,
		                 "label \"%s\": key must have 1..%d bytes and value at most %d",
		                 key, VXPU_LABEL_MAX - 1, VXPU_LABEL_MAX - 1);
	for (uint32_t i = 0; i < n->nlabels; i++)
		if (strcmp(n->labels[i].key, key) == 0) {
			vxpu_copy_name(n->labels[i].value, VXPU_LABEL_MAX, value);
			return 0;
		}
	if (n->nlabels >= VXPU_NODE_MAX_LABELS)
		return vxpu_fail(err, errlen, "node \"%s\": more than %d labels", n->name,
		                 VXPU_NODE_MAX_LABELS);
	vxpu_copy_name(n->labels[n->nlabels].key, VXPU_LABEL_MAX, key);
	vxpu_copy_name(n->labels[n->nlabels].value, VXPU_LABEL_MAX, value);
	n->nlabels++;
	return 0;
}

const char *vxpu_node_label(const struct vxpu_node *n, const char *key)
{
	for (uint32_t i = 0; i < n->nlabels; i++)
		if (strcmp(n->labels[i].key, key) == 0)
			return n->labels[i].value;
	return NULL;
}

int vxpu_node_device_by_index(const struct vxpu_node *n, uint32_t index)
{
	for (uint32_t i = 0; i < n->ndevices; i++)
		if (n->devices[i].index == index)
			return (int)i;
	return -1;
}

int vxpu_node_device_by_id(const struct vxpu_node *n, const char *id)
{
	for (uint32_t i = 0; i < n->ndevices; i++)
		if (strcmp(n->devices[i].id, id) == 0)
			return (int)i;
	return -1;
}

int vxpu_node_finalize(struct vxpu_node *n, const struct vxpu_vendor_table *vendors, char *err,
                       size_t errlen)
{
	if (!scaling_ok(n->memory_scaling, false) || !scaling_ok(n->compute_scaling, false))
		return vxpu_fail(err, errlen, "node \"%s\": scaling must be in (0, %g]", n->name,
		                 VXPU_SCALING_MAX);
	const struct vxpu_vendor_profile *profiles[VXPU_NODE_MAX_DEVICES];
	for (uint32_t i = 0; i < n->ndevices; i++) {
		const struct vxpu_device *d = &n->devices[i];
		profiles[i] = vxpu_vendor_lookup(vendors, d->vendor, d->model);
		if (!profiles[i])
			return vxpu_fail(
			        err, errlen,
			        "device %u (%s): no vendor profile for vendor \"%s\" model \"%s\"",
			        d->index, d->id, d->vendor, d->model);
	}
	for (uint32_t i = 0; i < n->ndevices; i++) {
		struct vxpu_device *d = &n->devices[i];
		const struct vxpu_vendor_profile *p = profiles[i];
		double ms = d->memory_scaling > 0 ? d->memory_scaling : n->memory_scaling;
		double cs = d->compute_scaling > 0 ? d->compute_scaling : n->compute_scaling;
		d->profile = p;
		d->unit_count = d->compute_units ? d->compute_units : p->compute_units;
		d->memory_capacity_mib = (uint64_t)((double)d->memory_mib * ms);
		d->compute_capacity = (uint32_t)((double)d->unit_count * cs);
		d->slice_capacity = d->max_slices ? d->max_slices : p->max_slices;
		d->inv_memory_capacity =
		        d->memory_capacity_mib ? 1.0 / (double)d->memory_capacity_mib : 0.0;
		d->inv_compute_capacity =
		        d->compute_capacity ? 1.0 / (double)d->compute_capacity : 0.0;
		d->inv_slice_capacity = d->slice_capacity ? 1.0 / (double)d->slice_capacity : 0.0;
	}
	memset(n->link_weight, 0, sizeof(n->link_weight));
	for (uint32_t l = 0; l < n->nlinks; l++) {
		const struct vxpu_link *k = &n->links[l];
		uint32_t rank = vxpu_vendor_link_rank(profiles[k->a], n->link_types[k->type]);
		uint32_t w = rank * k->width;
		if (w > UINT16_MAX)
			w = UINT16_MAX;
		if (w > n->link_weight[k->a][k->b]) {
			n->link_weight[k->a][k->b] = (uint16_t)w;
			n->link_weight[k->b][k->a] = (uint16_t)w;
		}
	}
	n->finalized = true;
	return 0;
}

/* used / capacity given 1 / capacity, clamped to [0, 1]; a zero capacity is full. */
static double fraction(uint64_t used, double inv_capacity)
{
	if (inv_capacity == 0.0)
		return 1.0;
	double f = (double)used * inv_capacity;
	return f > 1.0 ? 1.0 : f;
}

double vxpu_device_utilization(const struct vxpu_device *d, const struct vxpu_device_usage *u)
{
	if (u->exclusive)
		return 1.0;
	return (fraction(u->memory_mib, d->inv_memory_capacity) +
	        fraction(u->compute_units, d->inv_compute_capacity) +
	        fraction(u->slices, d->inv_slice_capacity)) *
	       (1.0 / 3.0);
}

double vxpu_device_free_fraction(const struct vxpu_device *d, const struct vxpu_device_usage *u)
{
	if (u->exclusive)
		return 0.0;
	double m = 1.0 - fraction(u->memory_mib, d->inv_memory_capacity);
	double c = 1.0 - fraction(u->compute_units, d->inv_compute_capacity);
	return m < c ? m : c;
}
