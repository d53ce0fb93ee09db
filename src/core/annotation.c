/*
 * annotation.c - versioned JSON codecs of the node registration and the pod
 * allocation annotations (see annotation.h, docs/annotations.md).
 *
 * Decoders read into a private heap copy and publish it only when the whole
 * document was accepted, so a refused document changes nothing. Encoders
 * build a cJSON tree in field order and print it without whitespace; the
 * field order is part of what makes decode-then-encode reproduce the text.
 */
#include "core/annotation.h"

#include "core/jsonstrict.h"
#include "core/logfmt.h"
#include "core/match.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MIB (1ULL << 40) /* 1 EiB: far above any device, exact in JSON */

void vxpu_annotation_free(char *text)
{
	cJSON_free(text);
}

/* ---- time -------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	/* Gregorian calendar date to days since 1970-01-01. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int vxpu_rfc3339_parse(const char *text, int64_t *unix_ms)
{
	int y, mo, d, h, mi, s;
	if (strlen(text) < 20 || digits(text, 4, &y) || text[4] != '-' ||
	    digits(text + 5, 2, &mo) || text[7] != '-' || digits(text + 8, 2, &d) ||
	    text[10] != 'T' || digits(text + 11, 2, &h) || text[13] != ':' ||
	    digits(text + 14, 2, &mi) || text[16] != ':' || digits(text + 17, 2, &s))
		return -1;
	const char *p = text + 19;
	int ms = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		for (; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0 || n > 9)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -1;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || s > 59)
		return -1;
	int64_t days = days_from_civil(y, mo, d);
	*unix_ms = ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL + ms;
	return 0;
}

static int read_time(const cJSON *obj, const char *path, const char *key, int64_t *out, char *err,
                     size_t errlen)
{
	char text[40];
	if (vxpu_json_string(obj, path, key, true, text, sizeof(text), err, errlen) < 0)
		return -1;
	if (vxpu_rfc3339_parse(text, out) < 0) {
		char full[96];
		vxpu_json_path(full, sizeof(full), path, key);
		return vxpu_json_fail(err, errlen, full,
		                      "expected a UTC RFC 3339 time like "
		                      "\"2026-11-28T11:47:49.123Z\", got \"%s\"",
		                      text);
	}
	return 0;
}

/* ---- small readers ------------------------------------------------------ */

static int read_u32(const cJSON *obj, const char *path, const char *key, bool required,
                    uint64_t min, uint64_t max, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	int r = vxpu_json_uint(obj, path, key, required, min, max, &v, err, errlen);
	if (r == 0)
		*out = (uint32_t)v;
	return r < 0 ? -1 : 0;
}

static int read_version(const cJSON *root, char *err, size_t errlen)
{
	uint64_t v = 0;
	if (vxpu_json_uint(root, "", "version", true, 0, VXPU_JSON_MAX_EXACT, &v, err, errlen) < 0)
		return -1;
	if (v != VXPU_ANNOTATION_VERSION)
		return vxpu_json_fail(err, errlen, "version",
		                      "unsupported version %llu (this build reads version %d)",
		                      (unsigned long long)v, VXPU_ANNOTATION_VERSION);
	return 0;
}

static int expect_object(const cJSON *it, const char *path, char *err, size_t errlen)
{
	if (cJSON_IsObject(it))
		return 0;
	char got[64];
	vxpu_json_describe(it, got, sizeof(got));
	return vxpu_json_fail(err, errlen, path, "expected an object, got %s", got);
}

/* ---- node registration -------------------------------------------------- */

