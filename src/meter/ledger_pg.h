/*
 * ledger_pg.h - the PostgreSQL backend of the ledger, internal to
 * src/meter. ledger.c keeps the public contract (ledger.h): it validates
 * every input, runs the transaction discipline and dispatches here when the
 * ledger was opened with a postgres:// or postgresql:// URI. This backend
 * runs the same statements (ledger_sql.c) through libpq.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vxpu_ledger_pg;

/* True when path names a PostgreSQL database (postgres:// or postgresql://). */
bool vxpu_ledger_pg_is_uri(const char *path);

/* The URI with any password (user:PASSWORD@, password=...) replaced by ***. */
void vxpu_ledger_pg_shown_uri(const char *uri, char *out, size_t outlen);

/*
 * Connects and, with VXPU_LEDGER_OPEN_CREATE, creates the ledger tables as
 * needed. Returns VXPU_LEDGER_OK, VXPU_LEDGER_ABSENT (OPEN_EXISTING and no
 * ledger tables) or VXPU_LEDGER_FAILED; shown names the database in errors.
 */
int vxpu_ledger_pg_open(const char *uri, const char *shown, enum vxpu_ledger_open_mode mode,
			struct vxpu_ledger_pg **out, char *err, size_t errlen);
void vxpu_ledger_pg_close(struct vxpu_ledger_pg *pg);

bool vxpu_ledger_pg_in_transaction(const struct vxpu_ledger_pg *pg);
int vxpu_ledger_pg_begin(struct vxpu_ledger_pg *pg, bool read_only, char *err, size_t errlen);
int vxpu_ledger_pg_commit(struct vxpu_ledger_pg *pg, char *err, size_t errlen);
void vxpu_ledger_pg_rollback(struct vxpu_ledger_pg *pg);

int vxpu_ledger_pg_ensure_component(struct vxpu_ledger_pg *pg, const char *component, int version,
				    const char *const *ddl, char *err, size_t errlen);

/* The statements of one write, inside the caller's transaction (ledger.c
 * opens and ends it); inputs are already validated. */
int vxpu_ledger_pg_interval_insert(struct vxpu_ledger_pg *pg, const struct vxpu_ledger_interval *iv,
				   char *err, size_t errlen);
int vxpu_ledger_pg_interval_end(struct vxpu_ledger_pg *pg, const char *allocation_id,
				int64_t end_ms, bool exited, int exit_status, int *ended_count,
				char *err, size_t errlen);
int vxpu_ledger_pg_sample_record(struct vxpu_ledger_pg *pg, const struct vxpu_ledger_sample *s,
				 char *err, size_t errlen);

/* Reads: running = the running intervals, else those overlapping
 * [since_ms, until_ms). fn's return value stops the walk as in ledger.h. */
int vxpu_ledger_pg_each_interval(struct vxpu_ledger_pg *pg, bool running, int64_t since_ms,
				 int64_t until_ms, vxpu_ledger_interval_fn fn, void *ctx, char *err,
				 size_t errlen);
int vxpu_ledger_pg_each_sample(struct vxpu_ledger_pg *pg, int64_t since_ms, int64_t until_ms,
			       vxpu_ledger_sample_fn fn, void *ctx, char *err, size_t errlen);

#endif
