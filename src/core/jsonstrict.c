/*
 * jsonstrict.c - strict JSON field access (see jsonstrict.h).
 *
 * cJSON accepts documents that a contract must refuse: it keeps both copies
 * of a duplicated key and hands back the first, and it reads numbers as
 * doubles without telling whether they were integral. This file closes those
 * gaps and produces the error messages, so that every reader of external
 * JSON in core refuses the same things with the same words.
 */
#include "core/jsonstrict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vxpu_json_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return -1;
	int n = 0;
	if (path && *path)
		n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void vxpu_json_describe(const cJSON *item, char *buf, size_t cap)
{
	if (cap == 0)
		return;
	buf[0] = '\0';
	if (!item) {
		snprintf(buf, cap, "nothing");
		return;
	}
	/* cJSON_PrintUnformatted allocates; messages are off the hot path. */
	char *text = cJSON_PrintUnformatted(item);
	if (!text) {
		snprintf(buf, cap, "an unprintable value");
		return;
	}
	size_t len = strlen(text);
	if (len > 48)
		snprintf(buf, cap, "%.45s...", text);
	else
		snprintf(buf, cap, "%s", text);
	cJSON_free(text);
}

void vxpu_json_path(char *buf, size_t cap, const char *parent, const char *key)
{
	if (parent && *parent)
		snprintf(buf, cap, "%s.%s", parent, key);
	else
		snprintf(buf, cap, "%s", key);
}

void vxpu_json_path_index(char *buf, size_t cap, const char *parent, size_t index)
{
	snprintf(buf, cap, "%s[%zu]", parent ? parent : "", index);
}

/* Depth-first search for an object with a repeated key. */
static int find_duplicate(const cJSON *item, const char *path, char *err, size_t errlen, int depth)
{
	char sub[256];
	if (depth > 64)
		return vxpu_json_fail(err, errlen, path, "nested deeper than 64 levels");
	if (cJSON_IsObject(item)) {
		for (const cJSON *a = item->child; a; a = a->next) {
			for (const cJSON *b = a->next; b; b = b->next)
				if (a->string && b->string && strcmp(a->string, b->string) == 0)
					return vxpu_json_fail(err, errlen, path,
					                      "field \"%s\" appears twice",
					                      a->string);
			vxpu_json_path(sub, sizeof(sub), path, a->string ? a->string : "?");
			if (find_duplicate(a, sub, err, errlen, depth + 1) < 0)
				return -1;
		}
	} else if (cJSON_IsArray(item)) {
		size_t i = 0;
		for (const cJSON *a = item->child; a; a = a->next, i++) {
			vxpu_json_path_index(sub, sizeof(sub), path, i);
			if (find_duplicate(a, sub, err, errlen, depth + 1) < 0)
				return -1;
		}
	}
	return 0;
}

int vxpu_json_parse_object(const char *text, const char *what, cJSON **root, char *err,
                           size_t errlen)
{
	if (!text || !*text)
		return vxpu_json_fail(err, errlen, what, "empty document");
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
	if (!doc) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		char near[24];
		snprintf(near, sizeof(near), "%.20s", text + (at < strlen(text) ? at : 0));
		return vxpu_json_fail(err, errlen, what, "invalid JSON at byte %zu near \"%s\"", at,
		                      near);
	}
	if (!cJSON_IsObject(doc)) {
		char got[64];
		vxpu_json_describe(doc, got, sizeof(got));
		cJSON_Delete(doc);
		return vxpu_json_fail(err, errlen, what, "expected a JSON object, got %s", got);
	}
	char msg[320];
	if (find_duplicate(doc, "", msg, sizeof(msg), 0) < 0) {
		cJSON_Delete(doc);
		return vxpu_json_fail(err, errlen, what, "%s", msg);
	}
	*root = doc;
	return 0;
}

int vxpu_json_only_fields(const cJSON *obj, const char *path, const char *const *known, char *err,
                          size_t errlen)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		bool ok = false;
		for (const char *const *k = known; *k; k++)
			if (c->string && strcmp(c->string, *k) == 0)
				ok = true;
		if (!ok)
			return vxpu_json_fail(err, errlen, path, "unknown field \"%s\"",
			                      c->string ? c->string : "");
	}
	return 0;
}

