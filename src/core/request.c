/*
 * request.c - pod requests: defaults, validation and the strict readers of
 * resource quantities and annotations (see request.h). Normalize checks the
 * whole pod before it changes anything, so a refused request is left as the
 * caller built it.
 */
#include "core/request.h"

#include "core/match.h"
#include "core/percent.h"
#include "core/size.h"
#include "core/fail.h"

#include <stdio.h>
#include <string.h>

static const char *const policy_names[VXPU_POLICY_COUNT] = {
        "default", "binpack", "spread", "topology", "numa", "frag",
};

const char *vxpu_policy_name(enum vxpu_policy p)
{
	return (unsigned)p < VXPU_POLICY_COUNT ? policy_names[p] : "?";
}

int vxpu_policy_parse(const char *text, enum vxpu_policy *p)
{
	for (int i = 0; i < VXPU_POLICY_COUNT; i++)
		if (strcmp(text, policy_names[i]) == 0) {
			*p = (enum vxpu_policy)i;
			return 0;
		}
	if (strcmp(text, "topology-aware") == 0) {
		*p = VXPU_POLICY_TOPOLOGY;
		return 0;
	}
	if (strcmp(text, "fragmentation-aware") == 0) {
		*p = VXPU_POLICY_FRAG;
		return 0;
	}
	return -1;
}

void vxpu_pod_request_init(struct vxpu_pod_request *r, const char *ns, const char *name)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "%s", ns ? ns : "");
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
}

