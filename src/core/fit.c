/*
 * fit.c - fit, refusal accounting, commit and release (see fit.h).
 *
 * The filter path (vxpu_fit_node and everything it calls) allocates
 * nothing: candidates, the working usage array and the chosen indices live
 * on the stack and are bounded by VXPU_NODE_MAX_DEVICES. Commit is the only
 * place that grows the node's allocation list, and it does so before it
 * changes any usage, so a failed allocation leaves the node as it was.
 */
#include "core/fit.h"

#include "core/match.h"
#include "core/policy.h"
#include "core/shapes.h"
#include "core/fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_texts[VXPU_REASON_COUNT] = {
        [VXPU_REASON_OK] = "fits",
        [VXPU_REASON_INSUFFICIENT_MEMORY] = "insufficient memory",
        [VXPU_REASON_INSUFFICIENT_COMPUTE] = "insufficient compute",
        [VXPU_REASON_SLICES_EXHAUSTED] = "slices exhausted",
        [VXPU_REASON_EXCLUSIVE_CONFLICT] = "exclusive conflict",
        [VXPU_REASON_NO_TEMPLATE] = "no template fits",
        [VXPU_REASON_NUMA] = "NUMA",
        [VXPU_REASON_CORDONED] = "cordoned",
        [VXPU_REASON_UNHEALTHY] = "unhealthy",
        [VXPU_REASON_UUID_MISMATCH] = "UUID mismatch",
        [VXPU_REASON_TYPE_MISMATCH] = "type mismatch",
        [VXPU_REASON_QUOTA] = "quota exceeded",
        [VXPU_REASON_HOST_CPU] = "insufficient cpu",
        [VXPU_REASON_HOST_MEMORY] = "insufficient host memory",
        [VXPU_REASON_NO_DEVICES] = "no devices",
};

const char *vxpu_reason_text(enum vxpu_reason r)
{
	return (unsigned)r < VXPU_REASON_COUNT ? reason_texts[r] : "?";
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return b ? (a + b - 1) / b : 0;
}

/* ---- per device -------------------------------------------------------- */

enum vxpu_reason vxpu_demand_fit(const struct vxpu_device *d, const struct vxpu_device_usage *u,
                                 const struct vxpu_demand *dm, struct vxpu_share *share)
{
	const struct vxpu_vendor_profile *p = d->profile;
	uint64_t memory = 0;
	uint32_t units = 0;
	int template_index = -1;
	bool exclusive = dm->exclusive;
	if (dm->count > 1 && p->multi_device_whole) {
		/* The family cannot share a device in multi-device requests. */
		memory = d->memory_mib;
		units = d->unit_count;
		exclusive = true;
	} else {
		uint64_t want =
		        dm->memory_percent
		                ? ceil_div((uint64_t)dm->memory_percent * d->memory_mib, 100)
		                : dm->memory_mib;
		uint32_t want_units =
		        exclusive ? d->unit_count
		                  : (uint32_t)ceil_div(
		                            (uint64_t)dm->compute_percent * d->unit_count, 100);
		uint32_t fixed_units = 0;
		if (vxpu_vendor_round_share(p, want, p->compute_limit ? want_units : 0,
		                            d->memory_mib, d->unit_count, &memory, &fixed_units,
		                            &template_index) < 0)
			return VXPU_REASON_NO_TEMPLATE;
		if (template_index >= 0 && p->templates[template_index].whole_device)
			exclusive = true;
		if (exclusive)
			units = d->unit_count;
		else if (fixed_units)
			units = fixed_units;
		else
			units = p->compute_limit ? want_units : 0;
	}
	if (u->exclusive || (exclusive && u->slices > 0))
		return VXPU_REASON_EXCLUSIVE_CONFLICT;
	if ((uint32_t)u->slices + 1 > d->slice_capacity)
		return VXPU_REASON_SLICES_EXHAUSTED;
	if (u->memory_mib + memory > d->memory_capacity_mib || memory < dm->memory_mib)
		return VXPU_REASON_INSUFFICIENT_MEMORY;
	if ((uint64_t)u->compute_units + units > d->compute_capacity)
		return VXPU_REASON_INSUFFICIENT_COMPUTE;
	share->exclusive = exclusive;
	share->template_index = (int8_t)template_index;
	share->memory_mib = memory;
	share->compute_units = units;
	return VXPU_REASON_OK;
}

