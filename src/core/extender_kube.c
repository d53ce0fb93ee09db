/*
 * extender_kube.c - Pod, Node and ResourceQuota objects and Kubernetes
 * quantities into core values (see extender_kube.h).
 *
 * Every reader walks only the fields it needs, checks their JSON types with
 * the jsonstrict helpers (so messages carry the field's path and the value
 * found), and never allocates: strings it hands out point into the caller's
 * cJSON tree.
 */
#include "core/extender_kube.h"

#include "core/annotation.h"
#include "core/jsonstrict.h"
#include "core/match.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- quantities ---------------------------------------------------------- */

struct quantity {
	unsigned __int128 digits; /* all digits of the number, without the point */
	int fraction;             /* digits after the point */
	int exponent;             /* decimal exponent of the suffix */
	int binary;               /* power of 1024 of a binary suffix, 0 = none */
	const char *suffix;
	size_t number_len;
};

static int quantity_parse(const char *what, const char *text, struct quantity *q, char *err,
                          size_t errlen)
{
	memset(q, 0, sizeof(*q));
	const char *p = text;
	if (*p == '+')
		p++;
	if (*p == '-')
		return vxpu_json_fail(err, errlen, what, "quantity \"%s\" is negative", text);
	int ndigits = 0;
	bool point = false;
	for (; (*p >= '0' && *p <= '9') || (*p == '.' && !point); p++) {
		if (*p == '.') {
			point = true;
			continue;
		}
		if (ndigits >= 36)
			return vxpu_json_fail(err, errlen, what, "quantity \"%.40s\" is too long",
			                      text);
		q->digits = q->digits * 10 + (unsigned)(*p - '0');
		ndigits++;
		if (point)
			q->fraction++;
	}
	if (ndigits == 0)
		return vxpu_json_fail(err, errlen, what, "\"%.40s\" is not a quantity", text);
	q->number_len = (size_t)(p - text);
	q->suffix = p;
	static const struct {
		const char *name;
		int exponent, binary;
	} suffixes[] = {{"", 0, 0},   {"m", -3, 0}, {"k", 3, 0},  {"M", 6, 0},  {"G", 9, 0},
	                {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0}, {"Ki", 0, 1}, {"Mi", 0, 2},
	                {"Gi", 0, 3}, {"Ti", 0, 4}, {"Pi", 0, 5}, {"Ei", 0, 6}};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(p, suffixes[i].name) == 0) {
			q->exponent = suffixes[i].exponent;
			q->binary = suffixes[i].binary;
			return 0;
		}
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1;
		int sign = 1;
		if (*e == '+' || *e == '-')
			sign = *e++ == '-' ? -1 : 1;
		int v = 0, n = 0;
		for (; *e >= '0' && *e <= '9' && n < 4; e++, n++)
			v = v * 10 + (*e - '0');
		if (n > 0 && *e == '\0') {
			q->exponent = sign * v;
			return 0;
		}
	}
	return vxpu_json_fail(err, errlen, what,
	                      "quantity \"%.40s\" has an unknown suffix \"%.16s\"", text, p);
}

/* The exact value digits × 10^(exponent - fraction) × 1024^binary, or -1. */
static int quantity_value(const char *what, const char *text, const struct quantity *q,
                          uint64_t *out, char *err, size_t errlen)
{
	unsigned __int128 v = q->digits;
	int scale = q->exponent - q->fraction;
	const unsigned __int128 top = ~(unsigned __int128)0;
	for (int i = 0; i < q->binary * 10; i++) {
		if (v > top / 2)
			goto too_large;
		v <<= 1;
	}
	for (; scale > 0; scale--) {
		if (v > top / 10)
			goto too_large;
		v *= 10;
	}
	for (; scale < 0; scale++) {
		if (v % 10)
			return vxpu_json_fail(err, errlen, what,
			                      "quantity \"%.40s\" is not a whole number", text);
		v /= 10;
	}
	if (v > (unsigned __int128)UINT64_MAX)
		goto too_large;
	*out = (uint64_t)v;
	return 0;
too_large:
	return vxpu_json_fail(err, errlen, what, "quantity \"%.40s\" is too large", text);
}

int vxpu_kube_quantity_uint(const char *what, const char *quantity, uint64_t *out, char *err,
                            size_t errlen)
{
	struct quantity q;
	if (quantity_parse(what, quantity, &q, err, errlen) < 0)
		return -1;
	return quantity_value(what, quantity, &q, out, err, errlen);
}

