/*
 * prom.h - a writer for the Prometheus text exposition format 0.0.4, used
 * by every vxpu daemon's /metrics (node agent, `vxpu serve`).
 *
 *   struct vxpu_prom w;
 *   vxpu_prom_init(&w);
 *   vxpu_prom_family(&w, "vxpu_device_memory_used_bytes", VXPU_PROM_GAUGE,
 *                    "Device memory in use.");
 *   vxpu_prom_sample(&w, (struct vxpu_prom_label[]){{"device", "0"}}, 1, 1073741824);
 *   char *text = vxpu_prom_finish(&w, &len);   // serve with VXPU_PROM_CONTENT_TYPE
 *
 * What the writer guarantees about its output:
 *   - each family is written once, as "# HELP", "# TYPE", then its samples,
 *     contiguous; opening a family name a second time is refused;
 *   - names: metric names [a-zA-Z_][a-zA-Z0-9_]* (colons are left to
 *     recording rules), counters end in "_total"; label names
 *     [a-zA-Z_][a-zA-Z0-9_]* not starting with "__", unique in a sample;
 *   - label values and help text are UTF-8; label values escape \ " and
 *     newline, help text escapes \ and newline;
 *   - labels are written sorted by name, and a family never holds two
 *     samples with the same label set;
 *   - values: shortest text that reads back as the same double; NaN, +Inf,
 *     -Inf spelled as Prometheus spells them; counters finite and >= 0.
 * A refused call writes nothing and returns -1; vxpu_prom_error says why
 * (naming the metric, label or value), and the caller may go on with the
 * next family or sample, so one bad label does not take the whole scrape
 * down. Running out of memory is sticky: vxpu_prom_finish returns NULL.
 */
#ifndef VXPU_METER_PROM_H
#define VXPU_METER_PROM_H

#include "meter/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define VXPU_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum vxpu_prom_type {
	VXPU_PROM_GAUGE,
	VXPU_PROM_COUNTER,
};

struct vxpu_prom_label {
	const char *name;
	const char *value;
};

/* A sample's series text (offset into out, length) for duplicate checks. */
struct vxpu_prom_series {
	size_t offset;
	size_t len;
};

struct vxpu_prom {
	struct vxpu_strbuf out;
	char **families; /* names written so far */
	size_t family_count, family_cap;
	bool in_family;
	enum vxpu_prom_type type;
	struct vxpu_prom_series *series; /* of the open family */
	size_t series_count, series_cap;
	bool oom;
	char err[320];
};

void vxpu_prom_init(struct vxpu_prom *w);

/* Starts family name (help: non-empty UTF-8). 0, or -1 (see above). */
int vxpu_prom_family(struct vxpu_prom *w, const char *name, enum vxpu_prom_type type,
                     const char *help);

/* Adds a sample to the open family. labels may be NULL when nlabels is 0. */
int vxpu_prom_sample(struct vxpu_prom *w, const struct vxpu_prom_label *labels, size_t nlabels,
                     double value);

/* The reason for the last refused call ("" if none). */
const char *vxpu_prom_error(const struct vxpu_prom *w);

/* Hands out the exposition (free it; *len may be NULL), or NULL when the
 * writer ran out of memory. The writer is reset either way. */
char *vxpu_prom_finish(struct vxpu_prom *w, size_t *len);

void vxpu_prom_free(struct vxpu_prom *w);

#endif
