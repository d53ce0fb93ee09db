/*
 * webhook.c - the pod admission webhook (see webhook.h).
 *
 * The review is read into a vxpu_kube_pod (extender_kube.h), so the webhook
 * and the extender read a pod's request with the same code. Defaults are
 * decided per device container from which resources it gave explicitly,
 * applied to a copy of the request, and the copy is normalized: the
 * request that is validated and quota-checked is exactly the one the
 * patched pod will carry. The patch is built as a cJSON array of "add"
 * operations (RFC 6902; "add" on an existing member replaces it) and sent
 * base64-encoded, as the AdmissionReview API wants.
 */
#include "core/webhook.h"

#include "core/extender.h"
#include "core/extender_kube.h"
#include "core/jsonstrict.h"
#include "core/match.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMISSION_API "admission.k8s.io/v1"

char *vxpu_base64_encode(const unsigned char *data, size_t len)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* JSON Pointer (RFC 6901) escaping of one reference token. */
static void pointer_token(char *out, size_t cap, const char *token)
{
	size_t o = 0;
	for (const char *p = token; *p && o + 3 < cap; p++) {
		if (*p == '~' || *p == '/') {
			out[o++] = '~';
			out[o++] = *p == '~' ? '0' : '1';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

struct review {
	const struct vxpu_vendor_table *vendors;
	const struct vxpu_webhook_config *cfg;
	const struct vxpu_quota_table *quota;
	const cJSON *object; /* the pod */
	struct vxpu_kube_pod *pod;
	cJSON *patch;
	struct vxpu_webhook_result *result;
	int code; /* of a denial */
};

static int deny(struct review *r, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int deny(struct review *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->result->message, sizeof(r->result->message), fmt, ap);
	va_end(ap);
	r->result->verdict = VXPU_WEBHOOK_DENIED;
	r->code = code;
	return -1;
}

/* Length of "domain/" of a resource name, 0 when it has none. */
static size_t domain_len(const char *name)
{
	const char *slash = strchr(name, '/');
	return slash ? (size_t)(slash - name) + 1 : 0;
}

/* Refuses a resource of a vendor domain that no profile offers. */
static int check_unknown(struct review *r, const cJSON *container, const char *map_name)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(container, "resources");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(res, map_name);
	const cJSON *cname = cJSON_GetObjectItemCaseSensitive(container, "name");
	for (const cJSON *e = cJSON_IsObject(map) ? map->child : NULL; e; e = e->next) {
		size_t d = domain_len(e->string);
		enum vxpu_resource_kind kind;
		if (!d || vxpu_vendor_by_resource(r->vendors, e->string, &kind))
			continue;
		char offered[384] = "";
		size_t used = 0;
		for (uint32_t p = 0; p < r->vendors->count; p++)
			for (int k = 0; k < VXPU_RESOURCE_KINDS; k++) {
				const char *name = r->vendors->profiles[p].resources[k];
				if (!name[0] || strncmp(name, e->string, d) != 0 ||
				    strstr(offered, name))
					continue;
				int n = snprintf(offered + used, sizeof(offered) - used, "%s%s",
				                 used ? ", " : "", name);
				if (n > 0 && (size_t)n < sizeof(offered) - used)
					used += (size_t)n;
			}
		if (!used)
			continue; /* not a vendor domain vxpu knows */
		return deny(r, 400,
		            "container \"%s\": %s is not a resource vxpu knows; %.*s offers %s",
		            cJSON_IsString(cname) ? cname->valuestring : "?", e->string,
		            (int)(d - 1), e->string, offered);
	}
	return 0;
}

static int check_unknown_all(struct review *r)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(r->object, "spec");
	static const char *const lists[] = {"initContainers", "containers"};
	for (int l = 0; l < 2; l++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(spec, lists[l]);
		for (const cJSON *c = cJSON_IsArray(arr) ? arr->child : NULL; c; c = c->next)
			if (check_unknown(r, c, "limits") < 0 ||
			    check_unknown(r, c, "requests") < 0)
				return -1;
	}
	return 0;
}

static int add_op(struct review *r, const char *path, cJSON *value)
{
	cJSON *op = cJSON_CreateObject();
	if (!op || !value || !cJSON_AddItemToArray(r->patch, op)) {
		cJSON_Delete(op);
		cJSON_Delete(value);
		return -1;
	}
	if (!cJSON_AddStringToObject(op, "op", "add") ||
	    !cJSON_AddStringToObject(op, "path", path) ||
	    !cJSON_AddItemToObject(op, "value", value))
		return -1;
	r->result->patches++;
	return 0;
}

/* Adds resource = value to the limits (and requests, if present) of container i. */
static int patch_resource(struct review *r, uint32_t i, const char *resource, const char *value)
{
	const struct vxpu_container_request *c = &r->pod->request.containers[i];
	const char *list = c->kind == VXPU_CONTAINER_INIT ? "initContainers" : "containers";
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(r->object, "spec");
	const cJSON *ctr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, list),
	                                      r->pod->spec_index[i]);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(ctr, "resources");
	char base[96], token[2 * VXPU_RESOURCE_NAME_MAX], path[384];
	snprintf(base, sizeof(base), "/spec/%s/%u/resources", list, r->pod->spec_index[i]);
	pointer_token(token, sizeof(token), resource);
	if (!cJSON_IsObject(res)) {
		cJSON *v = cJSON_CreateObject();
		cJSON *limits = v ? cJSON_AddObjectToObject(v, "limits") : NULL;
		if (!limits || !cJSON_AddStringToObject(limits, resource, value)) {
			cJSON_Delete(v);
			return -1;
		}
		return add_op(r, base, v);
	}
	static const char *const maps[] = {"limits", "requests"};
	for (int k = 0; k < 2; k++) {
		const cJSON *map = cJSON_GetObjectItemCaseSensitive(res, maps[k]);
		if (cJSON_IsObject(map)) {
			snprintf(path, sizeof(path), "%s/%s/%s", base, maps[k], token);
			if (add_op(r, path, cJSON_CreateString(value)) < 0)
				return -1;
		} else if (k == 0) {
			cJSON *v = cJSON_CreateObject();
			if (!v || !cJSON_AddStringToObject(v, resource, value)) {
				cJSON_Delete(v);
				return -1;
			}
			snprintf(path, sizeof(path), "%s/limits", base);
			if (add_op(r, path, v) < 0)
				return -1;
		}
	}
	return 0;
}

