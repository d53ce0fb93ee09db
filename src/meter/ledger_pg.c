/*
 * ledger_pg.c - the PostgreSQL backend of the ledger over libpq (see
 * ledger_pg.h for what differs from SQLite, ledger.h for the contract).
 *
 * Every statement is the portable text of ledger_sql.c, sent with
 * PQexecParams: parameters travel as text and PostgreSQL infers each one's
 * type from the column it is compared with or assigned to (the rule
 * ledger_sql.h keeps), so no OIDs are hard-coded here. NULL parameters are
 * NULL pointers. Results are read as text and parsed strictly; a value that
 * does not parse is an error naming the column, not a zero.
 *
 * Only this file includes libpq-fe.h.
 */
#include "meter/ledger_pg.h"

#include "meter/ledger_sql.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock key that serialises table creation across processes
 * (any fixed number; "vxpu" in ASCII). */
#define SCHEMA_LOCK_KEY "1987081333"
/* Seconds a connection attempt may take, unless the URI says otherwise. */
#define CONNECT_TIMEOUT_S "10"
/* SQLSTATE of a unique constraint violation. */
#define SQLSTATE_UNIQUE "23505"

struct vxpu_ledger_pg {
	PGconn *conn;
	char shown[4096]; /* the URI, password masked */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libpq's messages end in a newline and may span lines: one line here. */
static void one_line(const char *msg, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; msg && msg[i] && o + 1 < outlen; i++) {
		char c = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' ? ' ' : msg[i];
		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static void conn_err(const struct vxpu_ledger_pg *pg, const char *what, char *err, size_t errlen)
{
	char msg[512];
	one_line(PQerrorMessage(pg->conn), msg, sizeof(msg));
	set_err(err, errlen, "ledger %s: %s: %s", pg->shown, what, msg[0] ? msg : "unknown error");
}

static void result_err(const struct vxpu_ledger_pg *pg, const PGresult *res, const char *what,
		       char *err, size_t errlen)
{
	char msg[512];
	one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn), msg, sizeof(msg));
	set_err(err, errlen, "ledger %s: %s: %s", pg->shown, what, msg[0] ? msg : "unknown error");
}

bool vxpu_ledger_pg_is_uri(const char *path)
{
	return path && (strncmp(path, "postgres://", 11) == 0 ||
			strncmp(path, "postgresql://", 13) == 0);
}