int vxpu_kube_quantity_text(const char *what, const char *quantity, char *out, size_t cap,
                            char *err, size_t errlen)
{
	struct quantity q;
	if (quantity_parse(what, quantity, &q, err, errlen) < 0)
		return -1;
	int n;
	if (q.binary) {
		/* "4Gi" is a size: hand the number and unit to the size grammar. */
		const char *number = quantity[0] == '+' ? quantity + 1 : quantity;
		size_t len = q.number_len - (size_t)(number - quantity);
		n = snprintf(out, cap, "%.*s%sB", (int)len, number, q.suffix);
	} else {
		uint64_t v = 0;
		if (quantity_value(what, quantity, &q, &v, err, errlen) < 0)
			return -1;
		n = snprintf(out, cap, "%llu", (unsigned long long)v);
	}
	if (n < 0 || (size_t)n >= cap)
		return vxpu_json_fail(err, errlen, what, "quantity \"%.40s\" is too long",
		                      quantity);
	return 0;
}

/* ---- metadata ------------------------------------------------------------ */

static const cJSON *string_map_entry(const cJSON *object, const char *map, const char *key)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(meta, map);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
	return cJSON_IsString(v) ? v : NULL;
}

const char *vxpu_kube_annotation(const cJSON *object, const char *key)
{
	const cJSON *v = string_map_entry(object, "annotations", key);
	return v ? v->valuestring : NULL;
}

const char *vxpu_kube_label(const cJSON *object, const char *key)
{
	const cJSON *v = string_map_entry(object, "labels", key);
	return v ? v->valuestring : NULL;
}

/* An optional object whose values must all be strings (labels, limits...). */
static int string_map(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                      char *err, size_t errlen)
{
	*out = NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!m || cJSON_IsNull(m))
		return 0;
	if (vxpu_json_object(obj, path, key, true, &m, err, errlen) < 0)
		return -1;
	char sub[256];
	vxpu_json_path(sub, sizeof(sub), path, key);
	for (const cJSON *e = m->child; e; e = e->next)
		if (!cJSON_IsString(e)) {
			char got[64], full[320];
			vxpu_json_describe(e, got, sizeof(got));
			if (snprintf(full, sizeof(full), "%s[\"%.64s\"]", sub,
			             e->string ? e->string : "") < 0)
				full[0] = '\0';
			return vxpu_json_fail(err, errlen, full, "expected a string, got %s", got);
		}
	*out = m;
	return 0;
}

/* An optional string field; JSON null reads as absent (as Go's encoder may write). */
static int opt_string(const cJSON *obj, const char *path, const char *key, char *out, size_t cap,
                      char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	return vxpu_json_string(obj, path, key, true, out, cap, err, errlen);
}

/* Reads metadata: name (required unless allow_no_name), namespace, uid, rv. */
struct meta {
	const cJSON *obj;
	const cJSON *annotations;
	const cJSON *labels;
	bool deleting;
};

static int read_meta(const cJSON *object, const char *path, bool name_required, char *name,
                     size_t name_cap, char *ns, size_t ns_cap, struct meta *m, char *err,
                     size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(object)) {
		char got[64];
		vxpu_json_describe(object, got, sizeof(got));
		return vxpu_json_fail(err, errlen, path, "expected an object, got %s", got);
	}
	char mp[256];
	vxpu_json_path(mp, sizeof(mp), path, "metadata");
	if (vxpu_json_object(object, path, "metadata", true, &m->obj, err, errlen) < 0)
		return -1;
	if (name_required) {
		if (vxpu_json_string(m->obj, mp, "name", true, name, name_cap, err, errlen) < 0)
			return -1;
		if (!name[0])
			return vxpu_json_fail(err, errlen, mp, "name is empty");
	} else if (opt_string(m->obj, mp, "name", name, name_cap, err, errlen) < 0) {
		return -1;
	}
	if (ns && opt_string(m->obj, mp, "namespace", ns, ns_cap, err, errlen) < 0)
		return -1;
	if (string_map(m->obj, mp, "annotations", &m->annotations, err, errlen) < 0 ||
	    string_map(m->obj, mp, "labels", &m->labels, err, errlen) < 0)
		return -1;
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(m->obj, "deletionTimestamp");
	m->deleting = del && !cJSON_IsNull(del);
	return 0;
}

/* ---- pods ---------------------------------------------------------------- */

