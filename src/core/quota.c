/*
 * quota.c - tenant quotas (see quota.h). The table is a sorted array: a
 * cluster has tens to hundreds of tenants, lookups are binary searches and
 * the order never depends on insertion history.
 */
#include "core/quota.h"

#include "core/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vxpu_quota_init(struct vxpu_quota_table *t)
{
	memset(t, 0, sizeof(*t));
}

void vxpu_quota_free(struct vxpu_quota_table *t)
{
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

static int key_cmp(const char *ns, const char *project, const struct vxpu_quota_entry *e)
{
	int c = strcmp(ns, e->ns);
	return c ? c : strcmp(project, e->project);
}

/* Index of (ns, project) or of where it would be inserted; *found tells. */
static size_t search(const struct vxpu_quota_table *t, const char *ns, const char *project,
                     int *found)
{
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(ns, project, &t->entries[mid]);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = 0;
	return lo;
}

const struct vxpu_quota_entry *vxpu_quota_find(const struct vxpu_quota_table *t, const char *ns,
                                               const char *project)
{
	int found = 0;
	size_t i = search(t, ns, project ? project : "", &found);
	return found ? &t->entries[i] : NULL;
}

int vxpu_quota_set(struct vxpu_quota_table *t, const char *ns, const char *project,
                   const struct vxpu_quota_amount *limit, char *err, size_t errlen)
{
	if (!project)
		project = "";
	if (!ns[0] || strlen(ns) >= VXPU_NAMESPACE_MAX || strlen(project) >= VXPU_PROJECT_MAX) {
		if (err && errlen)
			snprintf(err, errlen,
			         "quota \"%s/%s\": namespace must have 1..%d bytes, project at "
			         "most %d",
			         ns, project, VXPU_NAMESPACE_MAX - 1, VXPU_PROJECT_MAX - 1);
		return -1;
	}
	int found = 0;
	size_t i = search(t, ns, project, &found);
	if (found) {
		t->entries[i].limit = *limit;
		return 0;
	}
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct vxpu_quota_entry *e = realloc(t->entries, cap * sizeof(*e));
		if (!e) {
			if (err && errlen)
				snprintf(err, errlen, "quota \"%s/%s\": out of memory", ns,
				         project);
			return -1;
		}
		t->entries = e;
		t->cap = cap;
	}
	memmove(&t->entries[i + 1], &t->entries[i], (t->count - i) * sizeof(t->entries[0]));
	struct vxpu_quota_entry *e = &t->entries[i];
	memset(e, 0, sizeof(*e));
	vxpu_copy_name(e->ns, sizeof(e->ns), ns);
	vxpu_copy_name(e->project, sizeof(e->project), project);
	e->limit = *limit;
	t->count++;
	return 0;
}

static void describe(const struct vxpu_quota_entry *e, char *buf, size_t cap)
{
	if (e->project[0])
		snprintf(buf, cap, "quota of project \"%s\" in namespace \"%s\"", e->project,
		         e->ns);
	else
		snprintf(buf, cap, "quota of namespace \"%s\"", e->ns);
}

static uint64_t left(uint64_t limit, uint64_t used)
{
	return used >= limit ? 0 : limit - used;
}

/* Checks one entry; fills why on refusal. */
static int check_entry(const struct vxpu_quota_entry *e, const struct vxpu_quota_amount *want,
                       char *why, size_t whylen)
{
	const struct {
		const char *what;
		const char *unit;
		uint64_t limit, used, want;
	} dims[3] = {
	        {"memory", " MiB", e->limit.memory_mib, e->used.memory_mib, want->memory_mib},
	        {"compute", "%", e->limit.compute_percent, e->used.compute_percent,
	         want->compute_percent},
	        {"devices", "", e->limit.devices, e->used.devices, want->devices},
	};
	for (int i = 0; i < 3; i++) {
		if (dims[i].limit == VXPU_QUOTA_UNLIMITED)
			continue;
		uint64_t l = left(dims[i].limit, dims[i].used);
		if (dims[i].want <= l)
			continue;
		if (why && whylen) {
			char name[200];
			describe(e, name, sizeof(name));
			snprintf(why, whylen, "%s: %s %llu%s requested, %llu%s of %llu%s left",
			         name, dims[i].what, (unsigned long long)dims[i].want, dims[i].unit,
			         (unsigned long long)l, dims[i].unit,
			         (unsigned long long)dims[i].limit, dims[i].unit);
		}
		return -1;
	}
	return 0;
}

int vxpu_quota_check(const struct vxpu_quota_table *t, const char *ns, const char *project,
                     const struct vxpu_quota_amount *want, char *why, size_t whylen)
{
	if (!t)
		return 0;
	const struct vxpu_quota_entry *e = vxpu_quota_find(t, ns, "");
	if (e && check_entry(e, want, why, whylen) < 0)
		return -1;
	if (project && project[0]) {
		e = vxpu_quota_find(t, ns, project);
		if (e && check_entry(e, want, why, whylen) < 0)
			return -1;
	}
	return 0;
}

static void add(struct vxpu_quota_amount *used, const struct vxpu_quota_amount *a)
{
	used->memory_mib += a->memory_mib;
	used->compute_percent += a->compute_percent;
	used->devices += a->devices;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void sub(struct vxpu_quota_amount *used, const struct vxpu_quota_amount *a)
{
	used->memory_mib = sub_floor(used->memory_mib, a->memory_mib);
	used->compute_percent = sub_floor(used->compute_percent, a->compute_percent);
	used->devices = sub_floor(used->devices, a->devices);
}

static struct vxpu_quota_entry *find_mut(struct vxpu_quota_table *t, const char *ns,
                                         const char *project)
{
	int found = 0;
	size_t i = search(t, ns, project, &found);
	return found ? &t->entries[i] : NULL;
}

int vxpu_quota_charge(struct vxpu_quota_table *t, const char *ns, const char *project,
                      const struct vxpu_quota_amount *want, char *why, size_t whylen)
{
	if (vxpu_quota_check(t, ns, project, want, why, whylen) < 0)
		return -1;
	struct vxpu_quota_entry *e = find_mut(t, ns, "");
	if (e)
		add(&e->used, want);
	if (project && project[0] && (e = find_mut(t, ns, project)) != NULL)
		add(&e->used, want);
	return 0;
}

void vxpu_quota_refund(struct vxpu_quota_table *t, const char *ns, const char *project,
                       const struct vxpu_quota_amount *amount)
{
	struct vxpu_quota_entry *e = find_mut(t, ns, "");
	if (e)
		sub(&e->used, amount);
	if (project && project[0] && (e = find_mut(t, ns, project)) != NULL)
		sub(&e->used, amount);
}
