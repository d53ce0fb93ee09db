/*
 * jsonstrict.c - strict JSON field access (see jsonstrict.h).
 *
 * cJSON accepts documents that a contract must refuse: numbers such as
 * "+1", "01", ".5" and "1.", raw control characters inside strings; it
 * keeps both copies of a duplicated key and hands back the first, and it
 * reads numbers as doubles without telling whether they were integral. The
 * text is first checked against the RFC 8259 grammar here (a small lexer
 * that builds nothing), then parsed by cJSON. This file closes those
 * gaps and produces the error messages, so that every reader of external
 * JSON in core refuses the same things with the same words.
 */
#include "core/jsonstrict.h"

#include <math.h>
#include <stdbool.h>
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

/* ---- RFC 8259 grammar (no tree; cJSON builds that afterwards) ---------- */

struct lexer {
	const char *p, *end;
	int depth;
	bool too_deep;
};

static void skip_ws(struct lexer *x)
{
	while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
		x->p++;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool lex_value(struct lexer *x);

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The four hex digits of a \u escape, x->p on the 'u'; leaves x->p on the
 * last digit. -1 when one is missing. */
static long lex_hex4(struct lexer *x)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int d = ++x->p < x->end ? hex_value(*x->p) : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* One UTF-8 encoded character of two to four bytes (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), x->p on its lead byte;
 * leaves x->p on its last byte. */
static bool lex_utf8(struct lexer *x)
{
	const unsigned char lead = (unsigned char)*x->p;
	int more;
	unsigned char lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
	if (lead >= 0xC2 && lead <= 0xDF) {
		more = 1;
	} else if (lead >= 0xE0 && lead <= 0xEF) {
		more = 2;
		if (lead == 0xE0)
			lo = 0xA0; /* overlong below U+0800 */
		else if (lead == 0xED)
			hi = 0x9F; /* U+D800..U+DFFF */
	} else if (lead >= 0xF0 && lead <= 0xF4) {
		more = 3;
		if (lead == 0xF0)
			lo = 0x90; /* overlong below U+10000 */
		else if (lead == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return false; /* a continuation byte, C0, C1 or F5..FF */
	}
	for (int i = 0; i < more; i++) {
		if (++x->p >= x->end)
			return false;
		const unsigned char c = (unsigned char)*x->p;
		if (c < (i == 0 ? lo : 0x80) || c > (i == 0 ? hi : 0xBF))
			return false;
	}
	return true;
}

/* A string of UTF-8 text; a \u escape of a UTF-16 surrogate must be a high
 * one followed by an escaped low one (a lone surrogate is no character;
 * cJSON refuses it too). */
static bool lex_string(struct lexer *x)
{
	if (x->p >= x->end || *x->p != '"')
		return false;
	for (x->p++; x->p < x->end; x->p++) {
		unsigned char c = (unsigned char)*x->p;
		if (c == '"') {
			x->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!lex_utf8(x))
				return false;
			continue;
		}
		if (c != '\\')
			continue;
		if (++x->p >= x->end)
			return false;
		switch (*x->p) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			break;
		case 'u': {
			long unit = lex_hex4(x);
			if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF))
				return false;
			if (unit >= 0xD800 && unit <= 0xDBFF) {
				if (x->end - x->p < 3 || x->p[1] != '\\' || x->p[2] != 'u')
					return false;
				x->p += 2;
				long low = lex_hex4(x);
				if (low < 0xDC00 || low > 0xDFFF)
					return false;
			}
			break;
		}
		default:
			return false;
		}
	}
	return false;
}

static bool lex_number(struct lexer *x)
{
	const char *p = x->p;
	if (p < x->end && *p == '-')
		p++;
	if (p >= x->end || !is_digit(*p))
		return false;
	if (*p == '0')
		p++;
	else
		while (p < x->end && is_digit(*p))
			p++;
	if (p < x->end && *p == '.') {
		if (++p >= x->end || !is_digit(*p))
			return false;
		while (p < x->end && is_digit(*p))
			p++;
	}
	if (p < x->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < x->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= x->end || !is_digit(*p))
			return false;
		while (p < x->end && is_digit(*p))
			p++;
	}
	x->p = p;
	return true;
}

