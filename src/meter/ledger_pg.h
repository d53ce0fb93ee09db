/*
 * ledger_pg.h - the PostgreSQL backend of the ledger, internal to
 * src/meter. ledger.c keeps the public contract (ledger.h): it validates
 * every input, runs the transaction discipline and the flow of each call,
 * and hands its statements (ledger_sql.c) here when the ledger was opened
 * with a postgres:// or postgresql:// URI. This backend runs them through
 * libpq; only the catalogue check and the schema lock are its own.
 *
 * Differences from the SQLite backend, all inside the contract:
 *   - the database is a server's: "never overwrite a file that is not
 *     ours" becomes "never touch a schema whose vxpu_schema says otherwise";
 *     tables are created under a transaction-scoped advisory lock, so two
 *     replicas starting at once do not race on CREATE TABLE;
 *   - writes run at READ COMMITTED (a concurrent end of the same allocation
 *     re-evaluates "end_ms IS NULL" after the row lock and ends nothing);
 *     read transactions are REPEATABLE READ READ ONLY (one snapshot);
 *   - a lost connection is re-established before the next call made
 *     outside a transaction (the call inside one fails; its caller rolls
 *     back and may retry);
 *   - the URI is shown with its password masked in every message.
 */
#ifndef VXPU_METER_LEDGER_PG_H
#define VXPU_METER_LEDGER_PG_H

#include "meter/ledger.h"
#include "meter/ledger_sql.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_ledger_pg;

/* True when path names a PostgreSQL database (postgres:// or postgresql://). */
bool vxpu_ledger_pg_is_uri(const char *path);

/* The URI with any password (user:PASSWORD@, password=...) replaced by ***. */
void vxpu_ledger_pg_shown_uri(const char *uri, char *out, size_t outlen);

/* Connects; 0, or -1 with a reason naming shown (the masked URI). */
int vxpu_ledger_pg_open(const char *uri, const char *shown, struct vxpu_ledger_pg **out, char *err,
                        size_t errlen);
void vxpu_ledger_pg_close(struct vxpu_ledger_pg *pg);

bool vxpu_ledger_pg_in_transaction(const struct vxpu_ledger_pg *pg);
int vxpu_ledger_pg_begin(struct vxpu_ledger_pg *pg, bool read_only, char *err, size_t errlen);
int vxpu_ledger_pg_commit(struct vxpu_ledger_pg *pg, char *err, size_t errlen);
void vxpu_ledger_pg_rollback(struct vxpu_ledger_pg *pg);

/* Inside a write transaction: waits for any other process that is
 * creating tables (a transaction-scoped advisory lock); what names the
 * step in an error. */
int vxpu_ledger_pg_lock_schema(struct vxpu_ledger_pg *pg, const char *what, char *err,
                               size_t errlen);
/* Whether the database has a vxpu_schema table (the catalogue check). */
int vxpu_ledger_pg_has_schema_table(struct vxpu_ledger_pg *pg, bool *has, char *err, size_t errlen);

/* Runs one statement (ledger_sql.h): 0, -1 with a reason, or the non-zero
 * value of st->fn. Outside a transaction a lost connection is re-made first. */
int vxpu_ledger_pg_run(struct vxpu_ledger_pg *pg, struct vxpu_ledger_stmt *st, char *err,
                       size_t errlen);

#endif