struct vxpu_container_request *vxpu_pod_request_add_container(struct vxpu_pod_request *r,
                                                              const char *name,
                                                              enum vxpu_container_kind kind)
{
	if (r->ncontainers >= VXPU_POD_MAX_CONTAINERS)
		return NULL;
	struct vxpu_container_request *c = &r->containers[r->ncontainers++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->kind = kind;
	c->priority = -1;
	return c;
}

static bool wants_device(const struct vxpu_container_request *c)
{
	return c->count > 0 || c->memory_mib > 0 || c->memory_percent > 0 ||
	       c->compute_percent > 0 || c->exclusive;
}

static int check_container(const struct vxpu_container_request *c, char *err, size_t errlen)
{
	const char *n = c->name;
	if (c->count > VXPU_NODE_MAX_DEVICES)
		return vxpu_fail(err, errlen, "container \"%s\": device count %u exceeds %d", n,
		                 c->count, VXPU_NODE_MAX_DEVICES);
	if (c->memory_mib && c->memory_percent)
		return vxpu_fail(err, errlen,
		                 "container \"%s\": memory %llu MiB and memory percentage %u%% are "
		                 "exclusive; give one",
		                 n, (unsigned long long)c->memory_mib, c->memory_percent);
	if (c->memory_percent > 100)
		return vxpu_fail(err, errlen,
		                 "container \"%s\": memory percentage %u is not in 1..100", n,
		                 c->memory_percent);
	if (c->compute_percent > 100)
		return vxpu_fail(err, errlen,
		                 "container \"%s\": compute percentage %u is not in 0..100", n,
		                 c->compute_percent);
	if (c->exclusive && c->compute_percent && c->compute_percent != 100)
		return vxpu_fail(err, errlen,
		                 "container \"%s\": exclusive use takes 100%% compute, not %u%%", n,
		                 c->compute_percent);
	if (c->priority < -1 || c->priority > 1)
		return vxpu_fail(err, errlen,
		                 "container \"%s\": priority %d is not 0 (high) or 1 (low)", n,
		                 c->priority);
	return 0;
}

int vxpu_pod_request_normalize(struct vxpu_pod_request *r, char *err, size_t errlen)
{
	if ((unsigned)r->node_policy >= VXPU_POLICY_COUNT ||
	    (unsigned)r->device_policy >= VXPU_POLICY_COUNT)
		return vxpu_fail(err, errlen, "pod %s/%s: unknown policy", r->ns, r->name);
	if (r->ncontainers > VXPU_POD_MAX_CONTAINERS)
		return vxpu_fail(err, errlen, "pod %s/%s: more than %d containers", r->ns, r->name,
		                 VXPU_POD_MAX_CONTAINERS);
	uint32_t total = 0;
	for (uint32_t i = 0; i < r->ncontainers; i++) {
		const struct vxpu_container_request *c = &r->containers[i];
		if (check_container(c, err, errlen) < 0)
			return -1;
		uint32_t count = c->count ? c->count : (wants_device(c) ? 1 : 0);
		total += count;
	}
	if (total > VXPU_POD_MAX_DEVICES)
		return vxpu_fail(err, errlen,
		                 "pod %s/%s: %u device shares over all containers, at most %d",
		                 r->ns, r->name, total, VXPU_POD_MAX_DEVICES);
	for (uint32_t i = 0; i < r->ncontainers; i++) {
		struct vxpu_container_request *c = &r->containers[i];
		if (c->priority < 0)
			c->priority = 1;
		if (!wants_device(c))
			continue;
		if (c->count == 0)
			c->count = 1;
		if (!c->memory_mib && !c->memory_percent)
			c->memory_percent = 100;
		if (c->compute_percent == 100)
			c->exclusive = true;
		if (c->exclusive)
			c->compute_percent = 100;
	}
	return 0;
}

uint32_t vxpu_pod_request_device_count(const struct vxpu_pod_request *r)
{
	uint32_t app = 0, init = 0;
	for (uint32_t i = 0; i < r->ncontainers; i++) {
		const struct vxpu_container_request *c = &r->containers[i];
		if (c->kind == VXPU_CONTAINER_INIT)
			init = c->count > init ? c->count : init;
		else
			app += c->count;
	}
	return app > init ? app : init;
}

/* Strict unsigned decimal: digits only, no sign, no spaces. */
static int parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	if (!*text)
		return -1;
	uint64_t v = 0;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int vxpu_container_request_set_resource(const struct vxpu_vendor_table *vendors,
                                        struct vxpu_container_request *c, const char *resource,
                                        const char *value, char *err, size_t errlen)
{
	enum vxpu_resource_kind kind = VXPU_RESOURCE_COUNT;
	const struct vxpu_vendor_profile *p = vxpu_vendor_by_resource(vendors, resource, &kind);
	if (!p)
		return 0;
	const char *family = p->resources[VXPU_RESOURCE_COUNT];
	if (c->family[0] && strcmp(c->family, family) != 0)
		return vxpu_fail(
		        err, errlen,
		        "container \"%s\": %s belongs to %s but the container already asks "
		        "for %s; one container uses one device family",
		        c->name, resource, family, c->family);
	uint64_t v = 0;
	char why[160];
	switch (kind) {
	case VXPU_RESOURCE_COUNT:
		if (parse_uint(value, VXPU_NODE_MAX_DEVICES, &v) < 0)
			return vxpu_fail(
			        err, errlen,
			        "container \"%s\": %s=\"%s\": expected a device count in 0..%d",
			        c->name, resource, value, VXPU_NODE_MAX_DEVICES);
		c->count = (uint32_t)v;
		break;
	case VXPU_RESOURCE_MEMORY:
		if (all_digits(value)) {
			if (parse_uint(value, UINT64_MAX / p->memory_unit_mib, &v) < 0)
				return vxpu_fail(err, errlen,
				                 "container \"%s\": %s=\"%s\": too large", c->name,
				                 resource, value);
			v *= p->memory_unit_mib;
		} else {
			uint64_t bytes = 0;
			if (vxpu_size_parse(value, VXPU_SIZE_BARE_MIB, &bytes, why, sizeof(why)) <
			    0)
				return vxpu_fail(err, errlen, "container \"%s\": %s: %s", c->name,
				                 resource, why);
			if (bytes % VXPU_MIB)
				return vxpu_fail(
				        err, errlen,
				        "container \"%s\": %s=\"%s\": not a whole number of MiB",
				        c->name, resource, value);
			v = bytes / VXPU_MIB;
		}
		c->memory_mib = v;
		break;
	case VXPU_RESOURCE_MEMORY_PERCENT: {
		int pct = 0;
		if (vxpu_percent_parse(value, &pct, why, sizeof(why)) < 0)
			return vxpu_fail(err, errlen, "container \"%s\": %s: %s", c->name, resource,
			                 why);
		c->memory_percent = (uint32_t)pct;
		break;
	}
	case VXPU_RESOURCE_CORES: {
		int pct = 0;
		if (strcmp(value, "0") == 0)
			pct = 0;
		else if (vxpu_percent_parse(value, &pct, why, sizeof(why)) < 0)
			return vxpu_fail(err, errlen, "container \"%s\": %s: %s", c->name, resource,
			                 why);
		c->compute_percent = (uint32_t)pct;
		break;
	}
	case VXPU_RESOURCE_PRIORITY:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			return vxpu_fail(
			        err, errlen,
			        "container \"%s\": %s=\"%s\": expected 0 (high) or 1 (low)",
			        c->name, resource, value);
		c->priority = value[0] - '0';
		break;
	default:
		return 0;
	}
	vxpu_copy_name(c->family, sizeof(c->family), family);
	return 1;
}

static int parse_bool(const char *value, bool *out)
{
	if (strcmp(value, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(value, "false") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

/* Which list field of a container an annotation key fills, or -1. */
static int list_field(const char *key)
{
	static const char *const keys[] = {"nvidia.com/use-gputype", "nvidia.com/nouse-gputype",
	                                   "nvidia.com/use-gpuuuid", "nvidia.com/nouse-gpuuuid"};
	for (int i = 0; i < 4; i++)
		if (strcmp(key, keys[i]) == 0)
			return i;
	return -1;
}

static char *list_slot(struct vxpu_container_request *c, int field, size_t *cap)
{
	switch (field) {
	case 0:
		*cap = sizeof(c->use_types);
		return c->use_types;
	case 1:
		*cap = sizeof(c->nouse_types);
		return c->nouse_types;
	case 2:
		*cap = sizeof(c->use_uuids);
		return c->use_uuids;
	default:
		*cap = sizeof(c->nouse_uuids);
		return c->nouse_uuids;
	}
}

int vxpu_pod_request_set_annotation(struct vxpu_pod_request *r, const char *key, const char *value,
                                    char *err, size_t errlen)
{
	int field = list_field(key);
	if (field >= 0) {
		for (uint32_t i = 0; i < r->ncontainers; i++) {
			size_t cap = 0;
			list_slot(&r->containers[i], field, &cap);
			if (strlen(value) >= cap)
				return vxpu_fail(err, errlen,
				                 "annotation %s: value of %zu bytes, at most %zu",
				                 key, strlen(value), cap - 1);
		}
		for (uint32_t i = 0; i < r->ncontainers; i++) {
			size_t cap = 0;
			char *slot = list_slot(&r->containers[i], field, &cap);
			vxpu_copy_name(slot, cap, value);
		}
		return 1;
	}
	bool flag = false;
	if (strcmp(key, "nvidia.com/numa-bind") == 0 || strcmp(key, "vxpu.io/exclusive") == 0) {
		if (parse_bool(value, &flag) < 0)
			return vxpu_fail(err, errlen,
			                 "annotation %s=\"%s\": expected true or false", key,
			                 value);
		bool numa = key[0] == 'n';
		for (uint32_t i = 0; i < r->ncontainers; i++) {
			if (numa)
				r->containers[i].numa_bind = flag;
			else
				r->containers[i].exclusive = flag;
		}
		return 1;
	}
	bool node = strcmp(key, "hami.io/node-scheduler-policy") == 0 ||
	            strcmp(key, "vxpu.io/node-policy") == 0;
	bool device = strcmp(key, "hami.io/gpu-scheduler-policy") == 0 ||
	              strcmp(key, "vxpu.io/device-policy") == 0;
	if (node || device) {
		enum vxpu_policy p;
		if (vxpu_policy_parse(value, &p) < 0)
			return vxpu_fail(
			        err, errlen,
			        "annotation %s=\"%s\": unknown policy (binpack, spread, topology, "
			        "numa, frag)",
			        key, value);
		if (node)
			r->node_policy = p;
		else
			r->device_policy = p;
		return 1;
	}
	if (strcmp(key, "vxpu.io/project") == 0) {
		if (strlen(value) >= sizeof(r->project))
			return vxpu_fail(err, errlen,
			                 "annotation %s: project name of %zu bytes, at most %zu",
			                 key, strlen(value), sizeof(r->project) - 1);
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return vxpu_fail(
				        err, errlen,
				        "annotation %s: project name holds a control character",
				        key);
		vxpu_copy_name(r->project, sizeof(r->project), value);
		return 1;
	}
	return 0;
}
