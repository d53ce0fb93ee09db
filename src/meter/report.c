/*
 * report.c - usage and cost reports (see report.h for the definitions).
 *
 * Building is three passes over a read snapshot of the ledger:
 *   1. every interval overlapping the window becomes a "span" (its figures
 *      clipped to the window, its key values copied);
 *   2. every sample overlapping the window is added to its span, found by
 *      binary search on (allocation_id, device_index); the database's order
 *      is never relied on, because text collation differs between engines;
 *   3. spans are sorted by group key (ties by allocation and device, so the
 *      summation order is fixed) and folded into rows.
 * Time is kept in integer milliseconds until the end; fractions are
 * doubles. Nothing here depends on the backend behind ledger.h.
 */
#include "meter/report.h"

#include "core/logfmt.h"
#include "meter/ledger.h"
#include "meter/pricebook.h"
#include "meter/strbuf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_HOUR 3600000.0
#define HOURS_DECIMALS 6
#define COST_DECIMALS 4

static const char *const by_names[] = {"tenant", "project", "user", "device", "model"};

static const char *const keys_tenant[] = {"tenant"};
static const char *const keys_project[] = {"tenant", "project"};
static const char *const keys_user[] = {"user"};
static const char *const keys_device[] = {"node", "device_index", "device_uuid", "device_model"};
static const char *const keys_model[] = {"device_model"};

int vxpu_report_by_parse(const char *text, enum vxpu_report_by *by)
{
	for (size_t i = 0; i < sizeof(by_names) / sizeof(by_names[0]); i++) {
		if (text && strcmp(text, by_names[i]) == 0) {
			*by = (enum vxpu_report_by)i;
			return 0;
		}
	}
	return -1;
}

const char *vxpu_report_by_name(enum vxpu_report_by by)
{
	return (size_t)by < sizeof(by_names) / sizeof(by_names[0]) ? by_names[by] : "unknown";
}

int vxpu_report_format_parse(const char *text, enum vxpu_report_format *format)
{
	static const char *const names[] = {"table", "csv", "json"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (text && strcmp(text, names[i]) == 0) {
			*format = (enum vxpu_report_format)i;
			return 0;
		}
	}
	return -1;
}

size_t vxpu_report_key_columns(enum vxpu_report_by by, const char *const **names)
{
	switch (by) {
	case VXPU_REPORT_BY_TENANT:
		*names = keys_tenant;
		return 1;
	case VXPU_REPORT_BY_PROJECT:
		*names = keys_project;
		return 2;
	case VXPU_REPORT_BY_USER:
		*names = keys_user;
		return 1;
	case VXPU_REPORT_BY_DEVICE:
		*names = keys_device;
		return 4;
	case VXPU_REPORT_BY_MODEL:
		*names = keys_model;
		return 1;
	}
	*names = keys_tenant;
	return 0;
}

/* ---- building ---------------------------------------------------------- */

/* One interval clipped to the window. */
struct span {
	char *allocation_id;
	int device_index;
	char *key[VXPU_REPORT_MAX_KEYS];
	char *device_model;
	int64_t device_memory_mib;
	int64_t from_ms, to_ms;
	double allocated_fraction;
	double used_fraction_ms; /* sum of covered ms x used fraction */
};