char *vxpu_node_registration_encode(const struct vxpu_node *n, int64_t updated_ms)
{
	char ts[40];
	vxpu_format_rfc3339_ms(updated_ms, ts, sizeof(ts));
	cJSON *root = cJSON_CreateObject();
	cJSON *devices = cJSON_CreateArray();
	cJSON *links = cJSON_CreateArray();
	char *text = NULL;
	if (!root || !devices || !links)
		goto out;
	cJSON_AddNumberToObject(root, "version", VXPU_ANNOTATION_VERSION);
	cJSON_AddStringToObject(root, "node", n->name);
	cJSON_AddStringToObject(root, "updatedAt", ts);
	cJSON_AddNumberToObject(root, "memoryScaling", n->memory_scaling);
	cJSON_AddNumberToObject(root, "computeScaling", n->compute_scaling);
	cJSON_AddItemToObject(root, "devices", devices);
	cJSON_AddItemToObject(root, "links", links);
	for (uint32_t i = 0; i < n->ndevices; i++) {
		const struct vxpu_device *d = &n->devices[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			goto out_tree;
		cJSON_AddItemToArray(devices, o);
		cJSON_AddStringToObject(o, "id", d->id);
		cJSON_AddNumberToObject(o, "index", d->index);
		cJSON_AddStringToObject(o, "vendor", d->vendor);
		cJSON_AddStringToObject(o, "model", d->model);
		cJSON_AddNumberToObject(o, "memoryMiB", (double)d->memory_mib);
		cJSON_AddNumberToObject(o, "computeUnits", d->compute_units);
		cJSON_AddNumberToObject(o, "slices", d->max_slices);
		cJSON_AddNumberToObject(o, "numa", d->numa);
		cJSON_AddBoolToObject(o, "healthy", d->healthy);
		cJSON_AddBoolToObject(o, "cordoned", d->cordoned);
		cJSON_AddNumberToObject(o, "memoryScaling", d->memory_scaling);
		cJSON_AddNumberToObject(o, "computeScaling", d->compute_scaling);
	}
	for (uint32_t i = 0; i < n->nlinks; i++) {
		const struct vxpu_link *l = &n->links[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			goto out_tree;
		cJSON_AddItemToArray(links, o);
		cJSON_AddNumberToObject(o, "a", n->devices[l->a].index);
		cJSON_AddNumberToObject(o, "b", n->devices[l->b].index);
		cJSON_AddStringToObject(o, "type", n->link_types[l->type]);
		cJSON_AddNumberToObject(o, "width", l->width);
	}
	text = cJSON_PrintUnformatted(root);
out_tree:
	cJSON_Delete(root);
	return text;
out:
	cJSON_Delete(root);
	cJSON_Delete(devices);
	cJSON_Delete(links);
	return NULL;
}

static int read_device(const cJSON *it, const char *path, struct vxpu_device *d, char *err,
                       size_t errlen)
{
	static const char *const fields[] = {
	        "id",     "index", "vendor",  "model",    "memoryMiB",     "computeUnits",
	        "slices", "numa",  "healthy", "cordoned", "memoryScaling", "computeScaling",
	        NULL};
	if (expect_object(it, path, err, errlen) < 0 ||
	    vxpu_json_only_fields(it, path, fields, err, errlen) < 0)
		return -1;
	memset(d, 0, sizeof(*d));
	d->numa = -1;
	d->healthy = true;
	int64_t numa = -1;
	if (vxpu_json_string(it, path, "id", true, d->id, sizeof(d->id), err, errlen) < 0 ||
	    read_u32(it, path, "index", true, 0, 1000000, &d->index, err, errlen) < 0 ||
	    vxpu_json_string(it, path, "vendor", true, d->vendor, sizeof(d->vendor), err, errlen) <
	            0 ||
	    vxpu_json_string(it, path, "model", true, d->model, sizeof(d->model), err, errlen) <
	            0 ||
	    vxpu_json_uint(it, path, "memoryMiB", true, 1, MAX_MIB, &d->memory_mib, err, errlen) <
	            0 ||
	    read_u32(it, path, "computeUnits", false, 0, 1000000, &d->compute_units, err, errlen) <
	            0 ||
	    read_u32(it, path, "slices", false, 0, 1024, &d->max_slices, err, errlen) < 0 ||
	    vxpu_json_int(it, path, "numa", false, -1, 1023, &numa, err, errlen) < 0 ||
	    vxpu_json_bool(it, path, "healthy", false, &d->healthy, err, errlen) < 0 ||
	    vxpu_json_bool(it, path, "cordoned", false, &d->cordoned, err, errlen) < 0 ||
	    vxpu_json_number(it, path, "memoryScaling", false, 0, VXPU_SCALING_MAX,
	                     &d->memory_scaling, err, errlen) < 0 ||
	    vxpu_json_number(it, path, "computeScaling", false, 0, VXPU_SCALING_MAX,
	                     &d->compute_scaling, err, errlen) < 0)
		return -1;
	d->numa = (int32_t)numa;
	if (!d->id[0])
		return vxpu_json_fail(err, errlen, path, "id: empty device id");
	return 0;
}

static int read_registration(const cJSON *root, struct vxpu_node *n, int64_t *updated_ms, char *err,
                             size_t errlen)
{
	static const char *const fields[] = {
	        "version",        "node",    "updatedAt", "memoryScaling",
	        "computeScaling", "devices", "links",     NULL};
	static const char *const link_fields[] = {"a", "b", "type", "width", NULL};
	const cJSON *devices = NULL, *links = NULL;
	char path[64], msg[256];
	if (vxpu_json_only_fields(root, "", fields, err, errlen) < 0 ||
	    read_version(root, err, errlen) < 0 ||
	    vxpu_json_string(root, "", "node", true, n->name, sizeof(n->name), err, errlen) < 0 ||
	    read_time(root, "", "updatedAt", updated_ms, err, errlen) < 0 ||
	    vxpu_json_number(root, "", "memoryScaling", false, 0, VXPU_SCALING_MAX,
	                     &n->memory_scaling, err, errlen) < 0 ||
	    vxpu_json_number(root, "", "computeScaling", false, 0, VXPU_SCALING_MAX,
	                     &n->compute_scaling, err, errlen) < 0 ||
	    vxpu_json_array(root, "", "devices", true, &devices, err, errlen) < 0 ||
	    vxpu_json_array(root, "", "links", false, &links, err, errlen) < 0)
		return -1;
	if (!n->name[0])
		return vxpu_json_fail(err, errlen, "node", "empty node name");
	if (n->memory_scaling <= 0 || n->compute_scaling <= 0)
		return vxpu_json_fail(err, errlen, "",
		                      "memoryScaling and computeScaling must be > 0");
	size_t i = 0;
	for (const cJSON *it = devices->child; it; it = it->next, i++) {
		vxpu_json_path_index(path, sizeof(path), "devices", i);
		struct vxpu_device d;
		if (read_device(it, path, &d, err, errlen) < 0)
			return -1;
		if (vxpu_node_add_device(n, &d, msg, sizeof(msg)) < 0)
			return vxpu_json_fail(err, errlen, path, "%s", msg);
	}
	i = 0;
	for (const cJSON *it = links ? links->child : NULL; it; it = it->next, i++) {
		vxpu_json_path_index(path, sizeof(path), "links", i);
		uint32_t a = 0, b = 0, width = 0;
		char type[VXPU_LINK_TYPE_MAX];
		if (expect_object(it, path, err, errlen) < 0 ||
		    vxpu_json_only_fields(it, path, link_fields, err, errlen) < 0 ||
		    read_u32(it, path, "a", true, 0, 1000000, &a, err, errlen) < 0 ||
		    read_u32(it, path, "b", true, 0, 1000000, &b, err, errlen) < 0 ||
		    vxpu_json_string(it, path, "type", true, type, sizeof(type), err, errlen) < 0 ||
		    read_u32(it, path, "width", true, 1, 255, &width, err, errlen) < 0)
			return -1;
		if (vxpu_node_add_link(n, a, b, type, width, msg, sizeof(msg)) < 0)
			return vxpu_json_fail(err, errlen, path, "%s", msg);
	}
	return 0;
}

int vxpu_node_registration_decode(const char *json, struct vxpu_node *node, int64_t *updated_ms,
                                  char *err, size_t errlen)
{
	static const char what[] = "node registration";
	if (node->nallocs)
		return vxpu_json_fail(err, errlen, what,
		                      "node \"%s\" holds allocations; decode into a fresh node",
		                      node->name);
	cJSON *root = NULL;
	if (vxpu_json_parse_object(json, what, &root, err, errlen) < 0)
		return -1;
	struct vxpu_node *tmp = malloc(sizeof(*tmp));
	int rc = -1;
	if (!tmp) {
		vxpu_json_fail(err, errlen, what, "out of memory");
		goto out;
	}
	vxpu_node_init(tmp, "");
	int64_t ts = 0;
	char msg[320];
	if (read_registration(root, tmp, &ts, msg, sizeof(msg)) < 0) {
		vxpu_json_fail(err, errlen, what, "%s", msg);
		goto out;
	}
	/* Publish the inventory; keep the caller's labels and host resources. */
	memcpy(node->name, tmp->name, sizeof(node->name));
	node->memory_scaling = tmp->memory_scaling;
	node->compute_scaling = tmp->compute_scaling;
	node->ndevices = tmp->ndevices;
	memcpy(node->devices, tmp->devices, sizeof(node->devices));
	node->nlink_types = tmp->nlink_types;
	memcpy(node->link_types, tmp->link_types, sizeof(node->link_types));
	node->nlinks = tmp->nlinks;
	memcpy(node->links, tmp->links, sizeof(node->links));
	memset(node->usage, 0, sizeof(node->usage));
	node->finalized = false;
	*updated_ms = ts;
	rc = 0;
out:
	free(tmp);
	cJSON_Delete(root);
	return rc;
}

/* ---- pod allocation ------------------------------------------------------ */

static const char *kind_name(enum vxpu_container_kind k)
{
	return k == VXPU_CONTAINER_INIT ? "init" : "app";
}

static uint32_t percent_of(uint32_t units, uint32_t unit_count)
{
	if (!unit_count)
		return 0;
	uint64_t p = ((uint64_t)units * 100 + unit_count - 1) / unit_count;
	return (uint32_t)(p > 100 ? 100 : p);
}

int vxpu_allocation_from_placement(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
                                   const struct vxpu_placement *p, enum vxpu_policy node_policy,
                                   enum vxpu_policy device_policy, int64_t allocated_ms,
                                   struct vxpu_pod_allocation *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	vxpu_copy_name(out->node, sizeof(out->node), n->name);
	vxpu_copy_name(out->ns, sizeof(out->ns), pod->ns);
	vxpu_copy_name(out->pod, sizeof(out->pod), pod->name);
	vxpu_copy_name(out->project, sizeof(out->project), pod->project);
	out->allocated_ms = allocated_ms;
	out->node_policy = node_policy;
	out->device_policy = device_policy;
	out->cpu_milli = p->cpu_milli;
	out->memory_mib = p->memory_mib;
	for (uint32_t i = 0; i < p->nshares;) {
		const struct vxpu_share *s0 = &p->shares[i];
		if (s0->container >= pod->ncontainers)
			return vxpu_json_fail(err, errlen, "allocation",
			                      "share %u names container %u of %u", i, s0->container,
			                      pod->ncontainers);
		if (out->ncontainers >= VXPU_POD_MAX_CONTAINERS ||
		    p->nshares > VXPU_POD_MAX_DEVICES)
			return vxpu_json_fail(err, errlen, "allocation",
			                      "placement is not grouped by container (%u shares)",
			                      p->nshares);
		const struct vxpu_container_request *c = &pod->containers[s0->container];
		struct vxpu_alloc_container *ac = &out->containers[out->ncontainers++];
		vxpu_copy_name(ac->name, sizeof(ac->name), c->name);
		ac->kind = c->kind;
		ac->priority = c->priority < 0 ? 1 : c->priority;
		ac->first = out->ndevices;
		for (; i < p->nshares && p->shares[i].container == s0->container; i++) {
			const struct vxpu_share *s = &p->shares[i];
			if (s->device >= n->ndevices)
				return vxpu_json_fail(err, errlen, "allocation",
				                      "share %u names device position %u of %u", i,
				                      s->device, n->ndevices);
			const struct vxpu_device *d = &n->devices[s->device];
			struct vxpu_alloc_device *ad = &out->devices[out->ndevices++];
			vxpu_copy_name(ad->id, sizeof(ad->id), d->id);
			ad->index = d->index;
			vxpu_copy_name(ad->vendor, sizeof(ad->vendor), d->vendor);
			vxpu_copy_name(ad->model, sizeof(ad->model), d->model);
			ad->memory_mib = s->memory_mib;
			ad->compute_units = s->compute_units;
			ad->compute_percent = percent_of(s->compute_units, d->unit_count);
			ad->exclusive = s->exclusive;
			if (s->template_index >= 0 && d->profile)
				vxpu_copy_name(ad->template_name, sizeof(ad->template_name),
				               d->profile->templates[s->template_index].name);
			ac->count++;
		}
	}
	return 0;
}

int vxpu_allocation_to_placement(const struct vxpu_pod_allocation *a, const struct vxpu_node *n,
                                 struct vxpu_placement *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (a->ncontainers > VXPU_POD_MAX_CONTAINERS || a->ndevices > VXPU_POD_MAX_DEVICES)
		return vxpu_json_fail(err, errlen, "allocation",
		                      "%u containers, %u devices: too many", a->ncontainers,
		                      a->ndevices);
	for (uint32_t ci = 0; ci < a->ncontainers; ci++) {
		const struct vxpu_alloc_container *c = &a->containers[ci];
		if (c->first > a->ndevices || c->count > a->ndevices - c->first)
			return vxpu_json_fail(
			        err, errlen, "allocation",
			        "container \"%s\": devices %u..%u outside the %u listed", c->name,
			        c->first, c->first + c->count, a->ndevices);
		for (uint32_t j = 0; j < c->count; j++) {
			const struct vxpu_alloc_device *ad = &a->devices[c->first + j];
			int pos = vxpu_node_device_by_id(n, ad->id);
			if (pos < 0)
				return vxpu_json_fail(err, errlen, "allocation",
				                      "device \"%s\" of container \"%s\" is not on "
				                      "node \"%s\"",
				                      ad->id, c->name, n->name);
			const struct vxpu_vendor_profile *prof = n->devices[pos].profile;
			int tidx = -1;
			if (ad->template_name[0]) {
				for (uint32_t t = 0; prof && t < prof->ntemplates; t++)
					if (strcmp(prof->templates[t].name, ad->template_name) == 0)
						tidx = (int)t;
				if (tidx < 0)
					return vxpu_json_fail(
					        err, errlen, "allocation",
					        "device \"%s\": template \"%s\" is not in profile "
					        "\"%s\"",
					        ad->id, ad->template_name, prof ? prof->name : "?");
			}
			struct vxpu_share *s = &p->shares[p->nshares++];
			s->device = (uint8_t)pos;
			s->container = (uint8_t)ci;
			s->init = c->kind == VXPU_CONTAINER_INIT;
			s->exclusive = ad->exclusive;
			s->template_index = (int8_t)tidx;
			s->memory_mib = ad->memory_mib;
			s->compute_units = ad->compute_units;
		}
	}
	p->cpu_milli = a->cpu_milli;
	p->memory_mib = a->memory_mib;
	return vxpu_placement_finish(n, p, err, errlen);
}

char *vxpu_allocation_encode(const struct vxpu_pod_allocation *a)
{
	char ts[40];
	vxpu_format_rfc3339_ms(a->allocated_ms, ts, sizeof(ts));
	cJSON *root = cJSON_CreateObject();
	cJSON *containers = cJSON_CreateArray();
	if (!root || !containers) {
		cJSON_Delete(root);
		cJSON_Delete(containers);
		return NULL;
	}
	char *text = NULL;
	cJSON_AddNumberToObject(root, "version", VXPU_ANNOTATION_VERSION);
	cJSON_AddStringToObject(root, "node", a->node);
	cJSON_AddStringToObject(root, "namespace", a->ns);
	cJSON_AddStringToObject(root, "pod", a->pod);
	cJSON_AddStringToObject(root, "project", a->project);
	cJSON_AddStringToObject(root, "allocatedAt", ts);
	cJSON_AddStringToObject(root, "nodePolicy", vxpu_policy_name(a->node_policy));
	cJSON_AddStringToObject(root, "devicePolicy", vxpu_policy_name(a->device_policy));
	cJSON_AddNumberToObject(root, "cpuMilli", (double)a->cpu_milli);
	cJSON_AddNumberToObject(root, "memoryMiB", (double)a->memory_mib);
	cJSON_AddItemToObject(root, "containers", containers);
	for (uint32_t i = 0; i < a->ncontainers; i++) {
		const struct vxpu_alloc_container *c = &a->containers[i];
		cJSON *o = cJSON_CreateObject();
		cJSON *devs = cJSON_CreateArray();
		if (!o || !devs) {
			cJSON_Delete(o);
			cJSON_Delete(devs);
			goto out;
		}
		cJSON_AddItemToArray(containers, o);
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "kind", kind_name(c->kind));
		cJSON_AddNumberToObject(o, "priority", c->priority);
		cJSON_AddItemToObject(o, "devices", devs);
		for (uint32_t j = 0; j < c->count; j++) {
			const struct vxpu_alloc_device *d = &a->devices[c->first + j];
			cJSON *x = cJSON_CreateObject();
			if (!x)
				goto out;
			cJSON_AddItemToArray(devs, x);
			cJSON_AddStringToObject(x, "id", d->id);
			cJSON_AddNumberToObject(x, "index", d->index);
			cJSON_AddStringToObject(x, "vendor", d->vendor);
			cJSON_AddStringToObject(x, "model", d->model);
			cJSON_AddNumberToObject(x, "memoryMiB", (double)d->memory_mib);
			cJSON_AddNumberToObject(x, "computeUnits", d->compute_units);
			cJSON_AddNumberToObject(x, "computePercent", d->compute_percent);
			cJSON_AddStringToObject(x, "template", d->template_name);
			cJSON_AddBoolToObject(x, "exclusive", d->exclusive);
		}
	}
	text = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return text;
}

static int read_policy(const cJSON *root, const char *key, enum vxpu_policy *out, char *err,
                       size_t errlen)
{
	char text[32];
	if (vxpu_json_string(root, "", key, true, text, sizeof(text), err, errlen) < 0)
		return -1;
	if (vxpu_policy_parse(text, out) < 0)
		return vxpu_json_fail(err, errlen, key,
		                      "unknown policy \"%s\" (default, binpack, spread, topology, "
		                      "numa, frag)",
		                      text);
	return 0;
}

static int read_alloc_device(const cJSON *it, const char *path, struct vxpu_alloc_device *d,
                             char *err, size_t errlen)
{
	static const char *const fields[] = {
	        "id",           "index",          "vendor",   "model",     "memoryMiB",
	        "computeUnits", "computePercent", "template", "exclusive", NULL};
	if (expect_object(it, path, err, errlen) < 0 ||
	    vxpu_json_only_fields(it, path, fields, err, errlen) < 0)
		return -1;
	memset(d, 0, sizeof(*d));
	if (vxpu_json_string(it, path, "id", true, d->id, sizeof(d->id), err, errlen) < 0 ||
	    read_u32(it, path, "index", true, 0, 1000000, &d->index, err, errlen) < 0 ||
	    vxpu_json_string(it, path, "vendor", true, d->vendor, sizeof(d->vendor), err, errlen) <
	            0 ||
	    vxpu_json_string(it, path, "model", true, d->model, sizeof(d->model), err, errlen) <
	            0 ||
	    vxpu_json_uint(it, path, "memoryMiB", true, 0, MAX_MIB, &d->memory_mib, err, errlen) <
	            0 ||
	    read_u32(it, path, "computeUnits", true, 0, 1000000, &d->compute_units, err, errlen) <
	            0 ||
	    read_u32(it, path, "computePercent", true, 0, 100, &d->compute_percent, err, errlen) <
	            0 ||
	    vxpu_json_string(it, path, "template", true, d->template_name, sizeof(d->template_name),
	                     err, errlen) < 0 ||
	    vxpu_json_bool(it, path, "exclusive", true, &d->exclusive, err, errlen) < 0)
		return -1;
	if (!d->id[0])
		return vxpu_json_fail(err, errlen, path, "id: empty device id");
	return 0;
}

static int read_container(const cJSON *it, const char *path, struct vxpu_pod_allocation *a,
                          char *err, size_t errlen)
{
	static const char *const fields[] = {"name", "kind", "priority", "devices", NULL};
	if (expect_object(it, path, err, errlen) < 0 ||
	    vxpu_json_only_fields(it, path, fields, err, errlen) < 0)
		return -1;
	if (a->ncontainers >= VXPU_POD_MAX_CONTAINERS)
		return vxpu_json_fail(err, errlen, path, "more than %d containers",
		                      VXPU_POD_MAX_CONTAINERS);
	struct vxpu_alloc_container *c = &a->containers[a->ncontainers];
	memset(c, 0, sizeof(*c));
	char kind[16];
	int64_t priority = 0;
	const cJSON *devices = NULL;
	if (vxpu_json_string(it, path, "name", true, c->name, sizeof(c->name), err, errlen) < 0 ||
	    vxpu_json_string(it, path, "kind", true, kind, sizeof(kind), err, errlen) < 0 ||
	    vxpu_json_int(it, path, "priority", true, 0, 1, &priority, err, errlen) < 0 ||
	    vxpu_json_array(it, path, "devices", true, &devices, err, errlen) < 0)
		return -1;
	if (strcmp(kind, "app") == 0)
		c->kind = VXPU_CONTAINER_APP;
	else if (strcmp(kind, "init") == 0)
		c->kind = VXPU_CONTAINER_INIT;
	else
		return vxpu_json_fail(err, errlen, path,
		                      "kind: expected \"app\" or \"init\", got \"%s\"", kind);
	c->priority = (int)priority;
	c->first = a->ndevices;
	char dpath[128];
	size_t j = 0;
	for (const cJSON *d = devices->child; d; d = d->next, j++) {
		snprintf(dpath, sizeof(dpath), "%s.devices[%zu]", path, j);
		if (a->ndevices >= VXPU_POD_MAX_DEVICES)
			return vxpu_json_fail(err, errlen, dpath, "more than %d devices in the pod",
			                      VXPU_POD_MAX_DEVICES);
		if (read_alloc_device(d, dpath, &a->devices[a->ndevices], err, errlen) < 0)
			return -1;
		a->ndevices++;
		c->count++;
	}
	a->ncontainers++;
	return 0;
}

static int read_allocation(const cJSON *root, struct vxpu_pod_allocation *a, char *err,
                           size_t errlen)
{
	static const char *const fields[] = {
	        "version",    "node",         "namespace", "pod",       "project",    "allocatedAt",
	        "nodePolicy", "devicePolicy", "cpuMilli",  "memoryMiB", "containers", NULL};
	const cJSON *containers = NULL;
	if (vxpu_json_only_fields(root, "", fields, err, errlen) < 0 ||
	    read_version(root, err, errlen) < 0 ||
	    vxpu_json_string(root, "", "node", true, a->node, sizeof(a->node), err, errlen) < 0 ||
	    vxpu_json_string(root, "", "namespace", true, a->ns, sizeof(a->ns), err, errlen) < 0 ||
	    vxpu_json_string(root, "", "pod", true, a->pod, sizeof(a->pod), err, errlen) < 0 ||
	    vxpu_json_string(root, "", "project", true, a->project, sizeof(a->project), err,
	                     errlen) < 0 ||
	    read_time(root, "", "allocatedAt", &a->allocated_ms, err, errlen) < 0 ||
	    read_policy(root, "nodePolicy", &a->node_policy, err, errlen) < 0 ||
	    read_policy(root, "devicePolicy", &a->device_policy, err, errlen) < 0 ||
	    vxpu_json_uint(root, "", "cpuMilli", true, 0, VXPU_JSON_MAX_EXACT, &a->cpu_milli, err,
	                   errlen) < 0 ||
	    vxpu_json_uint(root, "", "memoryMiB", true, 0, MAX_MIB, &a->memory_mib, err, errlen) <
	            0 ||
	    vxpu_json_array(root, "", "containers", true, &containers, err, errlen) < 0)
		return -1;
	if (!a->node[0] || !a->ns[0] || !a->pod[0])
		return vxpu_json_fail(err, errlen, "", "node, namespace and pod must not be empty");
	char path[64];
	size_t i = 0;
	for (const cJSON *it = containers->child; it; it = it->next, i++) {
		vxpu_json_path_index(path, sizeof(path), "containers", i);
		if (read_container(it, path, a, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int vxpu_allocation_decode(const char *json, struct vxpu_pod_allocation *out, char *err,
                           size_t errlen)
{
	static const char what[] = "allocation";
	cJSON *root = NULL;
	if (vxpu_json_parse_object(json, what, &root, err, errlen) < 0)
		return -1;
	struct vxpu_pod_allocation *tmp = calloc(1, sizeof(*tmp));
	int rc = -1;
	char msg[320];
	if (!tmp) {
		vxpu_json_fail(err, errlen, what, "out of memory");
	} else if (read_allocation(root, tmp, msg, sizeof(msg)) < 0) {
		vxpu_json_fail(err, errlen, what, "%s", msg);
	} else {
		*out = *tmp;
		rc = 0;
	}
	free(tmp);
	cJSON_Delete(root);
	return rc;
}
