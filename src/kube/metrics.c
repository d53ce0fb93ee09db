/*
 * metrics.c - a node's exposition (see metrics.h). The writer wants each
 * family contiguous, so the families are the outer loop and devices or
 * allocations the inner one; the family tables below are the single list
 * of names, help texts and values, so adding a figure is one line.
 */
#include "kube/metrics.h"

#include "meter/prom.h"

#include <stdio.h>
#include <string.h>

struct render {
	struct vxpu_prom w;
	unsigned skipped;
	char *reason;
	size_t reasonlen;
};

static void note_refusal(struct render *r)
{
	r->skipped++;
	if (r->reason && r->reasonlen)
		snprintf(r->reason, r->reasonlen, "%s", vxpu_prom_error(&r->w));
}

static bool family(struct render *r, const char *name, const char *help)
{
	if (vxpu_prom_family(&r->w, name, VXPU_PROM_GAUGE, help) == 0)
		return true;
	note_refusal(r);
	return false;
}

static void sample(struct render *r, const struct vxpu_prom_label *labels, size_t n, double v)
{
	if (vxpu_prom_sample(&r->w, labels, n, v) != 0)
		note_refusal(r);
}

/* ---- devices ----------------------------------------------------------------- */

typedef double (*device_value)(const struct vxpu_metrics_device *d);

static double dev_total(const struct vxpu_metrics_device *d)
{
	return (double)d->memory_total_bytes;
}
static double dev_used(const struct vxpu_metrics_device *d)
{
	return (double)d->memory_used_bytes;
}
static double dev_allocated(const struct vxpu_metrics_device *d)
{
	return (double)d->memory_allocated_bytes;
}
static double dev_compute(const struct vxpu_metrics_device *d)
{
	return d->compute_allocated_percent;
}
static double dev_util(const struct vxpu_metrics_device *d)
{
	return d->utilization_percent;
}
static double dev_healthy(const struct vxpu_metrics_device *d)
{
	return d->healthy ? 1 : 0;
}
static double dev_allocations(const struct vxpu_metrics_device *d)
{
	return d->allocations;
}

static const struct {
	const char *name;
	const char *help;
	device_value value;
} device_families[] = {
        {"vxpu_device_memory_total_bytes", "Physical memory of the device, in bytes.", dev_total},
        {"vxpu_device_memory_used_bytes",
         "Memory in use on the device as its driver reports it, in bytes.", dev_used},
        {"vxpu_device_memory_allocated_bytes",
         "Memory of the device promised to vxpu allocations, in bytes.", dev_allocated},
        {"vxpu_device_compute_allocated_percent",
         "Compute of the device promised to vxpu allocations, percent of the device.", dev_compute},
        {"vxpu_device_utilization_percent",
         "Share of the last sample period the device was busy, percent.", dev_util},
        {"vxpu_device_healthy", "1 when the device is healthy, 0 when it failed.", dev_healthy},
        {"vxpu_device_allocations", "Number of vxpu allocations holding a share of the device.",
         dev_allocations},
};

static void write_devices(struct render *r, const struct vxpu_metrics_node *n)
{
	for (size_t f = 0; f < sizeof(device_families) / sizeof(device_families[0]); f++) {
		if (!family(r, device_families[f].name, device_families[f].help))
			continue;
		for (size_t i = 0; i < n->ndevices; i++) {
			const struct vxpu_metrics_device *d = &n->devices[i];
			char index[16];
			snprintf(index, sizeof(index), "%u", d->index);
			const struct vxpu_prom_label labels[] = {{"node", n->node},
			                                         {"index", index},
			                                         {"uuid", d->uuid},
			                                         {"model", d->model}};
			sample(r, labels, 4, device_families[f].value(d));
		}
	}
}

/* ---- allocations --------------------------------------------------------- */

enum share_figure { SHARE_LIMIT, SHARE_USED, SHARE_COMPUTE };

static const struct {
	const char *name;
	const char *help;
	enum share_figure figure;
} share_families[] = {
        {"vxpu_allocation_memory_limit_bytes",
         "Memory share of the allocation on the device (its limit), in bytes.", SHARE_LIMIT},
        {"vxpu_allocation_memory_used_bytes",
         "Device memory charged by the allocation's processes, in bytes.", SHARE_USED},
        {"vxpu_allocation_compute_percent",
         "Compute share of the allocation on the device, percent of the device (0: none "
         "reserved).",
         SHARE_COMPUTE},
};

static void write_allocations(struct render *r, const struct vxpu_metrics_node *n)
{
	for (size_t f = 0; f < sizeof(share_families) / sizeof(share_families[0]); f++) {
		if (!family(r, share_families[f].name, share_families[f].help))
			continue;
		for (size_t k = 0; k < n->nallocations; k++) {
			const struct vxpu_metrics_allocation *a = &n->allocations[k];
			for (size_t i = 0; i < a->nshares; i++) {
				const struct vxpu_metrics_share *s = &a->shares[i];
				double v;
				switch (share_families[f].figure) {
				case SHARE_LIMIT:
					v = (double)s->memory_limit_bytes;
					break;
				case SHARE_USED:
					if (!s->memory_used_known)
						continue;
					v = (double)s->memory_used_bytes;
					break;
				default:
					v = s->compute_percent;
					break;
				}
				char index[16];
				snprintf(index, sizeof(index), "%u", s->device_index);
				const struct vxpu_prom_label labels[] = {
				        {"node", n->node},     {"id", a->id},
				        {"tenant", a->tenant}, {"project", a->project},
				        {"user", a->user},     {"index", index}};
				sample(r, labels, 6, v);
			}
		}
	}
	if (family(r, "vxpu_allocation_start_time_seconds",
	           "When the allocation started, in seconds since the Unix epoch.")) {
		for (size_t k = 0; k < n->nallocations; k++) {
			const struct vxpu_metrics_allocation *a = &n->allocations[k];
			const struct vxpu_prom_label labels[] = {{"node", n->node},
			                                         {"id", a->id},
			                                         {"tenant", a->tenant},
			                                         {"project", a->project},
			                                         {"user", a->user}};
			sample(r, labels, 5, (double)a->start_ms / 1000.0);
		}
	}
}

char *vxpu_metrics_render(const struct vxpu_metrics_node *n, size_t *len, unsigned *skipped,
                          char *skip_reason, size_t reasonlen)
{
	struct render r = {.skipped = 0, .reason = skip_reason, .reasonlen = reasonlen};
	if (skip_reason && reasonlen)
		skip_reason[0] = '\0';
	vxpu_prom_init(&r.w);
	if (family(&r, "vxpu_build_info",
	           "Version and source commit of the running vxpu; the value is always 1.")) {
		const struct vxpu_prom_label labels[] = {{"version", n->version},
		                                         {"commit", n->commit}};
		sample(&r, labels, 2, 1);
	}
	write_devices(&r, n);
	write_allocations(&r, n);
	char *text = vxpu_prom_finish(&r.w, len); /* also frees the writer */
	if (skipped)
		*skipped = r.skipped;
	return text;
}