#define GIVEN(bits, kind) (((bits) >> (kind)) & 1u)

/* Decides and applies the defaults (on req and in the patch); -1 denied or no memory. */
static int defaults(struct review *r, struct vxpu_pod_request *req, bool *oom)
{
	bool pod_says_exclusive = vxpu_kube_annotation(r->object, "vxpu.io/exclusive") != NULL;
	for (uint32_t i = 0; i < req->ncontainers; i++) {
		struct vxpu_container_request *c = &req->containers[i];
		uint8_t g = r->pod->given[i];
		enum vxpu_resource_kind kind;
		const struct vxpu_vendor_profile *p =
		        vxpu_vendor_by_resource(r->vendors, c->family, &kind);
		if (!p)
			continue;
		bool shares = GIVEN(g, VXPU_RESOURCE_MEMORY) ||
		              GIVEN(g, VXPU_RESOURCE_MEMORY_PERCENT) ||
		              GIVEN(g, VXPU_RESOURCE_CORES);
		const char *count_name = p->resources[VXPU_RESOURCE_COUNT];
		if (GIVEN(g, VXPU_RESOURCE_COUNT) && c->count == 0 && shares)
			return deny(
			        r, 400,
			        "container \"%s\": %s is 0 but a device memory or compute share "
			        "is given; ask for at least 1 device or remove the share",
			        c->name, count_name);
		if (!GIVEN(g, VXPU_RESOURCE_COUNT) && shares) {
			c->count = 1;
			if (patch_resource(r, i, count_name, "1") < 0)
				goto oom;
		} else if (GIVEN(g, VXPU_RESOURCE_COUNT) && !shares && c->count > 0 &&
		           r->cfg->exclusive_default && !pod_says_exclusive &&
		           p->resources[VXPU_RESOURCE_CORES][0]) {
			c->compute_percent = 100;
			if (patch_resource(r, i, p->resources[VXPU_RESOURCE_CORES], "100") < 0)
				goto oom;
		}
	}
	return 0;
oom:
	*oom = true;
	return -1;
}