enum vxpu_reason vxpu_device_fit(const struct vxpu_node *n, uint32_t pos,
                                 const struct vxpu_device_usage *u,
                                 const struct vxpu_container_request *c, struct vxpu_share *share)
{
	const struct vxpu_device *d = &n->devices[pos];
	if (c->family[0] && strcmp(d->profile->resources[VXPU_RESOURCE_COUNT], c->family) != 0)
		return VXPU_REASON_TYPE_MISMATCH;
	/* The [0] tests skip the list walks for the common empty selectors. */
	if (c->use_types[0] && vxpu_list_nonempty(c->use_types) &&
	    !vxpu_list_any_substring(c->use_types, d->model))
		return VXPU_REASON_TYPE_MISMATCH;
	if (c->nouse_types[0] && vxpu_list_any_substring(c->nouse_types, d->model))
		return VXPU_REASON_TYPE_MISMATCH;
	if (c->use_uuids[0] && vxpu_list_nonempty(c->use_uuids) &&
	    !vxpu_list_any_equal(c->use_uuids, d->id))
		return VXPU_REASON_UUID_MISMATCH;
	if (c->nouse_uuids[0] && vxpu_list_any_equal(c->nouse_uuids, d->id))
		return VXPU_REASON_UUID_MISMATCH;
	if (!d->healthy)
		return VXPU_REASON_UNHEALTHY;
	if (d->cordoned)
		return VXPU_REASON_CORDONED;
	struct vxpu_demand dm = {
	        .count = c->count,
	        .memory_mib = c->memory_mib,
	        .memory_percent = c->memory_percent,
	        .compute_percent = c->compute_percent,
	        .exclusive = c->exclusive,
	};
	enum vxpu_reason r = vxpu_demand_fit(d, u, &dm, share);
	if (r == VXPU_REASON_OK)
		share->device = (uint8_t)pos;
	return r;
}

/* ---- per node ---------------------------------------------------------- */

static void add_share(struct vxpu_device_usage *u, const struct vxpu_share *s)
{
	u->memory_mib += s->memory_mib;
	u->compute_units += s->compute_units;
	u->slices++;
	if (s->exclusive)
		u->exclusive++;
}

static void refuse_devices(struct vxpu_refusal *why, const struct vxpu_container_request *c,
                           const uint16_t *counts, uint32_t fitting)
{
	memcpy(why->counts, counts, sizeof(why->counts));
	why->fitting = (uint16_t)fitting;
	why->needed = (uint16_t)c->count;
	vxpu_copy_name(why->container, sizeof(why->container), c->name);
}

/* Places one container on work (the usage it sees); appends its shares. */
static bool place_container(const struct vxpu_node *n, struct vxpu_device_usage *work,
                            const struct vxpu_pod_request *pod, uint32_t ci,
                            const struct vxpu_fit_options *opt, struct vxpu_frag_cache *frag,
                            struct vxpu_placement *out, struct vxpu_refusal *why)
{
	const struct vxpu_container_request *c = &pod->containers[ci];
	struct vxpu_candidate cands[VXPU_NODE_MAX_DEVICES];
	uint16_t counts[VXPU_REASON_COUNT] = {0};
	uint32_t nc = 0;
	for (uint32_t pos = 0; pos < n->ndevices; pos++) {
		struct vxpu_share s;
		enum vxpu_reason r = vxpu_device_fit(n, pos, &work[pos], c, &s);
		if (r != VXPU_REASON_OK) {
			counts[r]++;
			continue;
		}
		s.container = (uint8_t)ci;
		s.init = c->kind == VXPU_CONTAINER_INIT;
		cands[nc++].share = s;
	}
	if (nc < c->count) {
		refuse_devices(why, c, counts, nc);
		return false;
	}
	uint8_t chosen[VXPU_NODE_MAX_DEVICES];
	double delta = 0.0;
	if (vxpu_choose_devices(n, work, cands, nc, c->count, c->numa_bind, opt->device_policy,
	                        frag, chosen, &delta) < 0) {
		counts[VXPU_REASON_NUMA] = (uint16_t)(counts[VXPU_REASON_NUMA] + nc);
		refuse_devices(why, c, counts, 0);
		return false;
	}
	for (uint32_t j = 0; j < c->count; j++) {
		const struct vxpu_share *s = &cands[chosen[j]].share;
		add_share(&work[s->device], s);
		out->shares[out->nshares++] = *s;
	}
	out->frag_delta += delta; /* containers follow each other: deltas add up */
	return true;
}