static int request_fail(struct vxpu_kube_pod *out, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int request_fail(struct vxpu_kube_pod *out, const char *fmt, ...)
{
	if (!out->request_error[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(out->request_error, sizeof(out->request_error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Applies one resource entry to c; 1 applied, 0 not a vendor resource, -1 refused. */
static int apply_resource(const struct vxpu_vendor_table *vendors, struct vxpu_container_request *c,
                          uint8_t *given, const char *name, const char *quantity,
                          struct vxpu_kube_pod *out)
{
	enum vxpu_resource_kind kind = VXPU_RESOURCE_COUNT;
	if (!vxpu_vendor_by_resource(vendors, name, &kind))
		return 0;
	char what[160], text[96], why[256];
	snprintf(what, sizeof(what), "container \"%s\": %s", c->name, name);
	if (kind == VXPU_RESOURCE_MEMORY) {
		if (vxpu_kube_quantity_text(what, quantity, text, sizeof(text), why, sizeof(why)) <
		    0)
			return request_fail(out, "%s", why);
	} else {
		uint64_t v = 0;
		if (vxpu_kube_quantity_uint(what, quantity, &v, why, sizeof(why)) < 0)
			return request_fail(out, "%s", why);
		snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
	}
	if (kind == VXPU_RESOURCE_MEMORY && strcmp(text, "0") == 0)
		return request_fail(out,
		                    "container \"%s\": %s=\"%s\": device memory must be above 0",
		                    c->name, name, quantity);
	if (kind == VXPU_RESOURCE_MEMORY_PERCENT && strcmp(text, "0") == 0)
		return request_fail(
		        out, "container \"%s\": %s=\"%s\": memory percentage is not in 1..100",
		        c->name, name, quantity);
	if (vxpu_container_request_set_resource(vendors, c, name, text, why, sizeof(why)) < 0)
		return request_fail(out, "%s", why);
	*given |= (uint8_t)(1u << kind);
	return 1;
}

static int read_container(const cJSON *ctr, const char *path,
                          const struct vxpu_vendor_table *vendors, enum vxpu_container_kind kind,
                          uint16_t spec_index, struct vxpu_kube_pod *out, char *err, size_t errlen)
{
	if (!cJSON_IsObject(ctr)) {
		char got[64];
		vxpu_json_describe(ctr, got, sizeof(got));
		return vxpu_json_fail(err, errlen, path, "expected an object, got %s", got);
	}
	struct vxpu_container_request c;
	memset(&c, 0, sizeof(c));
	if (vxpu_json_string(ctr, path, "name", true, c.name, sizeof(c.name), err, errlen) < 0)
		return -1;
	c.kind = kind;
	c.priority = -1;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(ctr, "resources");
	const cJSON *limits = NULL, *requests = NULL;
	if (res && !cJSON_IsNull(res)) {
		char rp[256];
		vxpu_json_path(rp, sizeof(rp), path, "resources");
		if (vxpu_json_object(ctr, path, "resources", true, &res, err, errlen) < 0 ||
		    string_map(res, rp, "limits", &limits, err, errlen) < 0 ||
		    string_map(res, rp, "requests", &requests, err, errlen) < 0)
			return -1;
	}
	uint8_t given = 0;
	bool any = false;
	if (!out->request_error[0]) {
		for (const cJSON *e = limits ? limits->child : NULL; e; e = e->next) {
			int r = apply_resource(vendors, &c, &given, e->string, e->valuestring, out);
			if (r < 0)
				break;
			any |= r > 0;
		}
	}
	if (!out->request_error[0]) {
		for (const cJSON *e = requests ? requests->child : NULL; e; e = e->next) {
			if (limits && cJSON_GetObjectItemCaseSensitive(limits, e->string))
				continue;
			int r = apply_resource(vendors, &c, &given, e->string, e->valuestring, out);
			if (r < 0)
				break;
			any |= r > 0;
		}
	}
	if (!any || out->request_error[0])
		return 0;
	out->wants_devices = true;
	struct vxpu_container_request *slot =
	        vxpu_pod_request_add_container(&out->request, c.name, kind);
	if (!slot) {
		request_fail(out, "more than %d containers ask for devices",
		             VXPU_POD_MAX_CONTAINERS);
		return 0;
	}
	uint32_t at = out->request.ncontainers - 1;
	*slot = c;
	out->spec_index[at] = spec_index;
	out->given[at] = given;
	return 0;
}

static int read_containers(const cJSON *spec, const char *path, const char *key,
                           const struct vxpu_vendor_table *vendors, enum vxpu_container_kind kind,
                           bool required, struct vxpu_kube_pod *out, char *err, size_t errlen)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(spec, key);
	if (!arr || cJSON_IsNull(arr)) {
		if (required)
			return vxpu_json_fail(err, errlen, path, "missing field \"%s\"", key);
		return 0;
	}
	if (vxpu_json_array(spec, path, key, true, &arr, err, errlen) < 0)
		return -1;
	char ap[256], cp[288];
	vxpu_json_path(ap, sizeof(ap), path, key);
	uint16_t i = 0;
	for (const cJSON *c = arr->child; c; c = c->next, i++) {
		if (i >= 1024)
			return vxpu_json_fail(err, errlen, ap, "more than 1024 containers");
		vxpu_json_path_index(cp, sizeof(cp), ap, i);
		if (read_container(c, cp, vendors, kind, i, out, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int vxpu_kube_pod_read(const cJSON *pod, const char *path, const struct vxpu_vendor_table *vendors,
                       struct vxpu_kube_pod *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct meta m;
	char mp[256], sp[256];
	vxpu_json_path(mp, sizeof(mp), path, "metadata");
	vxpu_json_path(sp, sizeof(sp), path, "spec");
	if (read_meta(pod, path, false, out->name, sizeof(out->name), out->ns, sizeof(out->ns), &m,
	              err, errlen) < 0 ||
	    opt_string(m.obj, mp, "uid", out->uid, sizeof(out->uid), err, errlen) < 0 ||
	    opt_string(m.obj, mp, "resourceVersion", out->resource_version,
	               sizeof(out->resource_version), err, errlen) < 0)
		return -1;
	out->deleting = m.deleting;
	const cJSON *spec = NULL;
	if (vxpu_json_object(pod, path, "spec", true, &spec, err, errlen) < 0 ||
	    opt_string(spec, sp, "nodeName", out->node_name, sizeof(out->node_name), err, errlen) <
	            0 ||
	    opt_string(spec, sp, "schedulerName", out->scheduler_name, sizeof(out->scheduler_name),
	               err, errlen) < 0)
		return -1;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(pod, "status");
	if (status && !cJSON_IsNull(status)) {
		char phase[32] = "";
		char stp[256];
		vxpu_json_path(stp, sizeof(stp), path, "status");
		if (vxpu_json_object(pod, path, "status", true, &status, err, errlen) < 0 ||
		    opt_string(status, stp, "phase", phase, sizeof(phase), err, errlen) < 0)
			return -1;
		out->terminal = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
	}
	vxpu_pod_request_init(&out->request, out->ns, out->name);
	if (read_containers(spec, sp, "initContainers", vendors, VXPU_CONTAINER_INIT, false, out,
	                    err, errlen) < 0 ||
	    read_containers(spec, sp, "containers", vendors, VXPU_CONTAINER_APP, true, out, err,
	                    errlen) < 0)
		return -1;
	const cJSON *alloc = m.annotations ? cJSON_GetObjectItemCaseSensitive(
	                                             m.annotations, VXPU_ANNOTATION_ALLOCATION)
	                                   : NULL;
	out->allocation = alloc ? alloc->valuestring : NULL;
	/* Pod-wide annotations apply to the device containers read above. */
	for (const cJSON *a = m.annotations ? m.annotations->child : NULL;
	     a && !out->request_error[0]; a = a->next) {
		char why[256];
		if (vxpu_pod_request_set_annotation(&out->request, a->string, a->valuestring, why,
		                                    sizeof(why)) < 0)
			request_fail(out, "%s", why);
	}
	return 0;
}

/* ---- nodes --------------------------------------------------------------- */

int vxpu_kube_node_read(const cJSON *node, const char *path, struct vxpu_kube_node *out, char *err,
                        size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct meta m;
	if (read_meta(node, path, true, out->name, sizeof(out->name), NULL, 0, &m, err, errlen) < 0)
		return -1;
	const cJSON *reg = m.annotations ? cJSON_GetObjectItemCaseSensitive(m.annotations,
	                                                                    VXPU_ANNOTATION_NODE)
	                                 : NULL;
	out->registration = reg ? reg->valuestring : NULL;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(node, "spec");
	if (spec && !cJSON_IsNull(spec)) {
		char sp[256];
		vxpu_json_path(sp, sizeof(sp), path, "spec");
		if (vxpu_json_object(node, path, "spec", true, &spec, err, errlen) < 0)
			return -1;
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(spec, "unschedulable");
		if (u && !cJSON_IsNull(u) &&
		    vxpu_json_bool(spec, sp, "unschedulable", true, &out->unschedulable, err,
		                   errlen) < 0)
			return -1;
	}
	return 0;
}

/* ---- resource quotas ----------------------------------------------------- */

static void lower(uint64_t *limit, uint64_t v)
{
	if (v < *limit)
		*limit = v;
}

int vxpu_kube_quota_read(const cJSON *rq, const char *path, const struct vxpu_vendor_table *vendors,
                         struct vxpu_kube_quota *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->hard = (struct vxpu_quota_amount){VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED,
	                                       VXPU_QUOTA_UNLIMITED};
	struct meta m;
	char mp[256], sp[256], hp[288];
	vxpu_json_path(mp, sizeof(mp), path, "metadata");
	vxpu_json_path(sp, sizeof(sp), path, "spec");
	vxpu_json_path(hp, sizeof(hp), sp, "hard");
	if (read_meta(rq, path, true, out->name, sizeof(out->name), out->ns, sizeof(out->ns), &m,
	              err, errlen) < 0)
		return -1;
	if (!out->ns[0])
		return vxpu_json_fail(err, errlen, mp, "missing field \"namespace\"");
	const cJSON *project =
	        m.labels ? cJSON_GetObjectItemCaseSensitive(m.labels, VXPU_LABEL_PROJECT) : NULL;
	if (project && vxpu_copy_name(out->project, sizeof(out->project), project->valuestring) < 0)
		return vxpu_json_fail(err, errlen, mp,
		                      "label %s: project name longer than %d bytes",
		                      VXPU_LABEL_PROJECT, VXPU_PROJECT_MAX - 1);
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(rq, "spec");
	if (!spec || cJSON_IsNull(spec))
		return 0;
	const cJSON *hard = NULL;
	if (vxpu_json_object(rq, path, "spec", true, &spec, err, errlen) < 0 ||
	    string_map(spec, sp, "hard", &hard, err, errlen) < 0)
		return -1;
	for (const cJSON *e = hard ? hard->child : NULL; e; e = e->next) {
		const char *key = e->string;
		const char *resource = NULL;
		if (strncmp(key, "limits.", 7) == 0)
			resource = key + 7;
		else if (strncmp(key, "requests.", 9) == 0)
			resource = key + 9;
		enum vxpu_resource_kind kind = VXPU_RESOURCE_COUNT;
		const struct vxpu_vendor_profile *p =
		        resource ? vxpu_vendor_by_resource(vendors, resource, &kind) : NULL;
		if (!p)
			continue;
		char what[320];
		snprintf(what, sizeof(what), "%s[\"%s\"]", hp, key);
		uint64_t v = 0;
		switch (kind) {
		case VXPU_RESOURCE_COUNT:
			if (vxpu_kube_quantity_uint(what, e->valuestring, &v, err, errlen) < 0)
				return -1;
			lower(&out->hard.devices, v);
			break;
		case VXPU_RESOURCE_CORES:
			if (vxpu_kube_quantity_uint(what, e->valuestring, &v, err, errlen) < 0)
				return -1;
			lower(&out->hard.compute_percent, v);
			break;
		case VXPU_RESOURCE_MEMORY: {
			struct vxpu_container_request scratch;
			memset(&scratch, 0, sizeof(scratch));
			char text[96], why[256];
			if (vxpu_kube_quantity_text(what, e->valuestring, text, sizeof(text), err,
			                            errlen) < 0)
				return -1;
			if (strcmp(text, "0") == 0) {
				v = 0;
			} else {
				vxpu_copy_name(scratch.name, sizeof(scratch.name), "quota");
				if (vxpu_container_request_set_resource(vendors, &scratch, resource,
				                                        text, why, sizeof(why)) < 0)
					return vxpu_json_fail(err, errlen, what, "%s", why);
				v = scratch.memory_mib;
			}
			lower(&out->hard.memory_mib, v);
			break;
		}
		default:
			return vxpu_json_fail(err, errlen, what,
			                      "%s resources cannot be limited by a quota (use the "
			                      "count, memory or cores resource)",
			                      vxpu_resource_kind_name(kind));
		}
		out->limits_devices = true;
	}
	return 0;
}