static bool lex_word(struct lexer *x, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(x->end - x->p) < n || memcmp(x->p, word, n) != 0)
		return false;
	x->p += n;
	return true;
}

/* An object (close '}') or an array (close ']') after its opening byte. */
static bool lex_container(struct lexer *x, char close)
{
	if (++x->depth > VXPU_JSON_MAX_DEPTH) {
		x->too_deep = true;
		return false;
	}
	x->p++;
	skip_ws(x);
	if (x->p < x->end && *x->p == close) {
		x->p++;
		x->depth--;
		return true;
	}
	for (;;) {
		skip_ws(x);
		if (close == '}') {
			if (!lex_string(x))
				return false;
			skip_ws(x);
			if (x->p >= x->end || *x->p != ':')
				return false;
			x->p++;
			skip_ws(x);
		}
		if (!lex_value(x))
			return false;
		skip_ws(x);
		if (x->p >= x->end)
			return false;
		if (*x->p == ',') {
			x->p++;
			continue;
		}
		if (*x->p != close)
			return false;
		x->p++;
		x->depth--;
		return true;
	}
}

static bool lex_value(struct lexer *x)
{
	if (x->p >= x->end)
		return false;
	switch (*x->p) {
	case '{':
		return lex_container(x, '}');
	case '[':
		return lex_container(x, ']');
	case '"':
		return lex_string(x);
	case 't':
		return lex_word(x, "true");
	case 'f':
		return lex_word(x, "false");
	case 'n':
		return lex_word(x, "null");
	default:
		return lex_number(x);
	}
}

int vxpu_json_check_grammar(const char *text, size_t len, size_t *at)
{
	struct lexer x = {text, text + len, 0, false};
	skip_ws(&x);
	bool ok = lex_value(&x);
	if (ok) {
		skip_ws(&x);
		ok = x.p == x.end;
	}
	*at = (size_t)(x.p - text);
	return ok ? 0 : x.too_deep ? -2 : -1;
}

int vxpu_json_grammar_problem(const char *text, size_t len, char *msg, size_t cap)
{
	size_t at = 0;
	const int grammar = vxpu_json_check_grammar(text, len, &at);
	if (grammar == 0)
		return 0;
	if (grammar == -2) {
		snprintf(msg, cap, "nested deeper than %d levels at byte %zu", VXPU_JSON_MAX_DEPTH,
		         at);
		return -1;
	}
	/* RFC 8259 section 8.1: implementations must not add a byte-order
	 * mark; saying so beats pointing at an unprintable byte 0. */
	if (at == 0 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		snprintf(msg, cap,
		         "a UTF-8 byte-order mark at byte 0 (JSON text must not start with one)");
		return -1;
	}
	if (at >= len) {
		snprintf(msg, cap, "invalid JSON at byte %zu (the text ends before the value does)",
		         at);
		return -1;
	}
	char near[20 * 4 + 1];
	size_t used = 0;
	for (size_t i = at; i < len && i < at + 20; i++) {
		const unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f)
			near[used++] = (char)c;
		else
			used += (size_t)snprintf(near + used, sizeof(near) - used, "\\x%02X", c);
	}
	near[used] = '\0';
	snprintf(msg, cap, "invalid JSON at byte %zu near \"%s\"", at, near);
	return -1;
}

/* Depth-first search for an object with a repeated key. */
static int find_duplicate(const cJSON *item, const char *path, char *err, size_t errlen, int depth)
{
	char sub[256];
	if (depth > VXPU_JSON_MAX_DEPTH)
		return vxpu_json_fail(err, errlen, path, "nested deeper than %d levels",
		                      VXPU_JSON_MAX_DEPTH);
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
	const size_t len = strlen(text);
	char problem[160];
	if (vxpu_json_grammar_problem(text, len, problem, sizeof(problem)) != 0)
		return vxpu_json_fail(err, errlen, what, "%s", problem);
	cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
	if (!doc) /* the grammar holds: cJSON ran out of memory */
		return vxpu_json_fail(err, errlen, what, "cannot build the JSON tree");
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
