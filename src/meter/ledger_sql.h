/*
 * ledger_sql.h - every SQL statement of the ledger, in the one dialect that
 * both SQLite (>= 3.24) and PostgreSQL (>= 9.5) accept.
 *
 * This is the only place where the ledger's schema and queries are written.
 * A backend (ledger.c for SQLite; a libpq one later) prepares these strings
 * unchanged. Rules that keep them portable:
 *   - types: INTEGER, BIGINT, VARCHAR(n), TEXT, DOUBLE PRECISION only; times
 *     are BIGINT milliseconds since the Unix epoch (UTC), so no TIMESTAMP
 *     semantics differ between engines;
 *   - no engine-specific clauses (no AUTOINCREMENT/SERIAL, STRICT, WITHOUT
 *     ROWID, RETURNING): identifiers are chosen by the writer;
 *   - placeholders are $1..$n (PostgreSQL's form; SQLite binds them by name),
 *     and a parameter is only ever compared with a column, never used in
 *     arithmetic, so that PostgreSQL infers the column's type for it;
 *   - upserts use INSERT ... ON CONFLICT (cols) DO UPDATE, which both accept;
 *   - no reserved words as column names ("user" and "end" are spelled
 *     user_name and end_ms);
 *   - ORDER BY is never relied on for text order (collations differ): callers
 *     sort in C where order matters.
 * Catalogue inspection (is this file a vxpu database at all?) is
 * engine-specific by nature and lives in the backend.
 *
 * Each statement documents its parameters and result columns in ledger_sql.c.
 *
 * struct vxpu_ledger_stmt below is how ledger.c hands one of these
 * statements to a backend: typed parameters in, typed result cells out, so
 * that the flow of every ledger call, and the turning of a row into a
 * struct, are written once in ledger.c and each backend only binds, runs
 * and reads (ledger.c for SQLite, ledger_pg.c for PostgreSQL).
 */
#ifndef VXPU_METER_LEDGER_SQL_H
#define VXPU_METER_LEDGER_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The table that records which schema version each component has created. */
extern const char vxpu_ledger_sql_schema_table[];
extern const char vxpu_ledger_sql_schema_get[];
extern const char vxpu_ledger_sql_schema_set[];

/* DDL of ledger schema version 1, applied in order inside one transaction;
 * NULL-terminated, as vxpu_ledger_ensure_component takes it. */
extern const char *const vxpu_ledger_sql_v1[];

extern const char vxpu_ledger_sql_interval_insert[];
extern const char vxpu_ledger_sql_interval_open_start[];
extern const char vxpu_ledger_sql_interval_end[];
extern const char vxpu_ledger_sql_interval_get[];
extern const char vxpu_ledger_sql_intervals_window[];
extern const char vxpu_ledger_sql_intervals_running[];
extern const char vxpu_ledger_sql_sample_upsert[];
extern const char vxpu_ledger_sql_samples_window[];

/* The type of a parameter or of a result cell. INT is a 32-bit column
 * (a backend that parses text refuses a value out of its range). */
enum vxpu_ledger_kind {
	VXPU_LEDGER_KIND_NULL, /* a parameter that is SQL NULL */
	VXPU_LEDGER_KIND_TEXT,
	VXPU_LEDGER_KIND_INT,
	VXPU_LEDGER_KIND_I64,
	VXPU_LEDGER_KIND_DOUBLE,
};

/* One parameter, or one cell of the current row (kind set by the caller,
 * null and the value by the backend; a NULL cell has text NULL and 0). */
struct vxpu_ledger_value {
	enum vxpu_ledger_kind kind;
	bool null;
	const char *text;
	int64_t i64; /* INT and I64 */
	double real;
};

/* Called once per result row with the row's cells; non-zero stops the
 * walk and is what the run returns. Text cells live until it returns. */
typedef int (*vxpu_ledger_row_fn)(const struct vxpu_ledger_value *cells, void *ctx);

/* One statement of ledger_sql.c as a backend runs it. */
struct vxpu_ledger_stmt {
	const char *sql;
	const char *what; /* the error's context: "cannot read the intervals" */
	const struct vxpu_ledger_value *params; /* $1..$nparams */
	int nparams;
	struct vxpu_ledger_value *cells; /* a query's result columns, kinds set */
	int ncells;                      /* 0 for a command */
	vxpu_ledger_row_fn fn;           /* NULL: rows are only counted */
	void *ctx;
	/* Set by the run: */
	int rows;        /* result rows seen; the cells hold the last one's numbers */
	int64_t changes; /* rows a command changed */
	bool conflict;   /* a command failed on a unique key (err names nothing yet) */
};

#endif