struct builder {
	const struct vxpu_report_options *o;
	struct span *spans;
	size_t count, cap;
	bool oom;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void span_free(struct span *s)
{
	free(s->allocation_id);
	free(s->device_model);
	for (int k = 0; k < VXPU_REPORT_MAX_KEYS; k++)
		free(s->key[k]);
}

static int add_interval(const struct vxpu_ledger_interval *iv, void *ctx)
{
	struct builder *b = ctx;
	const struct vxpu_report_options *o = b->o;
	int64_t from = iv->start_ms > o->since_ms ? iv->start_ms : o->since_ms;
	int64_t end = iv->ended ? iv->end_ms : o->now_ms;
	int64_t to = end < o->until_ms ? end : o->until_ms;
	if (to <= from) /* empty after clipping (or started after "now") */
		return 0;
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct span *spans = realloc(b->spans, cap * sizeof(*spans));
		if (!spans) {
			b->oom = true;
			return 1;
		}
		b->spans = spans;
		b->cap = cap;
	}
	struct span *s = &b->spans[b->count];
	memset(s, 0, sizeof(*s));
	b->count++;
	s->allocation_id = strdup(iv->allocation_id);
	s->device_index = iv->device_index;
	s->device_model = strdup(iv->device_model);
	s->device_memory_mib = iv->device_memory_mib;
	s->from_ms = from;
	s->to_ms = to;
	double memory = (double)iv->memory_mib / (double)iv->device_memory_mib;
	double compute = iv->compute_percent / 100.0;
	s->allocated_fraction = memory > compute ? memory : compute;
	char index[16];
	snprintf(index, sizeof(index), "%d", iv->device_index);
	const char *values[VXPU_REPORT_MAX_KEYS] = {NULL};
	switch (o->by) {
	case VXPU_REPORT_BY_TENANT:
		values[0] = iv->tenant;
		break;
	case VXPU_REPORT_BY_PROJECT:
		values[0] = iv->tenant;
		values[1] = iv->project;
		break;
	case VXPU_REPORT_BY_USER:
		values[0] = iv->user;
		break;
	case VXPU_REPORT_BY_DEVICE:
		values[0] = iv->node;
		values[1] = index;
		values[2] = iv->device_uuid;
		values[3] = iv->device_model;
		break;
	case VXPU_REPORT_BY_MODEL:
		values[0] = iv->device_model;
		break;
	}
	bool ok = s->allocation_id && s->device_model;
	for (int k = 0; k < VXPU_REPORT_MAX_KEYS; k++)
		if (values[k] && !(s->key[k] = strdup(values[k])))
			ok = false;
	if (!ok) {
		b->oom = true;
		return 1;
	}
	return 0;
}

static int span_id_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	int c = strcmp(x->allocation_id, y->allocation_id);
	if (c)
		return c;
	return (x->device_index > y->device_index) - (x->device_index < y->device_index);
}

static int add_sample(const struct vxpu_ledger_sample *smp, void *ctx)
{
	struct builder *b = ctx;
	struct span key = {.allocation_id = (char *)smp->allocation_id,
	                   .device_index = smp->device_index};
	struct span *s =
	        b->count ? bsearch(&key, b->spans, b->count, sizeof(key), span_id_cmp) : NULL;
	if (!s)
		return 0; /* its interval is outside the window or empty there */
	int64_t from = smp->minute_ms > s->from_ms ? smp->minute_ms : s->from_ms;
	int64_t minute_end = smp->minute_ms + VXPU_LEDGER_MINUTE_MS;
	int64_t to = minute_end < s->to_ms ? minute_end : s->to_ms;
	if (to <= from)
		return 0;
	double memory = smp->used_memory_mib / (double)s->device_memory_mib;
	double compute = smp->utilisation_percent / 100.0;
	s->used_fraction_ms += (double)(to - from) * (memory > compute ? memory : compute);
	return 0;
}

/* Group order: key columns as bytes (device index as a number), then the
 * span's identity so that equal keys are summed in a fixed order. */
static int key_cmp(char *const *ka, int ia, char *const *kb, int ib, enum vxpu_report_by by)
{
	for (int k = 0; k < VXPU_REPORT_MAX_KEYS && ka[k]; k++) {
		int c;
		if (by == VXPU_REPORT_BY_DEVICE && k == 1)
			c = (ia > ib) - (ia < ib);
		else
			c = strcmp(ka[k], kb[k]);
		if (c)
			return c;
	}
	return 0;
}

static int span_group_cmp(const void *a, const void *b, void *by)
{
	const struct span *x = a, *y = b;
	int c = key_cmp(x->key, x->device_index, y->key, y->device_index,
	                *(const enum vxpu_report_by *)by);
	return c ? c : span_id_cmp(a, b);
}

static void add_to_row(struct vxpu_report_row *row, const struct span *s, double price)
{
	int64_t ms = s->to_ms - s->from_ms;
	double allocated_hours = (double)ms * s->allocated_fraction / MS_PER_HOUR;
	row->intervals++;
	row->device_ms += ms;
	row->allocated_fraction_hours += allocated_hours;
	row->used_fraction_hours += s->used_fraction_ms / MS_PER_HOUR;
	row->cost += allocated_hours * price;
}

