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
	return path &&
	       (strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0);
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
static int cell_i64(struct vxpu_ledger_pg *pg, const PGresult *res, int row, int col, int64_t *out,
                    char *err, size_t errlen)
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
	return read_only
	               ? run_command(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	                             "cannot start a read transaction", err, errlen)
	               : run_command(pg, "BEGIN", "cannot start a write transaction", err, errlen);
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

int vxpu_ledger_pg_lock_schema(struct vxpu_ledger_pg *pg, const char *what, char *err,
                               size_t errlen)
{
	/* Another process creating the same tables waits here, then sees them. */
	PGresult *lock = run(pg, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL,
	                     PGRES_TUPLES_OK, what, err, errlen);
	PQclear(lock);
	return lock ? 0 : -1;
}

int vxpu_ledger_pg_has_schema_table(struct vxpu_ledger_pg *pg, bool *has, char *err, size_t errlen)
{
	PGresult *res = run(pg, "SELECT to_regclass('vxpu_schema') IS NOT NULL", 0, NULL,
	                    PGRES_TUPLES_OK, "cannot read the catalogue", err, errlen);
	if (!res)
		return -1;
	*has = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

/* ---- opening ----------------------------------------------------------- */

int vxpu_ledger_pg_open(const char *uri, const char *shown, struct vxpu_ledger_pg **out, char *err,
                        size_t errlen)
{
	*out = NULL;
	struct vxpu_ledger_pg *pg = calloc(1, sizeof(*pg));
	if (!pg) {
		set_err(err, errlen, "ledger %s: out of memory", shown);
		return -1;
	}
	snprintf(pg->shown, sizeof(pg->shown), "%s", shown);
	/* The URI comes last so that its own settings override the defaults. */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const values[] = {CONNECT_TIMEOUT_S, "vxpu", uri, NULL};
	pg->conn = PQconnectdbParams(keys, values, 1);
	if (!pg->conn) {
		set_err(err, errlen, "ledger %s: cannot connect: out of memory", shown);
		free(pg);
		return -1;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		conn_err(pg, "cannot connect", err, errlen);
		vxpu_ledger_pg_close(pg);
		return -1;
	}
	PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
	*out = pg;
	return 0;
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

/* ---- statements -------------------------------------------------------- */

/* Parses one cell of the result as its kind asks, strictly. */
static int read_cell(struct vxpu_ledger_pg *pg, const PGresult *res, int row, int col,
                     struct vxpu_ledger_value *cell, char *err, size_t errlen)
{
	cell->null = PQgetisnull(res, row, col) != 0;
	cell->text = NULL;
	cell->i64 = 0;
	cell->real = 0;
	if (cell->null)
		return 0;
	switch (cell->kind) {
	case VXPU_LEDGER_KIND_TEXT:
		cell->text = PQgetvalue(res, row, col);
		return 0;
	case VXPU_LEDGER_KIND_INT: {
		int v;
		if (cell_int(pg, res, row, col, &v, err, errlen) != 0)
			return -1;
		cell->i64 = v;
		return 0;
	}
	case VXPU_LEDGER_KIND_I64:
		return cell_i64(pg, res, row, col, &cell->i64, err, errlen);
	case VXPU_LEDGER_KIND_DOUBLE:
		return cell_double(pg, res, row, col, &cell->real, err, errlen);
	case VXPU_LEDGER_KIND_NULL:
		break;
	}
	return 0;
}

int vxpu_ledger_pg_run(struct vxpu_ledger_pg *pg, struct vxpu_ledger_stmt *st, char *err,
                       size_t errlen)
{
	st->rows = 0;
	st->changes = 0;
	st->conflict = false;
	if (!vxpu_ledger_pg_in_transaction(pg) && ready(pg, err, errlen) != 0)
		return -1;
	/* Parameters travel as text; PostgreSQL infers their types. */
	enum { MAX_PARAMS = 16 };
	char text[MAX_PARAMS][40];
	const char *values[MAX_PARAMS];
	if (st->nparams > MAX_PARAMS) {
		set_err(err, errlen, "ledger %s: %s: too many parameters", pg->shown, st->what);
		return -1;
	}
	for (int i = 0; i < st->nparams; i++) {
		const struct vxpu_ledger_value *p = &st->params[i];
		values[i] = text[i];
		switch (p->kind) {
		case VXPU_LEDGER_KIND_NULL:
			values[i] = NULL;
			break;
		case VXPU_LEDGER_KIND_TEXT:
			values[i] = p->text;
			break;
		case VXPU_LEDGER_KIND_INT:
		case VXPU_LEDGER_KIND_I64:
			snprintf(text[i], sizeof(text[i]), "%" PRId64, p->i64);
			break;
		case VXPU_LEDGER_KIND_DOUBLE:
			snprintf(text[i], sizeof(text[i]), "%.17g", p->real);
			break;
		}
	}
	ExecStatusType want = st->ncells > 0 ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
	PGresult *res = PQexecParams(pg->conn, st->sql, st->nparams, NULL, values, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != want) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		st->conflict = state && strcmp(state, SQLSTATE_UNIQUE) == 0;
		result_err(pg, res, st->what, err, errlen);
		PQclear(res);
		return -1;
	}
	int result = 0;
	if (st->ncells == 0)
		st->changes = atoi(PQcmdTuples(res));
	for (int r = 0; r < PQntuples(res) && st->ncells > 0 && result == 0; r++) {
		for (int c = 0; c < st->ncells && result == 0; c++)
			if (read_cell(pg, res, r, c, &st->cells[c], err, errlen) != 0)
				result = -1;
		if (result != 0)
			break;
		st->rows++;
		if (st->fn)
			result = st->fn(st->cells, st->ctx);
	}
	PQclear(res);
	return result;
}
