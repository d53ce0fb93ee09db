/*
 * report.h - usage and cost over a time window, grouped by tenant, project,
 * user, device or device model, computed from the ledger.
 *
 * Definitions (docs/metering.md has them with examples). For each interval
 * (one device of one allocation), clipped to the window [since, until):
 *   span                  from max(start, since) to min(end, until); an
 *                         interval still running ends at min(now, until);
 *   allocated fraction    max(memory_mib / device_memory_mib,
 *                             compute_percent / 100);
 *   used fraction of a    max(used_memory_mib / device_memory_mib,
 *   minute sample             utilisation_percent / 100);
 *   device_hours          span in hours;
 *   allocated_fraction_hours
 *                         device_hours x allocated fraction;
 *   used_fraction_hours   sum over the interval's minute samples of
 *                         (the part of the sample's minute inside the span,
 *                         in hours) x used fraction; minutes without a
 *                         sample count as unused;
 *   cost                  allocated_fraction_hours x the price per
 *                         device-hour of the interval's device model.
 * A group's figures are the sums over its intervals; intervals counts the
 * intervals with a non-empty span.
 *
 * Output is deterministic: groups are sorted by their key columns (bytes,
 * device index as a number), and sums run in a fixed order. Hours are
 * written with 6 decimals and costs with 4 (CSV, table, and JSON, whose
 * numbers are rounded the same way); totals are sums of the unrounded
 * figures.
 */
#ifndef VXPU_METER_REPORT_H
#define VXPU_METER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_ledger;
struct vxpu_price_book;
struct cJSON;

#define VXPU_REPORT_VERSION 1
#define VXPU_REPORT_MAX_KEYS 4

enum vxpu_report_by {
	VXPU_REPORT_BY_TENANT,  /* key: tenant */
	VXPU_REPORT_BY_PROJECT, /* key: tenant, project (a project lives in a tenant) */
	VXPU_REPORT_BY_USER,    /* key: user */
	VXPU_REPORT_BY_DEVICE,  /* key: node, device_index, device_uuid, device_model */
	VXPU_REPORT_BY_MODEL,   /* key: device_model */
};

enum vxpu_report_format {
	VXPU_REPORT_TABLE,
	VXPU_REPORT_CSV,
	VXPU_REPORT_JSON,
};

/* "tenant", "project", "user", "device", "model" -> 0, else -1. */
int vxpu_report_by_parse(const char *text, enum vxpu_report_by *by);
const char *vxpu_report_by_name(enum vxpu_report_by by);
/* "table", "csv", "json" -> 0, else -1. */
int vxpu_report_format_parse(const char *text, enum vxpu_report_format *format);

struct vxpu_report_options {
	enum vxpu_report_by by;
	int64_t since_ms; /* window start, inclusive (>= 0) */
	int64_t until_ms; /* window end, exclusive (> since_ms) */
	int64_t now_ms;   /* where running intervals end, if before until_ms */
	/* NULL: no cost columns. Must cover every device model in the window
	 * (or have a default), else building fails naming the model. */
	const struct vxpu_price_book *prices;
};

struct vxpu_report_row {
	char *key[VXPU_REPORT_MAX_KEYS]; /* the group's key values (see by) */
	int device_index;                /* BY_DEVICE only */
	uint64_t intervals;
	int64_t device_ms;
	double device_hours;
	double allocated_fraction_hours;
	double used_fraction_hours;
	double cost; /* 0 without a price book */
};

struct vxpu_report {
	struct vxpu_report_options options; /* prices is NULL after building */
	bool priced;
	char currency[4];
	size_t count;
	struct vxpu_report_row *rows;
	struct vxpu_report_row total; /* no key */
};

/*
 * Computes the report from the ledger (one read snapshot). ledger may be
 * NULL: an empty ledger, an empty report. Returns 0 and *out, or -1 with
 * a reason (invalid window, ledger error, a model without a price).
 */
int vxpu_report_build(struct vxpu_ledger *ledger, const struct vxpu_report_options *options,
                      struct vxpu_report **out, char *err, size_t errlen);

/* The names of the key columns for by: count and names (CSV header form). */
size_t vxpu_report_key_columns(enum vxpu_report_by by, const char *const **names);

/* The report as text in format (malloc'd; NULL when out of memory). CSV:
 * RFC 4180 with CRLF line ends and a header row. */
char *vxpu_report_render(const struct vxpu_report *report, enum vxpu_report_format format);

/* The report as a JSON document (what `--format json` prints and what the
 * HTTP API serves). NULL when out of memory; free with cJSON_Delete. */
struct cJSON *vxpu_report_json(const struct vxpu_report *report);

void vxpu_report_free(struct vxpu_report *report);

#endif