static int fold(struct builder *b, struct vxpu_report *r, char *err, size_t errlen)
{
	const struct vxpu_price_book *prices = b->o->prices;
	/* One price per span, looked up before anything is summed, so that a
	 * missing price fails the whole report. */
	double *price = calloc(b->count ? b->count : 1, sizeof(*price));
	if (!price) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; prices && i < b->count; i++) {
		if (vxpu_price_book_lookup(prices, b->spans[i].device_model, &price[i]) != 0) {
			set_err(err, errlen,
			        "price book %s has no price for device model \"%s\" and no default",
			        prices->source, b->spans[i].device_model);
			free(price);
			return -1;
		}
	}
	r->rows = calloc(b->count ? b->count : 1, sizeof(*r->rows));
	if (!r->rows) {
		free(price);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < b->count; i++) {
		struct span *s = &b->spans[i];
		struct vxpu_report_row *row = r->count ? &r->rows[r->count - 1] : NULL;
		if (!row ||
		    key_cmp(row->key, row->device_index, s->key, s->device_index, b->o->by) != 0) {
			row = &r->rows[r->count++];
			row->device_index = s->device_index;
			for (int k = 0; k < VXPU_REPORT_MAX_KEYS; k++) {
				row->key[k] = s->key[k]; /* ownership moves to the row */
				s->key[k] = NULL;
			}
		}
		add_to_row(row, s, price[i]);
		add_to_row(&r->total, s, price[i]);
	}
	for (size_t i = 0; i < r->count; i++)
		r->rows[i].device_hours = (double)r->rows[i].device_ms / MS_PER_HOUR;
	r->total.device_hours = (double)r->total.device_ms / MS_PER_HOUR;
	free(price);
	return 0;
}