static void peak_merge(struct vxpu_device_usage *peak, const struct vxpu_device_usage *now,
                       const struct vxpu_device_usage *base)
{
	struct vxpu_device_usage d = {
	        .memory_mib = now->memory_mib - base->memory_mib,
	        .compute_units = now->compute_units - base->compute_units,
	        .slices = (uint16_t)(now->slices - base->slices),
	        .exclusive = (uint16_t)(now->exclusive - base->exclusive),
	};
	if (d.memory_mib > peak->memory_mib)
		peak->memory_mib = d.memory_mib;
	if (d.compute_units > peak->compute_units)
		peak->compute_units = d.compute_units;
	if (d.slices > peak->slices)
		peak->slices = d.slices;
	if (d.exclusive > peak->exclusive)
		peak->exclusive = d.exclusive;
}

static void quota_of_peak(const struct vxpu_node *n, struct vxpu_placement *p)
{
	memset(&p->quota, 0, sizeof(p->quota));
	for (uint32_t d = 0; d < n->ndevices; d++) {
		const struct vxpu_device_usage *u = &p->peak[d];
		if (!u->slices)
			continue;
		p->quota.memory_mib += u->memory_mib;
		p->quota.compute_percent +=
		        ceil_div((uint64_t)u->compute_units * 100, n->devices[d].unit_count);
		p->quota.devices += u->slices;
	}
}

static bool needs_devices(const struct vxpu_pod_request *pod)
{
	for (uint32_t i = 0; i < pod->ncontainers; i++)
		if (pod->containers[i].count)
			return true;
	return false;
}

bool vxpu_fit_node(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
                   const struct vxpu_fit_options *opt, struct vxpu_placement *out,
                   struct vxpu_refusal *why)
{
	/* Only what is read back is cleared: this runs for every node. */
	why->node_reason = VXPU_REASON_OK;
	why->container[0] = '\0';
	why->detail[0] = '\0';
	why->fitting = why->needed = 0;
	memset(why->counts, 0, sizeof(why->counts));
	why->ndevices = (uint16_t)n->ndevices;
	out->nshares = 0;
	out->frag_delta = 0.0;
	out->frag_delta_known = false;
	memset(out->peak, 0, n->ndevices * sizeof(out->peak[0]));
	out->cpu_milli = pod->cpu_milli;
	out->memory_mib = pod->memory_mib;

	if (pod->cpu_milli && n->cpu_milli) {
		uint64_t free_cpu =
		        n->cpu_milli > n->cpu_used_milli ? n->cpu_milli - n->cpu_used_milli : 0;
		if (pod->cpu_milli > free_cpu) {
			why->node_reason = VXPU_REASON_HOST_CPU;
			snprintf(why->detail, sizeof(why->detail),
			         "insufficient cpu: %llum requested, %llum of %llum free",
			         (unsigned long long)pod->cpu_milli, (unsigned long long)free_cpu,
			         (unsigned long long)n->cpu_milli);
			return false;
		}
	}
	if (pod->memory_mib && n->memory_mib) {
		uint64_t free_mem =
		        n->memory_mib > n->memory_used_mib ? n->memory_mib - n->memory_used_mib : 0;
		if (pod->memory_mib > free_mem) {
			why->node_reason = VXPU_REASON_HOST_MEMORY;
			snprintf(why->detail, sizeof(why->detail),
			         "insufficient host memory: %llu MiB requested, %llu MiB of %llu "
			         "MiB free",
			         (unsigned long long)pod->memory_mib, (unsigned long long)free_mem,
			         (unsigned long long)n->memory_mib);
			return false;
		}
	}
	if (needs_devices(pod) && n->ndevices == 0) {
		why->node_reason = VXPU_REASON_NO_DEVICES;
		snprintf(why->detail, sizeof(why->detail), "no devices");
		return false;
	}