/* The smallest charge the pod can cost: app containers together, or the largest init. */
static void least_charge(const struct vxpu_pod_request *req, struct vxpu_quota_amount *want)
{
	struct vxpu_quota_amount app = {0}, init = {0};
	for (uint32_t i = 0; i < req->ncontainers; i++) {
		const struct vxpu_container_request *c = &req->containers[i];
		struct vxpu_quota_amount a = {c->memory_mib * c->count,
		                              (uint64_t)c->compute_percent * c->count, c->count};
		if (c->kind == VXPU_CONTAINER_INIT) {
			init.memory_mib =
			        a.memory_mib > init.memory_mib ? a.memory_mib : init.memory_mib;
			init.compute_percent = a.compute_percent > init.compute_percent
			                               ? a.compute_percent
			                               : init.compute_percent;
			init.devices = a.devices > init.devices ? a.devices : init.devices;
		} else {
			app.memory_mib += a.memory_mib;
			app.compute_percent += a.compute_percent;
			app.devices += a.devices;
		}
	}
	want->memory_mib = app.memory_mib > init.memory_mib ? app.memory_mib : init.memory_mib;
	want->compute_percent = app.compute_percent > init.compute_percent ? app.compute_percent
	                                                                   : init.compute_percent;
	want->devices = app.devices > init.devices ? app.devices : init.devices;
}

/* Reviews a pod CREATE; -1 when denied (message set) or on no memory (*oom). */
static int review_pod(struct review *r, const char *ns, bool *oom)
{
	char err[320];
	if (vxpu_kube_pod_read(r->object, "request.object", r->vendors, r->pod, err, sizeof(err)) <
	    0)
		return deny(r, 400, "%s", err);
	if (!r->pod->ns[0]) {
		vxpu_copy_name(r->pod->ns, sizeof(r->pod->ns), ns);
		vxpu_copy_name(r->pod->request.ns, sizeof(r->pod->request.ns), ns);
	}
	const char *opt = vxpu_kube_label(r->object, VXPU_LABEL_WEBHOOK);
	if (opt && strcmp(opt, VXPU_WEBHOOK_OPT_OUT) == 0)
		return 0;
	if (r->cfg->deny_unknown_resources && check_unknown_all(r) < 0)
		return -1;
	if (!r->pod->wants_devices && !r->pod->request_error[0])
		return 0;
	r->result->verdict = VXPU_WEBHOOK_ADMITTED;
	if (r->pod->request_error[0])
		return deny(r, 400, "%s", r->pod->request_error);
	struct vxpu_pod_request *req = malloc(sizeof(*req));
	if (!req) {
		*oom = true;
		return -1;
	}
	*req = r->pod->request;
	int rc = defaults(r, req, oom);
	if (rc == 0 && vxpu_pod_request_normalize(req, err, sizeof(err)) < 0)
		rc = deny(r, 400, "%s", err);
	if (rc == 0 && r->quota) {
		struct vxpu_quota_amount want;
		least_charge(req, &want);
		if (vxpu_quota_check(r->quota, r->pod->ns, req->project, &want, err, sizeof(err)) <
		    0)
			rc = deny(r, 403, "%s", err);
	}
	free(req);
	if (rc < 0)
		return -1;
	const char *sched = r->cfg->scheduler_name;
	if (sched && sched[0] &&
	    (!r->pod->scheduler_name[0] ||
	     strcmp(r->pod->scheduler_name, "default-scheduler") == 0) &&
	    add_op(r, "/spec/schedulerName", cJSON_CreateString(sched)) < 0) {
		*oom = true;
		return -1;
	}
	return 0;
}

static char *answer(const char *uid, const struct review *r, bool allowed)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *resp = NULL;
	char *text = NULL, *patch_text = NULL, *b64 = NULL;
	if (!doc || !cJSON_AddStringToObject(doc, "apiVersion", ADMISSION_API) ||
	    !cJSON_AddStringToObject(doc, "kind", "AdmissionReview") ||
	    !(resp = cJSON_AddObjectToObject(doc, "response")) ||
	    !cJSON_AddStringToObject(resp, "uid", uid) ||
	    !cJSON_AddBoolToObject(resp, "allowed", allowed))
		goto out;
	if (!allowed) {
		cJSON *status = cJSON_AddObjectToObject(resp, "status");
		if (!status || !cJSON_AddNumberToObject(status, "code", r->code) ||
		    !cJSON_AddStringToObject(status, "message", r->result->message))
			goto out;
	} else if (r->result->patches) {
		patch_text = cJSON_PrintUnformatted(r->patch);
		b64 = patch_text ? vxpu_base64_encode((const unsigned char *)patch_text,
		                                      strlen(patch_text))
		                 : NULL;
		if (!b64 || !cJSON_AddStringToObject(resp, "patchType", "JSONPatch") ||
		    !cJSON_AddStringToObject(resp, "patch", b64))
			goto out;
	}
	char *printed = cJSON_PrintUnformatted(doc);
	if (printed) {
		/* Hand out malloc'd memory so that callers free every answer alike. */
		size_t n = strlen(printed) + 1;
		text = malloc(n);
		if (text)
			memcpy(text, printed, n);
		cJSON_free(printed);
	}