/*
 * The field key of obj, or NULL with *rc set: 1 when it is absent and
 * optional, -1 (and the message) when it is absent and required.
 */
static const cJSON *lookup(const cJSON *obj, const char *path, const char *key, bool required,
                           int *rc, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		*rc = required ? vxpu_json_fail(err, errlen, path, "missing field \"%s\"", key) : 1;
	return it;
}

static int wrong(const cJSON *item, const char *path, const char *key, const char *expected,
                 char *err, size_t errlen)
{
	char full[256];
	char got[64];
	vxpu_json_path(full, sizeof(full), path, key);
	vxpu_json_describe(item, got, sizeof(got));
	return vxpu_json_fail(err, errlen, full, "expected %s, got %s", expected, got);
}

int vxpu_json_string(const cJSON *obj, const char *path, const char *key, bool required, char *out,
                     size_t cap, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	if (!cJSON_IsString(it) || !it->valuestring)
		return wrong(it, path, key, "a string", err, errlen);
	size_t n = strlen(it->valuestring);
	if (n >= cap) {
		char what[64];
		snprintf(what, sizeof(what), "a string of at most %zu bytes", cap - 1);
		return wrong(it, path, key, what, err, errlen);
	}
	memcpy(out, it->valuestring, n + 1);
	return 0;
}

/* True when d is integral; JSON numbers beyond 2^53 are not exact and refused. */
static bool integral(double d)
{
	if (!isfinite(d) || d > (double)VXPU_JSON_MAX_EXACT || d < -(double)VXPU_JSON_MAX_EXACT)
		return false;
	return (double)(int64_t)d == d;
}

int vxpu_json_uint(const cJSON *obj, const char *path, const char *key, bool required, uint64_t min,
                   uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	char what[96];
	snprintf(what, sizeof(what), "a whole number in %llu..%llu", (unsigned long long)min,
	         (unsigned long long)max);
	if (!cJSON_IsNumber(it) || !integral(it->valuedouble) || it->valuedouble < 0)
		return wrong(it, path, key, what, err, errlen);
	uint64_t v = (uint64_t)it->valuedouble;
	if (v < min || v > max)
		return wrong(it, path, key, what, err, errlen);
	*out = v;
	return 0;
}

int vxpu_json_int(const cJSON *obj, const char *path, const char *key, bool required, int64_t min,
                  int64_t max, int64_t *out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	char what[96];
	snprintf(what, sizeof(what), "a whole number in %lld..%lld", (long long)min,
	         (long long)max);
	if (!cJSON_IsNumber(it) || !integral(it->valuedouble))
		return wrong(it, path, key, what, err, errlen);
	int64_t v = (int64_t)it->valuedouble;
	if (v < min || v > max)
		return wrong(it, path, key, what, err, errlen);
	*out = v;
	return 0;
}

int vxpu_json_bool(const cJSON *obj, const char *path, const char *key, bool required, bool *out,
                   char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	if (!cJSON_IsBool(it))
		return wrong(it, path, key, "true or false", err, errlen);
	*out = cJSON_IsTrue(it);
	return 0;
}

int vxpu_json_number(const cJSON *obj, const char *path, const char *key, bool required, double min,
                     double max, double *out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	char what[96];
	snprintf(what, sizeof(what), "a number in %g..%g", min, max);
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < min ||
	    it->valuedouble > max)
		return wrong(it, path, key, what, err, errlen);
	*out = it->valuedouble;
	return 0;
}

int vxpu_json_array(const cJSON *obj, const char *path, const char *key, bool required,
                    const cJSON **out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	if (!cJSON_IsArray(it))
		return wrong(it, path, key, "an array", err, errlen);
	*out = it;
	return 0;
}

int vxpu_json_object(const cJSON *obj, const char *path, const char *key, bool required,
                     const cJSON **out, char *err, size_t errlen)
{
	int rc = 0;
	const cJSON *it = lookup(obj, path, key, required, &rc, err, errlen);
	if (!it)
		return rc;
	if (!cJSON_IsObject(it))
		return wrong(it, path, key, "an object", err, errlen);
	*out = it;
	return 0;
}