	/* The frag memo: the caller's, or one for this fit (only when used). */
	struct vxpu_frag_cache local;
	struct vxpu_frag_cache *frag = NULL;
	if (opt->device_policy == VXPU_POLICY_FRAG && opt->shapes) {
		frag = opt->frag_cache;
		if (!frag || frag->stats != opt->shapes) {
			vxpu_frag_cache_init(&local, opt->shapes);
			frag = &local;
		}
	}
	struct vxpu_device_usage work[VXPU_NODE_MAX_DEVICES];
	size_t bytes = n->ndevices * sizeof(work[0]);
	memcpy(work, n->usage, bytes);
	bool has_init = false;
	for (uint32_t i = 0; i < pod->ncontainers; i++) {
		const struct vxpu_container_request *c = &pod->containers[i];
		if (c->kind == VXPU_CONTAINER_INIT && c->count)
			has_init = true;
		if (c->kind == VXPU_CONTAINER_APP && c->count &&
		    !place_container(n, work, pod, i, opt, frag, out, why))
			return false;
	}
	out->frag_delta_known = opt->device_policy == VXPU_POLICY_FRAG && !has_init;
	for (uint32_t d = 0; d < n->ndevices; d++)
		peak_merge(&out->peak[d], &work[d], &n->usage[d]);
	for (uint32_t i = 0; i < pod->ncontainers; i++) {
		const struct vxpu_container_request *c = &pod->containers[i];
		if (c->kind != VXPU_CONTAINER_INIT || !c->count)
			continue;
		memcpy(work, n->usage, bytes);
		if (!place_container(n, work, pod, i, opt, frag, out, why))
			return false;
		for (uint32_t d = 0; d < n->ndevices; d++)
			peak_merge(&out->peak[d], &work[d], &n->usage[d]);
	}
	quota_of_peak(n, out);
	if (opt->quota && vxpu_quota_check(opt->quota, pod->ns, pod->project, &out->quota,
	                                   why->detail, sizeof(why->detail)) < 0) {
		why->node_reason = VXPU_REASON_QUOTA;
		return false;
	}
	return true;
}

size_t vxpu_refusal_format(const struct vxpu_refusal *why, char *buf, size_t cap)
{
	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (why->node_reason != VXPU_REASON_OK) {
		int n = snprintf(buf, cap, "%s",
		                 why->detail[0] ? why->detail : vxpu_reason_text(why->node_reason));
		return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
	}
	size_t len = 0;
	for (int r = VXPU_REASON_OK + 1; r < VXPU_REASON_QUOTA && len < cap; r++) {
		if (!why->counts[r])
			continue;
		int n = snprintf(buf + len, cap - len, "%s%u/%u %s", len ? ", " : "",
		                 why->counts[r], why->ndevices,
		                 vxpu_reason_text((enum vxpu_reason)r));
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len < cap && why->fitting > 0 && why->fitting < why->needed) {
		int n = snprintf(buf + len, cap - len, "%s%u/%u fit (%u needed)", len ? ", " : "",
		                 why->fitting, why->ndevices, why->needed);
		if (n > 0)
			len += (size_t)n;
	}
	if (len >= cap)
		len = cap - 1;
	return len;
}

enum vxpu_reason vxpu_refusal_main_reason(const struct vxpu_refusal *why)
{
	if (why->node_reason != VXPU_REASON_OK)
		return why->node_reason;
	enum vxpu_reason best = VXPU_REASON_OK;
	for (int r = VXPU_REASON_OK + 1; r < VXPU_REASON_QUOTA; r++)
		if (why->counts[r] > (best == VXPU_REASON_OK ? 0 : why->counts[best]))
			best = (enum vxpu_reason)r;
	if (best == VXPU_REASON_OK && why->fitting < why->needed)
		best = VXPU_REASON_SLICES_EXHAUSTED;
	return best;
}