void vxpu_ledger_pg_shown_uri(const char *uri, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	const char *scheme_end = strstr(uri, "://");
	const char *auth = scheme_end ? scheme_end + 3 : uri;
	size_t authlen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', authlen);
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	size_t o = 0;
	const char *p = uri;
	/* Copy, masking "user:PASSWORD@" and any "password=VALUE" parameter. */
	while (*p && o + 1 < outlen) {
		if (colon && p == colon + 1) {
			const char *mask = "***";
			for (size_t k = 0; mask[k] && o + 1 < outlen; k++)
				out[o++] = mask[k];
			p = at;
			continue;
		}
		if (p > auth + authlen && strncmp(p, "password=", 9) == 0 &&
		    (p[-1] == '?' || p[-1] == '&')) {
			const char *mask = "password=***";
			for (size_t k = 0; mask[k] && o + 1 < outlen; k++)
				out[o++] = mask[k];
			p += 9 + strcspn(p + 9, "&#");
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
}

/* NOTICEs (e.g. "relation already exists, skipping") are not errors. */
static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Re-establishes a lost connection, outside a transaction only. */
static int ready(struct vxpu_ledger_pg *pg, char *err, size_t errlen)
{
	if (PQstatus(pg->conn) == CONNECTION_OK)
		return 0;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		conn_err(pg, "cannot reconnect", err, errlen);
		return -1;
	}
	return 0;
}

/* Runs sql with text parameters; returns the result (caller clears) when
 * its status is want, else NULL after setting err. */
static PGresult *run(struct vxpu_ledger_pg *pg, const char *sql, int n, const char *const *values,
		     ExecStatusType want, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(pg->conn, sql, n, NULL, values, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != want) {
		result_err(pg, res, what, err, errlen);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int run_command(struct vxpu_ledger_pg *pg, const char *sql, const char *what, char *err,
		       size_t errlen)
{
	PGresult *res = run(pg, sql, 0, NULL, PGRES_COMMAND_OK, what, err, errlen);
	PQclear(res);
	return res ? 0 : -1;
}

/* Strict whole number from a result cell. */
static int cell_i64(struct vxpu_ledger_pg *pg, const PGresult *res, int row, int col,
		    int64_t *out, char *err, size_t errlen)
{
	const char *text = PQgetvalue(res, row, col);
	char *end = NULL;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0') {
		set_err(err, errlen, "ledger %s: column %s holds \"%.40s\", not a whole number",
			pg->shown, PQfname(res, col), text);
		return -1;
	}
	*out = v;
	return 0;
}

static int cell_double(struct vxpu_ledger_pg *pg, const PGresult *res, int row, int col,
		       double *out, char *err, size_t errlen)
{
	const char *text = PQgetvalue(res, row, col);
	char *end = NULL;
	errno = 0;
	double v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0') {
		set_err(err, errlen, "ledger %s: column %s holds \"%.40s\", not a number",
			pg->shown, PQfname(res, col), text);
		return -1;
	}
	*out = v;
	return 0;
}

static int cell_int(struct vxpu_ledger_pg *pg, const PGresult *res, int row, int col, int *out,
		    char *err, size_t errlen)
{
	int64_t v;
	if (cell_i64(pg, res, row, col, &v, err, errlen) != 0)
		return -1;
	if (v < INT32_MIN || v > INT32_MAX) {
		set_err(err, errlen, "ledger %s: column %s holds %" PRId64 ", out of range",
			pg->shown, PQfname(res, col), v);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* ---- transactions ------------------------------------------------------ */

bool vxpu_ledger_pg_in_transaction(const struct vxpu_ledger_pg *pg)
{
	PGTransactionStatusType t = PQtransactionStatus(pg->conn);
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

int vxpu_ledger_pg_begin(struct vxpu_ledger_pg *pg, bool read_only, char *err, size_t errlen)
{
	if (ready(pg, err, errlen) != 0)
		return -1;
	return read_only ? run_command(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				       "cannot start a read transaction", err, errlen)
			 : run_command(pg, "BEGIN", "cannot start a write transaction", err,
				       errlen);
}

int vxpu_ledger_pg_commit(struct vxpu_ledger_pg *pg, char *err, size_t errlen)
{
	/* COMMIT of a failed transaction answers "ROLLBACK" with COMMAND_OK:
	 * that is a failure for the caller. */
	bool failed = PQtransactionStatus(pg->conn) == PQTRANS_INERROR;
	PGresult *res = run(pg, "COMMIT", 0, NULL, PGRES_COMMAND_OK, "cannot commit", err, errlen);
	if (res && (failed || strcmp(PQcmdStatus(res), "COMMIT") != 0)) {
		set_err(err, errlen, "ledger %s: cannot commit: the transaction had failed",
			pg->shown);
		PQclear(res);
		return -1;
	}
	if (!res) {
		vxpu_ledger_pg_rollback(pg);
		return -1;
	}
	PQclear(res);
	return 0;
}

void vxpu_ledger_pg_rollback(struct vxpu_ledger_pg *pg)
{
	if (vxpu_ledger_pg_in_transaction(pg))
		PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* ---- schema ------------------------------------------------------------ */

/* 0 with *version, 1 when the component has no row (or there is no
 * vxpu_schema table at all), -1 on error. */
static int schema_version(struct vxpu_ledger_pg *pg, const char *component, int *version,
			  char *err, size_t errlen)
{
	PGresult *res = run(pg, "SELECT to_regclass('vxpu_schema') IS NOT NULL", 0, NULL,
			    PGRES_TUPLES_OK, "cannot read the catalogue", err, errlen);
	if (!res)
		return -1;
	bool has_table = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!has_table)
		return 1;
	const char *values[1] = {component};
	res = run(pg, vxpu_ledger_sql_schema_get, 1, values, PGRES_TUPLES_OK,
		  "cannot read the schema version", err, errlen);
	if (!res)
		return -1;
	int rc = 1;
	if (PQntuples(res) > 0)
		rc = cell_int(pg, res, 0, 0, version, err, errlen) == 0 ? 0 : -1;
	PQclear(res);
	return rc;
}

/* Refuses a version other than ours (0), or says none is there (1). */
static int check_version(struct vxpu_ledger_pg *pg, const char *component, int version, char *err,
			 size_t errlen)
{
	int found = 0;
	int rc = schema_version(pg, component, &found, err, errlen);
	if (rc != 0)
		return rc;
	if (found > version) {
		set_err(err, errlen,
			"ledger %s: %s schema version %d is newer than this vxpu understands (%d); "
			"use a newer vxpu. The database was left untouched",
			pg->shown, component, found, version);
		return -1;
	}
	if (found < version) {
		set_err(err, errlen,
			"ledger %s: %s schema version %d is older than this vxpu's (%d) and cannot "
			"be migrated; the database was left untouched",
			pg->shown, component, found, version);
		return -1;
	}
	return 0;
}

int vxpu_ledger_pg_ensure_component(struct vxpu_ledger_pg *pg, const char *component, int version,
				    const char *const *ddl, char *err, size_t errlen)
{
	if (vxpu_ledger_pg_in_transaction(pg)) {
		set_err(err, errlen,
			"ledger %s: cannot create the %s tables inside an open transaction",
			pg->shown, component);
		return -1;
	}
	if (vxpu_ledger_pg_begin(pg, false, err, errlen) != 0)
		return -1;
	char what[160];
	snprintf(what, sizeof(what), "cannot create the %s tables", component);
	/* Another process creating the same tables waits here, then sees them. */
	PGresult *lock = run(pg, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL,
			     PGRES_TUPLES_OK, what, err, errlen);
	if (!lock)
		goto fail;
	PQclear(lock);
	int rc = check_version(pg, component, version, err, errlen);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		if (run_command(pg, vxpu_ledger_sql_schema_table, what, err, errlen) != 0)
			goto fail;
		for (size_t i = 0; ddl[i]; i++)
			if (run_command(pg, ddl[i], what, err, errlen) != 0)
				goto fail;
		char v[16];
		snprintf(v, sizeof(v), "%d", version);
		const char *values[2] = {component, v};
		PGresult *res = run(pg, vxpu_ledger_sql_schema_set, 2, values, PGRES_COMMAND_OK,
				    "cannot record the schema version", err, errlen);
		if (!res)
			goto fail;
		PQclear(res);
	}
	return vxpu_ledger_pg_commit(pg, err, errlen);
fail:
	vxpu_ledger_pg_rollback(pg);
	return -1;
}

/* ---- opening ----------------------------------------------------------- */

int vxpu_ledger_pg_open(const char *uri, const char *shown, enum vxpu_ledger_open_mode mode,
			struct vxpu_ledger_pg **out, char *err, size_t errlen)
{
	*out = NULL;
	struct vxpu_ledger_pg *pg = calloc(1, sizeof(*pg));
	if (!pg) {
		set_err(err, errlen, "ledger %s: out of memory", shown);
		return VXPU_LEDGER_FAILED;
	}
	snprintf(pg->shown, sizeof(pg->shown), "%s", shown);
	/* The URI comes last so that its own settings override the defaults. */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const values[] = {CONNECT_TIMEOUT_S, "vxpu", uri, NULL};
	pg->conn = PQconnectdbParams(keys, values, 1);
	if (!pg->conn) {
		set_err(err, errlen, "ledger %s: cannot connect: out of memory", shown);
		free(pg);
		return VXPU_LEDGER_FAILED;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		conn_err(pg, "cannot connect", err, errlen);
		vxpu_ledger_pg_close(pg);
		return VXPU_LEDGER_FAILED;
	}
	PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
	if (mode == VXPU_LEDGER_OPEN_EXISTING) {
		int rc = check_version(pg, VXPU_LEDGER_COMPONENT, VXPU_LEDGER_SCHEMA_VERSION, err,
				       errlen);
		if (rc != 0) {
			if (rc == 1)
				set_err(err, errlen, "ledger %s: has no ledger tables yet", shown);
			vxpu_ledger_pg_close(pg);
			return rc == 1 ? VXPU_LEDGER_ABSENT : VXPU_LEDGER_FAILED;
		}
	} else {
		const char *ddl[16];
		size_t n = vxpu_ledger_sql_v1_count;
		for (size_t i = 0; i < n; i++)
			ddl[i] = vxpu_ledger_sql_v1[i];
		ddl[n] = NULL;
		if (vxpu_ledger_pg_ensure_component(pg, VXPU_LEDGER_COMPONENT,
						    VXPU_LEDGER_SCHEMA_VERSION, ddl, err,
						    errlen) != 0) {
			vxpu_ledger_pg_close(pg);
			return VXPU_LEDGER_FAILED;
		}
	}
	*out = pg;
	return VXPU_LEDGER_OK;
}

void vxpu_ledger_pg_close(struct vxpu_ledger_pg *pg)
{
	if (!pg)
		return;
	if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
		vxpu_ledger_pg_rollback(pg);
	PQfinish(pg->conn);
	free(pg);
}

/* ---- writing ----------------------------------------------------------- */

int vxpu_ledger_pg_interval_insert(struct vxpu_ledger_pg *pg, const struct vxpu_ledger_interval *iv,
				   char *err, size_t errlen)
{
	char idx[16], devmib[24], mib[24], pct[16], start[24];
	snprintf(idx, sizeof(idx), "%d", iv->device_index);
	snprintf(devmib, sizeof(devmib), "%" PRId64, iv->device_memory_mib);
	snprintf(mib, sizeof(mib), "%" PRId64, iv->memory_mib);
	snprintf(pct, sizeof(pct), "%d", iv->compute_percent);
	snprintf(start, sizeof(start), "%" PRId64, iv->start_ms);
	const char *values[13] = {iv->allocation_id, idx,	   iv->node,	iv->device_uuid,
				  iv->device_model,  devmib,	   mib,		pct,
				  iv->tenant,	     iv->project,  iv->user,	iv->command,
				  start};
	PGresult *res = PQexecParams(pg->conn, vxpu_ledger_sql_interval_insert, 13, NULL, values,
				     NULL, NULL, 0);
	int rc = 0;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state && strcmp(state, SQLSTATE_UNIQUE) == 0)
			set_err(err, errlen,
				"ledger %s: allocation %s device %d is already recorded", pg->shown,
				iv->allocation_id, iv->device_index);
		else
			result_err(pg, res, "cannot record the interval", err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int vxpu_ledger_pg_interval_end(struct vxpu_ledger_pg *pg, const char *allocation_id,
				int64_t end_ms, bool exited, int exit_status, int *ended_count,
				char *err, size_t errlen)
{
	const char *id[1] = {allocation_id};
	PGresult *res = run(pg, vxpu_ledger_sql_interval_open_start, 1, id, PGRES_TUPLES_OK,
			    "cannot read the interval", err, errlen);
	if (!res)
		return -1;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) { /* nothing running */
		PQclear(res);
		return 0;
	}
	int64_t start_ms;
	int rc = cell_i64(pg, res, 0, 0, &start_ms, err, errlen);
	PQclear(res);
	if (rc != 0)
		return -1;
	if (end_ms < start_ms) {
		set_err(err, errlen,
			"invalid end time %" PRId64 " ms for allocation %s: before its start %" PRId64
			" ms",
			end_ms, allocation_id, start_ms);
		return -1;
	}
	char end[24], status[16];
	snprintf(end, sizeof(end), "%" PRId64, end_ms);
	snprintf(status, sizeof(status), "%d", exit_status);
	const char *values[3] = {allocation_id, end, exited ? status : NULL};
	res = run(pg, vxpu_ledger_sql_interval_end, 3, values, PGRES_COMMAND_OK,
		  "cannot end the interval", err, errlen);
	if (!res)
		return -1;
	if (ended_count)
		*ended_count = atoi(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

int vxpu_ledger_pg_sample_record(struct vxpu_ledger_pg *pg, const struct vxpu_ledger_sample *s,
				 char *err, size_t errlen)
{
	char idx[16];
	snprintf(idx, sizeof(idx), "%d", s->device_index);
	const char *key[2] = {s->allocation_id, idx};
	PGresult *res = run(pg, vxpu_ledger_sql_interval_get, 2, key, PGRES_TUPLES_OK,
			    "cannot read the interval", err, errlen);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		set_err(err, errlen, "ledger %s: no interval for allocation %s device %d",
			pg->shown, s->allocation_id, s->device_index);
		PQclear(res);
		return -1;
	}
	int64_t start_ms = 0, end_ms = 0, device_mib = 0;
	bool ended = !PQgetisnull(res, 0, 1);
	int rc = cell_i64(pg, res, 0, 0, &start_ms, err, errlen);
	if (rc == 0 && ended)
		rc = cell_i64(pg, res, 0, 1, &end_ms, err, errlen);
	if (rc == 0)
		rc = cell_i64(pg, res, 0, 2, &device_mib, err, errlen);
	PQclear(res);
	if (rc != 0)
		return -1;
	if (s->minute_ms + VXPU_LEDGER_MINUTE_MS <= start_ms || (ended && s->minute_ms >= end_ms)) {
		set_err(err, errlen,
			"invalid sample minute %" PRId64 " ms: outside allocation %s device %d, "
			"which ran from %" PRId64 " ms to %s%" PRId64 " ms",
			s->minute_ms, s->allocation_id, s->device_index, start_ms,
			ended ? "" : "(running) ", ended ? end_ms : start_ms);
		return -1;
	}
	if (s->used_memory_mib > (double)device_mib) {
		set_err(err, errlen, "invalid used memory %g MiB: the device has %" PRId64 " MiB",
			s->used_memory_mib, device_mib);
		return -1;
	}
	char minute[24], used[40], util[40];
	snprintf(minute, sizeof(minute), "%" PRId64, s->minute_ms);
	snprintf(used, sizeof(used), "%.17g", s->used_memory_mib);
	snprintf(util, sizeof(util), "%.17g", s->utilisation_percent);
	const char *values[5] = {s->allocation_id, idx, minute, used, util};
	res = run(pg, vxpu_ledger_sql_sample_upsert, 5, values, PGRES_COMMAND_OK,
		  "cannot record the sample", err, errlen);
	PQclear(res);
	return res ? 0 : -1;
}

/* ---- reading ----------------------------------------------------------- */

int vxpu_ledger_pg_each_interval(struct vxpu_ledger_pg *pg, bool running, int64_t since_ms,
				 int64_t until_ms, vxpu_ledger_interval_fn fn, void *ctx, char *err,
				 size_t errlen)
{
	if (!vxpu_ledger_pg_in_transaction(pg) && ready(pg, err, errlen) != 0)
		return -1;
	char since[24], until[24];
	snprintf(since, sizeof(since), "%" PRId64, since_ms);
	snprintf(until, sizeof(until), "%" PRId64, until_ms);
	const char *values[2] = {since, until};
	PGresult *res = running ? run(pg, vxpu_ledger_sql_intervals_running, 0, NULL,
				      PGRES_TUPLES_OK, "cannot read the intervals", err, errlen)
				: run(pg, vxpu_ledger_sql_intervals_window, 2, values,
				      PGRES_TUPLES_OK, "cannot read the intervals", err, errlen);
	if (!res)
		return -1;
	int result = 0;
	for (int r = 0; r < PQntuples(res) && result == 0; r++) {
		struct vxpu_ledger_interval iv = {
			.allocation_id = PQgetvalue(res, r, 0),
			.node = PQgetvalue(res, r, 2),
			.device_uuid = PQgetvalue(res, r, 3),
			.device_model = PQgetvalue(res, r, 4),
			.tenant = PQgetvalue(res, r, 8),
			.project = PQgetvalue(res, r, 9),
			.user = PQgetvalue(res, r, 10),
			.command = PQgetvalue(res, r, 11),
			.ended = !PQgetisnull(res, r, 13),
			.exited = !PQgetisnull(res, r, 14),
		};
		if (cell_int(pg, res, r, 1, &iv.device_index, err, errlen) != 0 ||
		    cell_i64(pg, res, r, 5, &iv.device_memory_mib, err, errlen) != 0 ||
		    cell_i64(pg, res, r, 6, &iv.memory_mib, err, errlen) != 0 ||
		    cell_int(pg, res, r, 7, &iv.compute_percent, err, errlen) != 0 ||
		    cell_i64(pg, res, r, 12, &iv.start_ms, err, errlen) != 0 ||
		    (iv.ended && cell_i64(pg, res, r, 13, &iv.end_ms, err, errlen) != 0) ||
		    (iv.exited && cell_int(pg, res, r, 14, &iv.exit_status, err, errlen) != 0)) {
			result = -1;
			break;
		}
		result = fn(&iv, ctx);
	}
	PQclear(res);
	return result;
}

int vxpu_ledger_pg_each_sample(struct vxpu_ledger_pg *pg, int64_t since_ms, int64_t until_ms,
			       vxpu_ledger_sample_fn fn, void *ctx, char *err, size_t errlen)
{
	if (!vxpu_ledger_pg_in_transaction(pg) && ready(pg, err, errlen) != 0)
		return -1;
	char since[24], until[24];
	snprintf(since, sizeof(since), "%" PRId64,
		 since_ms > INT64_MIN + VXPU_LEDGER_MINUTE_MS ? since_ms - VXPU_LEDGER_MINUTE_MS
							      : INT64_MIN);
	snprintf(until, sizeof(until), "%" PRId64, until_ms);
	const char *values[2] = {since, until};
	PGresult *res = run(pg, vxpu_ledger_sql_samples_window, 2, values, PGRES_TUPLES_OK,
			    "cannot read the samples", err, errlen);
	if (!res)
		return -1;
	int result = 0;
	for (int r = 0; r < PQntuples(res) && result == 0; r++) {
		struct vxpu_ledger_sample s = {.allocation_id = PQgetvalue(res, r, 0)};
		if (cell_int(pg, res, r, 1, &s.device_index, err, errlen) != 0 ||
		    cell_i64(pg, res, r, 2, &s.minute_ms, err, errlen) != 0 ||
		    cell_double(pg, res, r, 3, &s.used_memory_mib, err, errlen) != 0 ||
		    cell_double(pg, res, r, 4, &s.utilisation_percent, err, errlen) != 0) {
			result = -1;
			break;
		}
		result = fn(&s, ctx);
	}
	PQclear(res);
	return result;
}