out:
	cJSON_free(patch_text);
	free(b64);
	cJSON_Delete(doc);
	return text;
}

char *vxpu_webhook_review(const struct vxpu_vendor_table *vendors,
                          const struct vxpu_webhook_config *cfg,
                          const struct vxpu_quota_table *quota, const char *body, size_t len,
                          struct vxpu_webhook_result *result, char *err, size_t errlen)
{
	memset(result, 0, sizeof(*result));
	static const char *const fields[] = {"apiVersion", "kind", "request", NULL};
	char *text = vxpu_extender_body_text(body, len, err, errlen);
	if (!text)
		return NULL;
	cJSON *doc = NULL;
	int parsed = vxpu_json_parse_object(text, "AdmissionReview", &doc, err, errlen);
	free(text);
	if (parsed < 0)
		return NULL;
	char api[64], kind[64], uid[VXPU_UID_MAX], op[32] = "", ns[VXPU_NAMESPACE_MAX] = "";
	char object_kind[64] = "";
	const cJSON *req = NULL, *rkind = NULL;
	char *out = NULL;
	struct review r = {.vendors = vendors, .cfg = cfg, .quota = quota, .result = result};
	if (vxpu_json_only_fields(doc, "AdmissionReview", fields, err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "apiVersion", true, api, sizeof(api), err, errlen) < 0 ||
	    vxpu_json_string(doc, "", "kind", true, kind, sizeof(kind), err, errlen) < 0)
		goto out;
	if (strcmp(api, ADMISSION_API) != 0 || strcmp(kind, "AdmissionReview") != 0) {
		snprintf(err, errlen,
		         "AdmissionReview: expected apiVersion %s and kind AdmissionReview, got "
		         "%.40s "
		         "and %.40s",
		         ADMISSION_API, api, kind);
		goto out;
	}
	if (vxpu_json_object(doc, "", "request", true, &req, err, errlen) < 0 ||
	    vxpu_json_string(req, "request", "uid", true, uid, sizeof(uid), err, errlen) < 0 ||
	    vxpu_json_string(req, "request", "operation", true, op, sizeof(op), err, errlen) < 0 ||
	    vxpu_json_object(req, "request", "kind", true, &rkind, err, errlen) < 0 ||
	    vxpu_json_string(rkind, "request.kind", "kind", true, object_kind, sizeof(object_kind),
	                     err, errlen) < 0)
		goto out;
	const cJSON *nsv = cJSON_GetObjectItemCaseSensitive(req, "namespace");
	if (nsv && !cJSON_IsNull(nsv) &&
	    vxpu_json_string(req, "request", "namespace", true, ns, sizeof(ns), err, errlen) < 0)
		goto out;
	if (!uid[0]) {
		snprintf(err, errlen, "request.uid: is empty");
		goto out;
	}
	bool allowed = true, oom = false;
	if (strcmp(object_kind, "Pod") == 0 && strcmp(op, "CREATE") == 0) {
		if (vxpu_json_object(req, "request", "object", true, &r.object, err, errlen) < 0)
			goto out;
		r.pod = malloc(sizeof(*r.pod));
		r.patch = cJSON_CreateArray();
		if (!r.pod || !r.patch) {
			snprintf(err, errlen, "AdmissionReview: out of memory");
			goto out;
		}
		if (review_pod(&r, ns, &oom) < 0) {
			if (oom) {
				snprintf(err, errlen, "AdmissionReview: out of memory");
				goto out;
			}
			allowed = false;
		}
	}
	out = answer(uid, &r, allowed);
	if (!out)
		snprintf(err, errlen, "AdmissionReview: out of memory");
out:
	free(r.pod);
	cJSON_Delete(r.patch);
	cJSON_Delete(doc);
	return out;
}