int vxpu_placement_finish(const struct vxpu_node *n, struct vxpu_placement *p, char *err,
                          size_t errlen)
{
	if (p->nshares > VXPU_POD_MAX_DEVICES)
		return vxpu_fail(err, errlen, "placement: %u shares, at most %d", p->nshares,
		                 VXPU_POD_MAX_DEVICES);
	struct vxpu_device_usage app[VXPU_NODE_MAX_DEVICES];
	struct vxpu_device_usage zero[VXPU_NODE_MAX_DEVICES];
	memset(app, 0, sizeof(app));
	memset(zero, 0, sizeof(zero));
	memset(p->peak, 0, sizeof(p->peak));
	for (uint32_t i = 0; i < p->nshares; i++) {
		const struct vxpu_share *s = &p->shares[i];
		if (s->device >= n->ndevices)
			return vxpu_fail(err, errlen,
			                 "placement: share %u names device position %u of %u", i,
			                 s->device, n->ndevices);
		if (!s->init)
			add_share(&app[s->device], s);
	}
	for (uint32_t d = 0; d < n->ndevices; d++)
		peak_merge(&p->peak[d], &app[d], &zero[d]);
	/* Init containers: each is its own phase. */
	for (uint32_t i = 0; i < p->nshares;) {
		if (!p->shares[i].init) {
			i++;
			continue;
		}
		struct vxpu_device_usage phase[VXPU_NODE_MAX_DEVICES];
		memset(phase, 0, sizeof(phase));
		uint8_t container = p->shares[i].container;
		for (; i < p->nshares && p->shares[i].init && p->shares[i].container == container;
		     i++)
			add_share(&phase[p->shares[i].device], &p->shares[i]);
		for (uint32_t d = 0; d < n->ndevices; d++)
			peak_merge(&p->peak[d], &phase[d], &zero[d]);
	}
	quota_of_peak(n, p);
	return 0;
}

/* ---- commit and release ------------------------------------------------ */

const struct vxpu_allocation *vxpu_node_allocation(const struct vxpu_node *n, const char *owner)
{
	for (size_t i = 0; i < n->nallocs; i++)
		if (strcmp(n->allocs[i].owner, owner) == 0)
			return &n->allocs[i];
	return NULL;
}

static int check_commit(const struct vxpu_node *n, const struct vxpu_placement *p, char *err,
                        size_t errlen)
{
	for (uint32_t d = 0; d < n->ndevices; d++) {
		const struct vxpu_device_usage *add = &p->peak[d];
		if (!add->slices)
			continue;
		const struct vxpu_device *dev = &n->devices[d];
		const struct vxpu_device_usage *u = &n->usage[d];
		const char *why = NULL;
		if (!dev->healthy)
			why = "unhealthy";
		else if (dev->cordoned)
			why = "cordoned";
		else if (u->exclusive || (add->exclusive && u->slices))
			why = "exclusive conflict";
		else if ((uint32_t)u->slices + add->slices > dev->slice_capacity)
			why = "slices exhausted";
		else if (u->memory_mib + add->memory_mib > dev->memory_capacity_mib)
			why = "insufficient memory";
		else if ((uint64_t)u->compute_units + add->compute_units > dev->compute_capacity)
			why = "insufficient compute";
		if (why)
			return vxpu_fail(err, errlen, "node \"%s\" device %u (%s): %s", n->name,
			                 dev->index, dev->id, why);
	}
	if (p->cpu_milli && n->cpu_milli && n->cpu_used_milli + p->cpu_milli > n->cpu_milli)
		return vxpu_fail(err, errlen, "node \"%s\": insufficient cpu", n->name);
	if (p->memory_mib && n->memory_mib && n->memory_used_mib + p->memory_mib > n->memory_mib)
		return vxpu_fail(err, errlen, "node \"%s\": insufficient host memory", n->name);
	return 0;
}

