/*
 * prom.c - Prometheus text format 0.0.4 writer (see prom.h for the output
 * guarantees).
 *
 * Every check runs before the first byte of a family or sample is appended,
 * so a refused call leaves the output exactly as it was. A sample's series
 * (name and sorted labels) is built in a scratch buffer, compared with the
 * family's earlier series (linear scan: families hold tens to hundreds of
 * samples), and only then copied out.
 */
#include "meter/prom.h"

#include "meter/utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 32

static int refuse(struct vxpu_prom *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct vxpu_prom *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	return -1;
}

void vxpu_prom_init(struct vxpu_prom *w)
{
	memset(w, 0, sizeof(*w));
}

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

static bool valid_name(const char *name)
{
	if (!name || !name[0])
		return false;
	for (size_t i = 0; name[i]; i++)
		if (!name_char(name[i], i == 0))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Escapes for HELP (quotes false) and label values (quotes true). */
static void escaped(struct vxpu_strbuf *b, const char *text, bool quotes)
{
	for (; *text; text++) {
		if (*text == '\\')
			vxpu_strbuf_puts(b, "\\\\");
		else if (*text == '\n')
			vxpu_strbuf_puts(b, "\\n");
		else if (quotes && *text == '"')
			vxpu_strbuf_puts(b, "\\\"");
		else
			vxpu_strbuf_putc(b, *text);
	}
}

int vxpu_prom_family(struct vxpu_prom *w, const char *name, enum vxpu_prom_type type,
                     const char *help)
{
	w->err[0] = '\0';
	if (!valid_name(name))
		return refuse(w, "invalid metric name \"%.100s\": want [a-zA-Z_][a-zA-Z0-9_]*",
		              name ? name : "(null)");
	if (type != VXPU_PROM_GAUGE && type != VXPU_PROM_COUNTER)
		return refuse(w, "metric %s: invalid type %d", name, (int)type);
	if (type == VXPU_PROM_COUNTER && !ends_with(name, "_total"))
		return refuse(w, "counter %s: a counter's name must end in _total", name);
	if (!help || !help[0] || !vxpu_utf8_valid(help, strlen(help)))
		return refuse(w, "metric %s: help text must be non-empty UTF-8", name);
	for (size_t i = 0; i < w->family_count; i++)
		if (strcmp(w->families[i], name) == 0)
			return refuse(w, "metric %s: family already written", name);
	if (w->family_count == w->family_cap) {
		size_t cap = w->family_cap ? w->family_cap * 2 : 16;
		char **families = realloc(w->families, cap * sizeof(*families));
		if (!families) {
			w->oom = true;
			return refuse(w, "out of memory");
		}
		w->families = families;
		w->family_cap = cap;
	}
	char *copy = strdup(name);
	if (!copy) {
		w->oom = true;
		return refuse(w, "out of memory");
	}
	w->families[w->family_count++] = copy;
	vxpu_strbuf_printf(&w->out, "# HELP %s ", name);
	escaped(&w->out, help, false);
	vxpu_strbuf_printf(&w->out, "\n# TYPE %s %s\n", name,
	                   type == VXPU_PROM_COUNTER ? "counter" : "gauge");
	w->in_family = true;
	w->type = type;
	w->series_count = 0;
	return 0;
}

/* Whole numbers as integers, others the shortest decimal that strtod reads back as v; Prometheus's
 * spellings of the special values; no "-0". */
static void format_value(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	/* Whole numbers print as integers (byte counts, percentages): exact
	 * below 2^53, and far easier to read than 8.589934592e+10. */
	if (fabs(v) < 9007199254740992.0 && v == floor(v)) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(buf, len, "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static int label_cmp(const void *a, const void *b)
{
	const struct vxpu_prom_label *x = a, *y = b;
	return strcmp(x->name, y->name);
}

int vxpu_prom_sample(struct vxpu_prom *w, const struct vxpu_prom_label *labels, size_t nlabels,
                     double value)
{
	w->err[0] = '\0';
	if (!w->in_family)
		return refuse(w, "a sample needs a family first");
	const char *name = w->families[w->family_count - 1];
	if (nlabels > MAX_LABELS)
		return refuse(w, "metric %s: %zu labels (at most %d)", name, nlabels, MAX_LABELS);
	struct vxpu_prom_label sorted[MAX_LABELS] = {{NULL, NULL}};
	for (size_t i = 0; i < nlabels; i++) {
		const struct vxpu_prom_label *l = &labels[i];
		if (!valid_name(l->name) || strncmp(l->name, "__", 2) == 0)
			return refuse(w,
			              "metric %s: invalid label name \"%.100s\": want "
			              "[a-zA-Z_][a-zA-Z0-9_]* not starting with __",
			              name, l->name ? l->name : "(null)");
		if (!l->value || !vxpu_utf8_valid(l->value, strlen(l->value)))
			return refuse(w, "metric %s: label %s: value is not UTF-8", name, l->name);
		sorted[i] = *l;
	}
	qsort(sorted, nlabels, sizeof(sorted[0]), label_cmp);
	for (size_t i = 1; i < nlabels; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
			return refuse(w, "metric %s: label %s given twice", name, sorted[i].name);
	if (w->type == VXPU_PROM_COUNTER && !(isfinite(value) && value >= 0))
		return refuse(w, "counter %s: invalid value %g (want a finite number >= 0)", name,
		              value);

	struct vxpu_strbuf series = VXPU_STRBUF_INIT;
	vxpu_strbuf_puts(&series, name);
	for (size_t i = 0; i < nlabels; i++) {
		vxpu_strbuf_printf(&series, "%c%s=\"", i ? ',' : '{', sorted[i].name);
		escaped(&series, sorted[i].value, true);
		vxpu_strbuf_putc(&series, '"');
	}
	if (nlabels)
		vxpu_strbuf_putc(&series, '}');
	if (series.failed) {
		vxpu_strbuf_free(&series);
		w->oom = true;
		return refuse(w, "out of memory");
	}
	for (size_t i = 0; i < w->series_count; i++) {
		const struct vxpu_prom_series *s = &w->series[i];
		if (s->len == series.len && w->out.data &&
		    memcmp(w->out.data + s->offset, series.data, s->len) == 0) {
			refuse(w, "metric %s: a sample with these labels was already written",
			       series.data);
			vxpu_strbuf_free(&series);
			return -1;
		}
	}
	if (w->series_count == w->series_cap) {
		size_t cap = w->series_cap ? w->series_cap * 2 : 32;
		struct vxpu_prom_series *grown = realloc(w->series, cap * sizeof(*grown));
		if (!grown) {
			vxpu_strbuf_free(&series);
			w->oom = true;
			return refuse(w, "out of memory");
		}
		w->series = grown;
		w->series_cap = cap;
	}
	w->series[w->series_count++] =
	        (struct vxpu_prom_series){.offset = w->out.len, .len = series.len};
	vxpu_strbuf_append(&w->out, series.data, series.len);
	vxpu_strbuf_free(&series);
	char number[40];
	format_value(value, number, sizeof(number));
	vxpu_strbuf_printf(&w->out, " %s\n", number);
	return 0;
}

const char *vxpu_prom_error(const struct vxpu_prom *w)
{
	return w->err;
}

char *vxpu_prom_finish(struct vxpu_prom *w, size_t *len)
{
	size_t n = w->out.len;
	char *text = w->oom ? NULL : vxpu_strbuf_take(&w->out);
	vxpu_prom_free(w);
	if (len)
		*len = text ? n : 0;
	return text;
}

void vxpu_prom_free(struct vxpu_prom *w)
{
	for (size_t i = 0; i < w->family_count; i++)
		free(w->families[i]);
	free(w->families);
	free(w->series);
	vxpu_strbuf_free(&w->out);
	vxpu_prom_init(w);
}
