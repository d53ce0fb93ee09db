/*
 * pricebook.c - price book parsing (see pricebook.h). cJSON does the
 * tree; everything cJSON tolerates but the format does not is checked
 * first by the shared grammar check (vxpu_json_grammar_problem: "+1", "01",
 * ".5", raw control characters, trailing text), then here: repeated and
 * unknown keys and the version. Entries are kept sorted so that lookups
 * are a binary search and the book's behaviour never depends on the order
 * of keys in the file.
 */
#include "meter/pricebook.h"

#include "core/jsonstrict.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *source, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *source, const char *fmt, ...)
{
	if (!err || !errlen)
		return -1;
	int n = snprintf(err, errlen, "price book %s: ", source);
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- the book ---------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	const struct vxpu_price_entry *x = a, *y = b;
	return strcmp(x->model, y->model);
}

/* A repeated key among the members of obj, or NULL. */
static const char *repeated_key(const cJSON *obj)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return a->string;
	return NULL;
}

static int read_price(const cJSON *item, const char *source, const char *field, double *price,
                      char *err, size_t errlen)
{
	if (!cJSON_IsNumber(item))
		return fail(err, errlen, source, "%s: want a number (price per device-hour)",
		            field);
	double v = item->valuedouble;
	if (!isfinite(v) || v < 0)
		return fail(err, errlen, source, "%s: invalid price %g (want a number >= 0)", field,
		            v);
	*price = v;
	return 0;
}

static bool valid_model(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int parse_models(const cJSON *models, struct vxpu_price_book *book, char *err, size_t errlen)
{
	const char *src = book->source;
	if (!cJSON_IsObject(models))
		return fail(err, errlen, src, "\"models\": want an object of model -> price");
	const char *dup = repeated_key(models);
	if (dup)
		return fail(err, errlen, src, "\"models\": model \"%.128s\" is listed twice", dup);
	size_t n = (size_t)cJSON_GetArraySize(models);
	book->entries = calloc(n ? n : 1, sizeof(*book->entries));
	if (!book->entries)
		return fail(err, errlen, src, "out of memory");
	for (const cJSON *m = models->child; m; m = m->next) {
		if (!valid_model(m->string))
			return fail(err, errlen, src,
			            "\"models\": invalid model name \"%.128s\" (want 1..128 "
			            "printable ASCII characters)",
			            m->string);
		char field[200];
		snprintf(field, sizeof(field), "\"models\".\"%.128s\"", m->string);
		double price = 0;
		if (read_price(m, src, field, &price, err, errlen) != 0)
			return -1;
		struct vxpu_price_entry *e = &book->entries[book->count];
		e->model = strdup(m->string);
		if (!e->model)
			return fail(err, errlen, src, "out of memory");
		e->price = price;
		book->count++;
	}
	qsort(book->entries, book->count, sizeof(*book->entries), entry_cmp);
	return 0;
}

static int parse_root(const cJSON *root, struct vxpu_price_book *book, char *err, size_t errlen)
{
	const char *src = book->source;
	if (!cJSON_IsObject(root))
		return fail(err, errlen, src, "want a JSON object at the top level");
	const char *dup = repeated_key(root);
	if (dup)
		return fail(err, errlen, src, "key \"%.64s\" appears twice", dup);
	const cJSON *version = NULL, *currency = NULL, *models = NULL, *def = NULL;
	for (const cJSON *k = root->child; k; k = k->next) {
		if (strcmp(k->string, "version") == 0)
			version = k;
		else if (strcmp(k->string, "currency") == 0)
			currency = k;
		else if (strcmp(k->string, "models") == 0)
			models = k;
		else if (strcmp(k->string, "default") == 0)
			def = k;
		else
			return fail(err, errlen, src,
			            "unknown key \"%.64s\" (want version, currency, models, "
			            "default)",
			            k->string);
	}
	if (!version)
		return fail(err, errlen, src, "missing \"version\" (want %d)",
		            VXPU_PRICE_BOOK_VERSION);
	if (!cJSON_IsNumber(version) || version->valuedouble != VXPU_PRICE_BOOK_VERSION)
		return fail(err, errlen, src, "unsupported \"version\" (want %d)",
		            VXPU_PRICE_BOOK_VERSION);
	if (!currency)
		return fail(err, errlen, src,
		            "missing \"currency\" (an ISO 4217 code such as EUR)");
	const char *c = cJSON_IsString(currency) ? currency->valuestring : NULL;
	if (!c || strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
	    c[2] < 'A' || c[2] > 'Z')
		return fail(err, errlen, src,
		            "invalid \"currency\" \"%.16s\" (want three upper-case letters such "
		            "as EUR)",
		            c ? c : "(not a string)");
	memcpy(book->currency, c, 4);
	if (!models)
		return fail(err, errlen, src,
		            "missing \"models\" (model -> price per device-hour)");
	if (parse_models(models, book, err, errlen) != 0)
		return -1;
	if (def) {
		if (read_price(def, src, "\"default\"", &book->default_price, err, errlen) != 0)
			return -1;
		book->has_default = true;
	}
	return 0;
}

int vxpu_price_book_parse(const char *text, size_t len, const char *source,
                          struct vxpu_price_book **out, char *err, size_t errlen)
{
	*out = NULL;
	if (memchr(text, '\0', len))
		return fail(err, errlen, source, "contains a NUL byte");
	struct vxpu_price_book *book = calloc(1, sizeof(*book));
	if (!book)
		return fail(err, errlen, source, "out of memory");
	snprintf(book->source, sizeof(book->source), "%s", source);
	char problem[160];
	cJSON *root = NULL;
	int rc;
	if (vxpu_json_grammar_problem(text, len, problem, sizeof(problem)) != 0)
		rc = fail(err, errlen, source, "%s", problem);
	else if (!(root = cJSON_ParseWithLength(text, len)))
		rc = fail(err, errlen, source, "cannot parse the JSON (out of memory?)");
	else
		rc = parse_root(root, book, err, errlen);
	cJSON_Delete(root);
	if (rc != 0) {
		vxpu_price_book_free(book);
		return -1;
	}
	*out = book;
	return 0;
}

int vxpu_price_book_load(const char *path, struct vxpu_price_book **out, char *err, size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, path, "%s", strerror(errno));
	char *text = malloc(VXPU_PRICE_BOOK_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		return fail(err, errlen, path, "out of memory");
	}
	size_t len = fread(text, 1, VXPU_PRICE_BOOK_MAX_BYTES + 1, f);
	int read_error = ferror(f);
	fclose(f);
	int rc;
	if (read_error)
		rc = fail(err, errlen, path, "cannot read the file");
	else if (len > VXPU_PRICE_BOOK_MAX_BYTES)
		rc = fail(err, errlen, path, "larger than %zu bytes", VXPU_PRICE_BOOK_MAX_BYTES);
	else
		rc = vxpu_price_book_parse(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

int vxpu_price_book_lookup(const struct vxpu_price_book *book, const char *model, double *price)
{
	struct vxpu_price_entry key = {.model = (char *)model};
	const struct vxpu_price_entry *e =
	        book->count ? bsearch(&key, book->entries, book->count, sizeof(key), entry_cmp)
	                    : NULL;
	if (e) {
		*price = e->price;
		return 0;
	}
	if (book->has_default) {
		*price = book->default_price;
		return 0;
	}
	return -1;
}

void vxpu_price_book_free(struct vxpu_price_book *book)
{
	if (!book)
		return;
	for (size_t i = 0; i < book->count; i++)
		free(book->entries[i].model);
	free(book->entries);
	free(book);
}
