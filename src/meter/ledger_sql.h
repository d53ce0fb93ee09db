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
 */
#ifndef VXPU_METER_LEDGER_SQL_H
#define VXPU_METER_LEDGER_SQL_H

#include <stddef.h>

/* The table that records which schema version each component has created. */
extern const char vxpu_ledger_sql_schema_table[];
extern const char vxpu_ledger_sql_schema_get[];
extern const char vxpu_ledger_sql_schema_set[];

/* DDL of ledger schema version 1, applied in order inside one transaction. */
extern const char *const vxpu_ledger_sql_v1[];
extern const size_t vxpu_ledger_sql_v1_count;

extern const char vxpu_ledger_sql_interval_insert[];
extern const char vxpu_ledger_sql_interval_open_start[];
extern const char vxpu_ledger_sql_interval_end[];
extern const char vxpu_ledger_sql_interval_get[];
extern const char vxpu_ledger_sql_intervals_window[];
extern const char vxpu_ledger_sql_intervals_running[];
extern const char vxpu_ledger_sql_sample_upsert[];
extern const char vxpu_ledger_sql_samples_window[];

#endif