static int commit(struct vxpu_node *n, const struct vxpu_placement *p, const char *owner,
                  bool checked, char *err, size_t errlen)
{
	if (!owner || !owner[0] || strlen(owner) >= VXPU_OWNER_MAX)
		return vxpu_fail(err, errlen, "owner key must have 1..%d bytes",
		                 VXPU_OWNER_MAX - 1);
	if (vxpu_node_allocation(n, owner))
		return vxpu_fail(err, errlen, "node \"%s\": \"%s\" already holds an allocation",
		                 n->name, owner);
	if (checked && check_commit(n, p, err, errlen) < 0)
		return -1;
	if (n->nallocs == n->alloc_cap) {
		size_t cap = n->alloc_cap ? n->alloc_cap * 2 : 8;
		struct vxpu_allocation *a = realloc(n->allocs, cap * sizeof(*a));
		if (!a)
			return vxpu_fail(err, errlen, "node \"%s\": out of memory", n->name);
		n->allocs = a;
		n->alloc_cap = cap;
	}
	struct vxpu_allocation *a = &n->allocs[n->nallocs++];
	memset(a, 0, sizeof(*a));
	vxpu_copy_name(a->owner, sizeof(a->owner), owner);
	a->cpu_milli = p->cpu_milli;
	a->memory_mib = p->memory_mib;
	for (uint32_t d = 0; d < n->ndevices; d++) {
		const struct vxpu_device_usage *add = &p->peak[d];
		if (!add->slices)
			continue;
		a->device[a->ndevices] = (uint8_t)d;
		a->use[a->ndevices++] = *add;
		struct vxpu_device_usage *u = &n->usage[d];
		u->memory_mib += add->memory_mib;
		u->compute_units += add->compute_units;
		u->slices = (uint16_t)(u->slices + add->slices);
		u->exclusive = (uint16_t)(u->exclusive + add->exclusive);
	}
	n->cpu_used_milli += p->cpu_milli;
	n->memory_used_mib += p->memory_mib;
	return 0;
}

int vxpu_node_commit(struct vxpu_node *n, const struct vxpu_placement *p, const char *owner,
                     char *err, size_t errlen)
{
	return commit(n, p, owner, true, err, errlen);
}

int vxpu_node_record(struct vxpu_node *n, const struct vxpu_placement *p, const char *owner,
                     char *err, size_t errlen)
{
	return commit(n, p, owner, false, err, errlen);
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int vxpu_node_release(struct vxpu_node *n, const char *owner, struct vxpu_quota_amount *released)
{
	size_t i = 0;
	while (i < n->nallocs && strcmp(n->allocs[i].owner, owner) != 0)
		i++;
	if (i == n->nallocs)
		return -1;
	const struct vxpu_allocation *a = &n->allocs[i];
	struct vxpu_quota_amount q = {0, 0, 0};
	for (uint32_t j = 0; j < a->ndevices; j++) {
		uint32_t d = a->device[j];
		const struct vxpu_device_usage *use = &a->use[j];
		struct vxpu_device_usage *u = &n->usage[d];
		u->memory_mib = sub_floor(u->memory_mib, use->memory_mib);
		u->compute_units = (uint32_t)sub_floor(u->compute_units, use->compute_units);
		u->slices = (uint16_t)sub_floor(u->slices, use->slices);
		u->exclusive = (uint16_t)sub_floor(u->exclusive, use->exclusive);
		q.memory_mib += use->memory_mib;
		q.compute_percent +=
		        ceil_div((uint64_t)use->compute_units * 100, n->devices[d].unit_count);
		q.devices += use->slices;
	}
	n->cpu_used_milli = sub_floor(n->cpu_used_milli, a->cpu_milli);
	n->memory_used_mib = sub_floor(n->memory_used_mib, a->memory_mib);
	memmove(&n->allocs[i], &n->allocs[i + 1], (n->nallocs - i - 1) * sizeof(n->allocs[0]));
	n->nallocs--;
	if (released)
		*released = q;
	return 0;
}