int vxpu_report_build(struct vxpu_ledger *ledger, const struct vxpu_report_options *o,
                      struct vxpu_report **out, char *err, size_t errlen)
{
	*out = NULL;
	if (o->since_ms < 0 || o->until_ms <= o->since_ms) {
		set_err(err, errlen, "invalid report window: since must be before until");
		return -1;
	}
	if ((size_t)o->by >= sizeof(by_names) / sizeof(by_names[0])) {
		set_err(err, errlen, "invalid report grouping %d", (int)o->by);
		return -1;
	}
	struct vxpu_report *r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	r->options = *o;
	r->options.prices = NULL;
	if (o->prices) {
		r->priced = true;
		memcpy(r->currency, o->prices->currency, sizeof(r->currency));
	}
	struct builder b = {.o = o};
	int rc = 0;
	if (ledger) {
		rc = vxpu_ledger_begin_read(ledger, err, errlen);
		if (rc == 0)
			rc = vxpu_ledger_each_interval(ledger, o->since_ms, o->until_ms,
			                               add_interval, &b, err, errlen);
		if (rc == 0 && !b.oom) {
			if (b.count)
				qsort(b.spans, b.count, sizeof(*b.spans), span_id_cmp);
			rc = vxpu_ledger_each_sample(ledger, o->since_ms, o->until_ms, add_sample,
			                             &b, err, errlen);
		}
		if (vxpu_ledger_in_transaction(ledger))
			vxpu_ledger_rollback(ledger); /* read only: nothing to keep */
	}
	if (b.oom) { /* a callback stopped the walk: its error, not the ledger's */
		set_err(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc == 0) {
		enum vxpu_report_by by = o->by;
		if (b.count)
			qsort_r(b.spans, b.count, sizeof(*b.spans), span_group_cmp, &by);
		rc = fold(&b, r, err, errlen);
	}
	for (size_t i = 0; i < b.count; i++)
		span_free(&b.spans[i]);
	free(b.spans);
	if (rc != 0) {
		vxpu_report_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void vxpu_report_free(struct vxpu_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		for (int k = 0; k < VXPU_REPORT_MAX_KEYS; k++)
			free(r->rows[i].key[k]);
	free(r->rows);
	free(r);
}

/* ---- rendering --------------------------------------------------------- */

/* Rounds to the printed number of decimals (JSON carries the same values
 * as CSV); adding 0.0 turns -0 into 0. */
static double rounded(double v, int decimals)
{
	double scale = pow(10, decimals);
	return round(v * scale) / scale + 0.0;
}

static void fmt_fixed(char *buf, size_t len, double v, int decimals)
{
	snprintf(buf, len, "%.*f", decimals, rounded(v, decimals));
}

/* The value columns of a row, formatted; n is the count written. */
static size_t value_cells(const struct vxpu_report *r, const struct vxpu_report_row *row,
                          char cells[][40])
{
	size_t n = 0;
	snprintf(cells[n++], 40, "%llu", (unsigned long long)row->intervals);
	fmt_fixed(cells[n++], 40, row->device_hours, HOURS_DECIMALS);
	fmt_fixed(cells[n++], 40, row->allocated_fraction_hours, HOURS_DECIMALS);
	fmt_fixed(cells[n++], 40, row->used_fraction_hours, HOURS_DECIMALS);
	if (r->priced)
		fmt_fixed(cells[n++], 40, row->cost, COST_DECIMALS);
	return n;
}

static const char *const value_names[] = {"intervals", "device_hours", "allocated_fraction_hours",
                                          "used_fraction_hours", "cost"};

static void period(const struct vxpu_report *r, char *since, char *until, size_t len)
{
	vxpu_format_rfc3339_ms(r->options.since_ms, since, len);
	vxpu_format_rfc3339_ms(r->options.until_ms, until, len);
}

/* RFC 4180: quote a field that holds a comma, a quote, CR or LF; double
 * the quotes inside. */
static void csv_field(struct vxpu_strbuf *b, const char *v, bool first)
{
	if (!first)
		vxpu_strbuf_putc(b, ',');
	if (!strpbrk(v, ",\"\r\n")) {
		vxpu_strbuf_puts(b, v);
		return;
	}
	vxpu_strbuf_putc(b, '"');
	for (; *v; v++) {
		if (*v == '"')
			vxpu_strbuf_putc(b, '"');
		vxpu_strbuf_putc(b, *v);
	}
	vxpu_strbuf_putc(b, '"');
}

static void render_csv(const struct vxpu_report *r, struct vxpu_strbuf *b)
{
	const char *const *keys;
	size_t nkeys = vxpu_report_key_columns(r->options.by, &keys);
	char since[40], until[40];
	period(r, since, until, sizeof(since));
	csv_field(b, "period_start", true);
	csv_field(b, "period_end", false);
	for (size_t k = 0; k < nkeys; k++)
		csv_field(b, keys[k], false);
	for (size_t v = 0; v < (r->priced ? 5u : 4u); v++)
		csv_field(b, value_names[v], false);
	if (r->priced)
		csv_field(b, "currency", false);
	vxpu_strbuf_puts(b, "\r\n");
	for (size_t i = 0; i < r->count; i++) {
		const struct vxpu_report_row *row = &r->rows[i];
		csv_field(b, since, true);
		csv_field(b, until, false);
		for (size_t k = 0; k < nkeys; k++)
			csv_field(b, row->key[k], false);
		char cells[5][40];
		size_t n = value_cells(r, row, cells);
		for (size_t v = 0; v < n; v++)
			csv_field(b, cells[v], false);
		if (r->priced)
			csv_field(b, r->currency, false);
		vxpu_strbuf_puts(b, "\r\n");
	}
}

static void render_table(const struct vxpu_report *r, struct vxpu_strbuf *b)
{
	const char *const *keys;
	size_t nkeys = vxpu_report_key_columns(r->options.by, &keys);
	size_t nvalues = r->priced ? 5 : 4;
	size_t ncols = nkeys + nvalues;
	char headers[VXPU_REPORT_MAX_KEYS + 5][48];
	for (size_t c = 0; c < ncols; c++) {
		const char *name = c < nkeys ? keys[c] : value_names[c - nkeys];
		size_t n = 0;
		for (; n < 40 && name[n]; n++)
			headers[c][n] =
			        name[n] == '_'
			                ? '-'
			                : (char)(name[n] - 32 * (name[n] >= 'a' && name[n] <= 'z'));
		headers[c][n] = '\0';
		if (c == nkeys + 4)
			snprintf(headers[c] + n, sizeof(headers[c]) - n, " (%s)", r->currency);
	}
	/* Widths: the widest of header, cells and the total row. */
	size_t width[VXPU_REPORT_MAX_KEYS + 5] = {0};
	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(headers[c]);
	if (nkeys && width[0] < 5)
		width[0] = 5; /* "TOTAL" */
	char cells[5][40];
	for (size_t i = 0; i <= r->count; i++) {
		const struct vxpu_report_row *row = i < r->count ? &r->rows[i] : &r->total;
		for (size_t k = 0; i < r->count && k < nkeys; k++)
			if (strlen(row->key[k]) > width[k])
				width[k] = strlen(row->key[k]);
		value_cells(r, row, cells);
		for (size_t v = 0; v < nvalues; v++)
			if (strlen(cells[v]) > width[nkeys + v])
				width[nkeys + v] = strlen(cells[v]);
	}
	char since[40], until[40];
	period(r, since, until, sizeof(since));
	vxpu_strbuf_printf(b, "Usage by %s from %s to %s\n\n", vxpu_report_by_name(r->options.by),
	                   since, until);
	size_t line = 0;
	for (size_t c = 0; c < ncols; c++) {
		if (c)
			vxpu_strbuf_puts(b, "  ");
		vxpu_strbuf_pad(b, headers[c], width[c], c < nkeys);
		line += width[c] + (c ? 2 : 0);
	}
	vxpu_strbuf_putc(b, '\n');
	for (size_t i = 0; i <= r->count; i++) {
		const struct vxpu_report_row *row = i < r->count ? &r->rows[i] : &r->total;
		if (i == r->count) {
			for (size_t k = 0; k < line; k++)
				vxpu_strbuf_putc(b, '-');
			vxpu_strbuf_putc(b, '\n');
		}
		value_cells(r, row, cells);
		for (size_t c = 0; c < ncols; c++) {
			if (c)
				vxpu_strbuf_puts(b, "  ");
			const char *text;
			if (c < nkeys)
				text = i < r->count ? row->key[c] : (c == 0 ? "TOTAL" : "");
			else
				text = cells[c - nkeys];
			/* No trailing blanks after the last column. */
			if (c + 1 == ncols && c < nkeys)
				vxpu_strbuf_puts(b, text);
			else
				vxpu_strbuf_pad(b, text, width[c], c < nkeys);
		}
		vxpu_strbuf_putc(b, '\n');
	}
}

static bool add_values(cJSON *obj, const struct vxpu_report *r, const struct vxpu_report_row *row)
{
	bool ok = cJSON_AddNumberToObject(obj, "intervals", (double)row->intervals) &&
	          cJSON_AddNumberToObject(obj, "device_hours",
	                                  rounded(row->device_hours, HOURS_DECIMALS)) &&
	          cJSON_AddNumberToObject(obj, "allocated_fraction_hours",
	                                  rounded(row->allocated_fraction_hours, HOURS_DECIMALS)) &&
	          cJSON_AddNumberToObject(obj, "used_fraction_hours",
	                                  rounded(row->used_fraction_hours, HOURS_DECIMALS));
	if (ok && r->priced)
		ok = cJSON_AddNumberToObject(obj, "cost", rounded(row->cost, COST_DECIMALS)) !=
		     NULL;
	return ok;
}

struct cJSON *vxpu_report_json(const struct vxpu_report *r)
{
	const char *const *keys;
	size_t nkeys = vxpu_report_key_columns(r->options.by, &keys);
	char since[40], until[40];
	period(r, since, until, sizeof(since));
	cJSON *doc = cJSON_CreateObject();
	cJSON *groups = NULL, *total = NULL;
	bool ok = doc && cJSON_AddNumberToObject(doc, "report_version", VXPU_REPORT_VERSION) &&
	          cJSON_AddStringToObject(doc, "by", vxpu_report_by_name(r->options.by)) &&
	          cJSON_AddStringToObject(doc, "since", since) &&
	          cJSON_AddStringToObject(doc, "until", until);
	if (ok && r->priced)
		ok = cJSON_AddStringToObject(doc, "currency", r->currency) != NULL;
	ok = ok && (groups = cJSON_AddArrayToObject(doc, "groups"));
	for (size_t i = 0; ok && i < r->count; i++) {
		cJSON *g = cJSON_CreateObject();
		ok = g && cJSON_AddItemToArray(groups, g);
		if (!ok) {
			cJSON_Delete(g);
			break;
		}
		for (size_t k = 0; ok && k < nkeys; k++) {
			if (r->options.by == VXPU_REPORT_BY_DEVICE && k == 1)
				ok = cJSON_AddNumberToObject(g, keys[k], r->rows[i].device_index);
			else
				ok = cJSON_AddStringToObject(g, keys[k], r->rows[i].key[k]);
		}
		ok = ok && add_values(g, r, &r->rows[i]);
	}
	ok = ok && (total = cJSON_AddObjectToObject(doc, "total")) &&
	     add_values(total, r, &r->total);
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

char *vxpu_report_render(const struct vxpu_report *r, enum vxpu_report_format format)
{
	if (format == VXPU_REPORT_JSON) {
		cJSON *doc = vxpu_report_json(r);
		if (!doc)
			return NULL;
		char *text = cJSON_Print(doc);
		cJSON_Delete(doc);
		if (!text)
			return NULL;
		size_t n = strlen(text);
		char *line = realloc(text, n + 2);
		if (!line) {
			free(text);
			return NULL;
		}
		line[n] = '\n';
		line[n + 1] = '\0';
		return line;
	}
	struct vxpu_strbuf b = VXPU_STRBUF_INIT;
	if (format == VXPU_REPORT_CSV)
		render_csv(r, &b);
	else
		render_table(r, &b);
	return vxpu_strbuf_take(&b);
}
