/*
 * ledger.c - the SQLite backend of the ledger (see ledger.h for the
 * contract, ledger_sql.c for every portable statement).
 *
 * Opening is a two-step affair so that a file that is not ours is never
 * written to: first a read-only inspection classifies the file (corrupt /
 * foreign / newer / ours / empty) with nothing but SELECTs; only a file
 * that is empty or already ours is then switched to WAL and, in one
 * BEGIN IMMEDIATE transaction, given the tables it lacks. The inspection is
 * repeated inside that transaction, because another process may have
 * initialised the file in between.
 *
 * Writes: each write call runs in its own BEGIN IMMEDIATE transaction,
 * unless the caller already opened one with vxpu_ledger_begin, in which
 * case the call joins it. BEGIN IMMEDIATE takes the write lock up front, so
 * two writers never both read-then-write and collide on upgrade (the
 * SQLITE_BUSY that busy_timeout cannot retry); the busy timeout then turns
 * contention into waiting.
 *
 * A path that is a postgres:// or postgresql:// URI opens the PostgreSQL
 * backend (ledger_pg.c) instead: every public function below validates its
 * input and runs the transaction discipline and the flow of the call here,
 * then hands each statement (struct vxpu_ledger_stmt, ledger_sql.h) to
 * whichever backend the ledger has (l->pg set or not): sqlite_run below or
 * vxpu_ledger_pg_run. Rows come back as typed cells and become structs
 * here, so both backends refuse exactly the same inputs and stored rows
 * with the same messages. Only SQLite's file handling (WAL, the catalogue
 * check) stays SQLite's; this file does not include libpq.
 */
#include "meter/ledger.h"

#include "meter/home.h"
#include "meter/ledger_pg.h"
#include "meter/ledger_sql.h"
#include "meter/utf8.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

struct vxpu_ledger {
	sqlite3 *db;               /* the SQLite backend, or NULL */
	struct vxpu_ledger_pg *pg; /* the PostgreSQL backend, or NULL */
	char path[4096];           /* the file, or the URI with its password masked */
};

/* ---- errors ------------------------------------------------------------ */

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

/* A reason for a failed SQLite call on this ledger, naming the file. */
static void db_err(const struct vxpu_ledger *l, const char *what, char *err, size_t errlen)
{
	int code = sqlite3_errcode(l->db);
	const char *hint = "";
	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		hint = " (the file is not a usable vxpu database; it was left untouched)";
	else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		hint = " (another process held the database lock for longer than the busy "
		       "timeout)";
	else if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM)
		hint = " (check the permissions of the file and its directory)";
	set_err(err, errlen, "ledger %s: %s: %s%s", l->path, what, sqlite3_errmsg(l->db), hint);
}

/* Copies a value for an error message: at most 64 bytes, non-printable
 * bytes as \xHH, so a hostile value cannot mess up a terminal. */
static const char *shown(const char *value, char *buf, size_t buflen)
{
	size_t o = 0;
	size_t i = 0;
	for (; i < 64 && value[i] && o + 5 < buflen; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (value[i] && o + 4 < buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- validation -------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool only_chars(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

bool vxpu_ledger_valid_id(const char *text)
{
	return text && only_chars(text, VXPU_LEDGER_ID_MAX, "._:-");
}

bool vxpu_ledger_valid_name(const char *text)
{
	return text && (is_alnum((unsigned char)text[0]) || text[0] == '_') &&
	       only_chars(text, VXPU_LEDGER_NAME_MAX, "_.@+-");
}

/* A host name; a letter or digit first (no CSV cell may start a formula). */
static bool valid_node(const char *text)
{
	return text && is_alnum((unsigned char)text[0]) &&
	       only_chars(text, VXPU_LEDGER_NODE_MAX, "._-");
}

/* Printable ASCII, starts with a letter or digit (so no cell of a CSV export
 * can start a spreadsheet formula), no trailing space. */
static bool valid_device_text(const char *text)
{
	if (!text)
		return false;
	size_t n = strlen(text);
	if (n == 0 || n > VXPU_LEDGER_DEVICE_MAX || !is_alnum((unsigned char)text[0]) ||
	    text[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			return false;
	return true;
}

/* Well-formed UTF-8 without control characters (C0, DEL, C1) but tab. */
static bool valid_command(const char *text)
{
	if (!text)
		return false;
	size_t n = strlen(text);
	if (n > VXPU_LEDGER_COMMAND_MAX || !vxpu_utf8_valid(text, n))
		return false;
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = 0; i < n; i++) {
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return false;
		/* C1 controls U+0080..U+009F are encoded as 0xc2 0x80..0x9f. */
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] < 0xa0)
			return false;
	}
	return true;
}

static int check_interval(const struct vxpu_ledger_interval *iv, char *err, size_t errlen)
{
	char b[400];
	static const struct {
		size_t offset;
		const char *field;
	} names[] = {
	        {offsetof(struct vxpu_ledger_interval, tenant), "tenant"},
	        {offsetof(struct vxpu_ledger_interval, project), "project"},
	        {offsetof(struct vxpu_ledger_interval, user), "user"},
	};
	if (!vxpu_ledger_valid_id(iv->allocation_id)) {
		set_err(err, errlen,
		        "invalid allocation id \"%s\": want 1..%d characters of A-Z a-z 0-9 . _ : "
		        "-",
		        iv->allocation_id ? shown(iv->allocation_id, b, sizeof(b)) : "(null)",
		        VXPU_LEDGER_ID_MAX);
		return -1;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = *(const char *const *)((const char *)iv + names[i].offset);
		if (!vxpu_ledger_valid_name(v)) {
			set_err(err, errlen,
			        "invalid %s \"%s\": want 1..%d characters, a letter, digit or _ "
			        "first, "
			        "then letters, digits and _ . @ + -",
			        names[i].field, v ? shown(v, b, sizeof(b)) : "(null)",
			        VXPU_LEDGER_NAME_MAX);
			return -1;
		}
	}
	if (!valid_node(iv->node)) {
		set_err(err, errlen, "invalid node \"%s\": want a host name of 1..%d characters",
		        iv->node ? shown(iv->node, b, sizeof(b)) : "(null)", VXPU_LEDGER_NODE_MAX);
		return -1;
	}
	if (!valid_device_text(iv->device_uuid)) {
		set_err(err, errlen,
		        "invalid device uuid \"%s\": want 1..%d printable ASCII characters "
		        "starting "
		        "with a letter or digit",
		        iv->device_uuid ? shown(iv->device_uuid, b, sizeof(b)) : "(null)",
		        VXPU_LEDGER_DEVICE_MAX);
		return -1;
	}
	if (!valid_device_text(iv->device_model)) {
		set_err(err, errlen,
		        "invalid device model \"%s\": want 1..%d printable ASCII characters "
		        "starting "
		        "with a letter or digit",
		        iv->device_model ? shown(iv->device_model, b, sizeof(b)) : "(null)",
		        VXPU_LEDGER_DEVICE_MAX);
		return -1;
	}
	if (!valid_command(iv->command)) {
		set_err(err, errlen,
		        "invalid command \"%s\": want at most %d bytes of UTF-8 without control "
		        "characters",
		        iv->command ? shown(iv->command, b, sizeof(b)) : "(null)",
		        VXPU_LEDGER_COMMAND_MAX);
		return -1;
	}
	if (iv->device_index < 0) {
		set_err(err, errlen, "invalid device index %d: must be >= 0", iv->device_index);
		return -1;
	}
	if (iv->device_memory_mib < 1) {
		set_err(err, errlen, "invalid device memory %lld MiB: must be >= 1",
		        (long long)iv->device_memory_mib);
		return -1;
	}
	if (iv->memory_mib < 1 || iv->memory_mib > iv->device_memory_mib) {
		set_err(err, errlen,
		        "invalid memory share %lld MiB: must be 1..%lld (the device's)",
		        (long long)iv->memory_mib, (long long)iv->device_memory_mib);
		return -1;
	}
	if (iv->compute_percent < 0 || iv->compute_percent > 100) {
		set_err(err, errlen, "invalid compute share %d%%: must be 0..100",
		        iv->compute_percent);
		return -1;
	}
	if (iv->start_ms < 0) {
		set_err(err, errlen, "invalid start time %lld ms: must be >= 0",
		        (long long)iv->start_ms);
		return -1;
	}
	return 0;
}

/* ---- statements -------------------------------------------------------- */

static int prepare(struct vxpu_ledger *l, const char *sql, sqlite3_stmt **stmt, char *err,
                   size_t errlen)
{
	if (sqlite3_prepare_v2(l->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		db_err(l, "cannot prepare a statement", err, errlen);
		*stmt = NULL;
		return -1;
	}
	return 0;
}

/* Parameters are written $1..$n (ledger_sql.h); SQLite knows them by name. */
static int param(sqlite3_stmt *stmt, int n)
{
	char name[16]; /* "$" and any int */
	snprintf(name, sizeof(name), "$%d", n);
	return sqlite3_bind_parameter_index(stmt, name);
}

/* The SQLite side of struct vxpu_ledger_stmt (ledger_pg.c has the other). */
static int sqlite_run(struct vxpu_ledger *l, struct vxpu_ledger_stmt *st, char *err, size_t errlen)
{
	st->rows = 0;
	st->changes = 0;
	st->conflict = false;
	sqlite3_stmt *stmt;
	if (prepare(l, st->sql, &stmt, err, errlen) != 0)
		return -1;
	for (int i = 0; i < st->nparams; i++) {
		const struct vxpu_ledger_value *p = &st->params[i];
		int n = param(stmt, i + 1);
		switch (p->kind) {
		case VXPU_LEDGER_KIND_NULL:
			sqlite3_bind_null(stmt, n);
			break;
		case VXPU_LEDGER_KIND_TEXT:
			sqlite3_bind_text(stmt, n, p->text, -1, SQLITE_STATIC);
			break;
		case VXPU_LEDGER_KIND_INT:
		case VXPU_LEDGER_KIND_I64:
			sqlite3_bind_int64(stmt, n, p->i64);
			break;
		case VXPU_LEDGER_KIND_DOUBLE:
			sqlite3_bind_double(stmt, n, p->real);
			break;
		}
	}
	int rc;
	int result = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int c = 0; c < st->ncells; c++) {
			struct vxpu_ledger_value *cell = &st->cells[c];
			/* The type first: a read may convert the value. */
			cell->null = sqlite3_column_type(stmt, c) == SQLITE_NULL;
			cell->text = NULL;
			cell->i64 = 0;
			cell->real = 0;
			if (cell->kind == VXPU_LEDGER_KIND_TEXT && !cell->null)
				cell->text = (const char *)sqlite3_column_text(stmt, c);
			else if (cell->kind == VXPU_LEDGER_KIND_INT)
				cell->i64 = sqlite3_column_int(stmt, c);
			else if (cell->kind == VXPU_LEDGER_KIND_I64)
				cell->i64 = sqlite3_column_int64(stmt, c);
			else if (cell->kind == VXPU_LEDGER_KIND_DOUBLE)
				cell->real = sqlite3_column_double(stmt, c);
		}
		st->rows++;
		if (st->fn && (result = st->fn(st->cells, st->ctx)) != 0)
			break;
	}
	if (result == 0 && rc != SQLITE_DONE) {
		st->conflict = sqlite3_errcode(l->db) == SQLITE_CONSTRAINT;
		db_err(l, st->what, err, errlen);
		result = -1;
	}
	if (result == 0 && st->ncells == 0)
		st->changes = sqlite3_changes(l->db);
	sqlite3_finalize(stmt);
	return result;
}

/* One statement on whichever backend the ledger has. */
static int run(struct vxpu_ledger *l, struct vxpu_ledger_stmt *st, char *err, size_t errlen)
{
	return l->pg ? vxpu_ledger_pg_run(l->pg, st, err, errlen) : sqlite_run(l, st, err, errlen);
}

static struct vxpu_ledger_value text_value(const char *v)
{
	return (struct vxpu_ledger_value){.kind = VXPU_LEDGER_KIND_TEXT, .text = v};
}

static struct vxpu_ledger_value i64_value(int64_t v)
{
	return (struct vxpu_ledger_value){.kind = VXPU_LEDGER_KIND_I64, .i64 = v};
}

static struct vxpu_ledger_value real_value(double v)
{
	return (struct vxpu_ledger_value){.kind = VXPU_LEDGER_KIND_DOUBLE, .real = v};
}

static int exec(struct vxpu_ledger *l, const char *sql, const char *what, char *err, size_t errlen)
{
	if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(l, what, err, errlen);
		return -1;
	}
	return 0;
}

/* A statement without parameters or rows (DDL) on either backend. */
static int command(struct vxpu_ledger *l, const char *sql, const char *what, char *err,
                   size_t errlen)
{
	if (!l->pg)
		return exec(l, sql, what, err, errlen);
	struct vxpu_ledger_stmt st = {.sql = sql, .what = what};
	return run(l, &st, err, errlen);
}

/* ---- transactions ------------------------------------------------------ */

bool vxpu_ledger_in_transaction(const struct vxpu_ledger *l)
{
	if (l->pg)
		return vxpu_ledger_pg_in_transaction(l->pg);
	return sqlite3_get_autocommit(l->db) == 0;
}

int vxpu_ledger_begin(struct vxpu_ledger *l, char *err, size_t errlen)
{
	if (vxpu_ledger_in_transaction(l)) {
		set_err(err, errlen, "ledger %s: a transaction is already open (they do not nest)",
		        l->path);
		return -1;
	}
	if (l->pg)
		return vxpu_ledger_pg_begin(l->pg, false, err, errlen);
	return exec(l, "BEGIN IMMEDIATE", "cannot start a write transaction", err, errlen);
}

int vxpu_ledger_begin_read(struct vxpu_ledger *l, char *err, size_t errlen)
{
	if (vxpu_ledger_in_transaction(l)) {
		set_err(err, errlen, "ledger %s: a transaction is already open (they do not nest)",
		        l->path);
		return -1;
	}
	if (l->pg)
		return vxpu_ledger_pg_begin(l->pg, true, err, errlen);
	return exec(l, "BEGIN", "cannot start a read transaction", err, errlen);
}

int vxpu_ledger_commit(struct vxpu_ledger *l, char *err, size_t errlen)
{
	if (l->pg)
		return vxpu_ledger_pg_commit(l->pg, err, errlen);
	if (exec(l, "COMMIT", "cannot commit", err, errlen) != 0) {
		vxpu_ledger_rollback(l);
		return -1;
	}
	return 0;
}

void vxpu_ledger_rollback(struct vxpu_ledger *l)
{
	if (l->pg) {
		vxpu_ledger_pg_rollback(l->pg);
		return;
	}
	if (vxpu_ledger_in_transaction(l))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A write call's own transaction, unless the caller already holds one. */
static int write_begin(struct vxpu_ledger *l, bool *own, char *err, size_t errlen)
{
	*own = !vxpu_ledger_in_transaction(l);
	return *own ? vxpu_ledger_begin(l, err, errlen) : 0;
}

static int write_end(struct vxpu_ledger *l, bool own, int rc, char *err, size_t errlen)
{
	if (!own)
		return rc;
	if (rc != 0) {
		vxpu_ledger_rollback(l);
		return rc;
	}
	return vxpu_ledger_commit(l, err, errlen);
}

struct sqlite3 *vxpu_ledger_sqlite(struct vxpu_ledger *l)
{
	return l->db; /* NULL for a PostgreSQL ledger */
}

const char *vxpu_ledger_path(const struct vxpu_ledger *l)
{
	return l->path;
}

/* ---- opening ----------------------------------------------------------- */

enum file_state {
	FILE_EMPTY,    /* no tables at all: ours to initialise */
	FILE_CURRENT,  /* a vxpu database whose ledger has our version */
	FILE_NO_LEDGER /* a vxpu database without the ledger's tables yet */
};

/*
 * Whether the SQLite file has a vxpu_schema table, using only reads; a file
 * with other tables and no vxpu_schema is another program's and refused.
 * Engine-specific: sqlite_master is SQLite's catalogue.
 */
static int sqlite_has_schema_table(struct vxpu_ledger *l, bool *has_schema, char *err,
                                   size_t errlen)
{
	sqlite3_stmt *stmt;
	if (prepare(l,
	            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
	            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
	            &stmt, err, errlen) != 0)
		return -1;
	*has_schema = false;
	int objects = 0;
	char first[128] = "";
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		if (strcmp(name, "vxpu_schema") == 0)
			*has_schema = true;
		else if (objects++ == 0)
			snprintf(first, sizeof(first), "%s", name);
	}
	if (rc != SQLITE_DONE) {
		db_err(l, "cannot read the database", err, errlen);
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (!*has_schema && objects > 0) {
		set_err(err, errlen,
		        "ledger %s: a SQLite database of another program (it has table \"%s\" "
		        "and no vxpu_schema table); it was left untouched",
		        l->path, first);
		return -1;
	}
	return 0;
}

/*
 * Classifies the database for component at version using only reads.
 * Returns 0 with *state, or -1 with a reason when it must not be touched.
 */
static int inspect(struct vxpu_ledger *l, const char *component, int version,
                   enum file_state *state, char *err, size_t errlen)
{
	bool has_schema;
	int rc = l->pg ? vxpu_ledger_pg_has_schema_table(l->pg, &has_schema, err, errlen)
	               : sqlite_has_schema_table(l, &has_schema, err, errlen);
	if (rc != 0)
		return -1;
	if (!has_schema) {
		*state = FILE_EMPTY;
		return 0;
	}
	struct vxpu_ledger_value key = text_value(component);
	struct vxpu_ledger_value found = {.kind = VXPU_LEDGER_KIND_INT};
	struct vxpu_ledger_stmt st = {
	        .sql = vxpu_ledger_sql_schema_get,
	        .what = "cannot read the schema version",
	        .params = &key,
	        .nparams = 1,
	        .cells = &found,
	        .ncells = 1,
	};
	if (run(l, &st, err, errlen) != 0)
		return -1;
	if (st.rows == 0) {
		*state = FILE_NO_LEDGER;
		return 0;
	}
	const char *kind = l->pg ? "database" : "file";
	int found_version = (int)found.i64;
	if (found_version > version) {
		set_err(err, errlen,
		        "ledger %s: %s schema version %d is newer than this vxpu understands (%d); "
		        "use a newer vxpu. The %s was left untouched",
		        l->path, component, found_version, version, kind);
		return -1;
	}
	if (found_version < version) {
		set_err(err, errlen,
		        "ledger %s: %s schema version %d is older than this vxpu's (%d) and cannot "
		        "be migrated; the %s was left untouched",
		        l->path, component, found_version, version, kind);
		return -1;
	}
	*state = FILE_CURRENT;
	return 0;
}

int vxpu_ledger_ensure_component(struct vxpu_ledger *l, const char *component, int version,
                                 const char *const *ddl, char *err, size_t errlen)
{
	if (!component || !component[0] || strlen(component) > 64 || version < 1) {
		set_err(err, errlen, "ledger %s: invalid component \"%s\" or version %d", l->path,
		        component ? component : "(null)", version);
		return -1;
	}
	if (vxpu_ledger_in_transaction(l)) {
		set_err(err, errlen,
		        "ledger %s: cannot create the %s tables inside an open transaction",
		        l->path, component);
		return -1;
	}
	if (vxpu_ledger_begin(l, err, errlen) != 0)
		return -1;
	char what[160];
	snprintf(what, sizeof(what), "cannot create the %s tables", component);
	/* SQLite's BEGIN IMMEDIATE already holds the write lock; PostgreSQL
	 * takes a schema lock. Under it, whatever another process did before
	 * is visible. */
	if (l->pg && vxpu_ledger_pg_lock_schema(l->pg, what, err, errlen) != 0)
		goto fail;
	enum file_state state;
	if (inspect(l, component, version, &state, err, errlen) != 0)
		goto fail;
	if (state != FILE_CURRENT) {
		if (command(l, vxpu_ledger_sql_schema_table, what, err, errlen) != 0)
			goto fail;
		for (size_t i = 0; ddl[i]; i++)
			if (command(l, ddl[i], what, err, errlen) != 0)
				goto fail;
		struct vxpu_ledger_value row[2] = {text_value(component), i64_value(version)};
		struct vxpu_ledger_stmt st = {
		        .sql = vxpu_ledger_sql_schema_set,
		        .what = "cannot record the schema version",
		        .params = row,
		        .nparams = 2,
		};
		if (run(l, &st, err, errlen) != 0)
			goto fail;
	}
	return vxpu_ledger_commit(l, err, errlen);
fail:
	vxpu_ledger_rollback(l);
	return -1;
}

/* Switches the file to WAL (persistent), waiting out other connections that
 * hold it open in the rollback journal mode at the same moment. */
static int use_wal(struct vxpu_ledger *l, char *err, size_t errlen)
{
	struct timespec pause = {0, 5L * 1000 * 1000};
	for (int waited_ms = 0;; waited_ms += 5) {
		sqlite3_stmt *stmt;
		if (prepare(l, "PRAGMA journal_mode=WAL", &stmt, err, errlen) != 0)
			return -1;
		int rc = sqlite3_step(stmt);
		bool wal = rc == SQLITE_ROW &&
		           strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0;
		sqlite3_finalize(stmt);
		if (wal)
			return 0;
		int code = sqlite3_errcode(l->db);
		if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) ||
		    waited_ms >= VXPU_LEDGER_BUSY_TIMEOUT_MS) {
			if (rc == SQLITE_ROW || rc == SQLITE_DONE)
				set_err(err, errlen, "ledger %s: the file system refuses WAL mode",
				        l->path);
			else
				db_err(l, "cannot switch to WAL mode", err, errlen);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

/* The directory part of path, for creating it. */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	size_t n = (size_t)(slash - path);
	if (n >= sizeof(dir)) {
		set_err(err, errlen, "ledger path \"%s\" is too long", path);
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (dir[0] != '/') /* relative: created as given */
		return 0;
	return vxpu_home_make_dirs(dir, err, errlen);
}

/* The second step of opening, on either backend: classify, then (mode
 * CREATE) create what is missing. Takes l; closes it unless it returns OK. */
static int open_tables(struct vxpu_ledger *l, enum vxpu_ledger_open_mode mode,
                       struct vxpu_ledger **out, char *err, size_t errlen)
{
	enum file_state state;
	if (inspect(l, VXPU_LEDGER_COMPONENT, VXPU_LEDGER_SCHEMA_VERSION, &state, err, errlen) != 0)
		goto fail;
	if (mode == VXPU_LEDGER_OPEN_EXISTING) {
		if (state != FILE_CURRENT) {
			set_err(err, errlen, "ledger %s: has no ledger tables yet", l->path);
			vxpu_ledger_close(l);
			return VXPU_LEDGER_ABSENT;
		}
	} else {
		if (!l->pg && use_wal(l, err, errlen) != 0)
			goto fail;
		if (state != FILE_CURRENT &&
		    vxpu_ledger_ensure_component(l, VXPU_LEDGER_COMPONENT,
		                                 VXPU_LEDGER_SCHEMA_VERSION, vxpu_ledger_sql_v1,
		                                 err, errlen) != 0)
			goto fail;
	}
	*out = l;
	return VXPU_LEDGER_OK;
fail:
	vxpu_ledger_close(l);
	return VXPU_LEDGER_FAILED;
}

int vxpu_ledger_open(const char *path, enum vxpu_ledger_open_mode mode, struct vxpu_ledger **out,
                     char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !path[0] || strlen(path) >= sizeof(((struct vxpu_ledger *)0)->path)) {
		set_err(err, errlen, "invalid ledger path \"%s\"", path ? path : "(null)");
		return VXPU_LEDGER_FAILED;
	}
	if (vxpu_ledger_pg_is_uri(path)) {
		struct vxpu_ledger *pl = calloc(1, sizeof(*pl));
		if (!pl) {
			set_err(err, errlen, "ledger: out of memory");
			return VXPU_LEDGER_FAILED;
		}
		vxpu_ledger_pg_shown_uri(path, pl->path, sizeof(pl->path));
		if (vxpu_ledger_pg_open(path, pl->path, &pl->pg, err, errlen) != 0) {
			free(pl);
			return VXPU_LEDGER_FAILED;
		}
		return open_tables(pl, mode, out, err, errlen);
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno != ENOENT) {
			set_err(err, errlen, "ledger %s: %s", path, strerror(errno));
			return VXPU_LEDGER_FAILED;
		}
		if (mode == VXPU_LEDGER_OPEN_EXISTING) {
			set_err(err, errlen, "ledger %s: does not exist yet", path);
			return VXPU_LEDGER_ABSENT;
		}
		if (make_parent(path, err, errlen) != 0)
			return VXPU_LEDGER_FAILED;
	} else if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "ledger %s: not a regular file", path);
		return VXPU_LEDGER_FAILED;
	}

	struct vxpu_ledger *l = calloc(1, sizeof(*l));
	if (!l) {
		set_err(err, errlen, "ledger %s: out of memory", path);
		return VXPU_LEDGER_FAILED;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (mode == VXPU_LEDGER_OPEN_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK) {
		if (l->db)
			db_err(l, "cannot open", err, errlen);
		else
			set_err(err, errlen, "ledger %s: cannot open: out of memory", path);
		goto fail;
	}
	sqlite3_extended_result_codes(l->db, 0);
	sqlite3_busy_timeout(l->db, VXPU_LEDGER_BUSY_TIMEOUT_MS);
	/* Per-connection settings; neither touches the file. */
	if (exec(l, "PRAGMA foreign_keys = ON", "cannot configure", err, errlen) != 0 ||
	    exec(l, "PRAGMA synchronous = FULL", "cannot configure", err, errlen) != 0)
		goto fail;
	return open_tables(l, mode, out, err, errlen);
fail:
	vxpu_ledger_close(l);
	return VXPU_LEDGER_FAILED;
}

void vxpu_ledger_close(struct vxpu_ledger *l)
{
	if (!l)
		return;
	if (l->pg) {
		vxpu_ledger_pg_close(l->pg);
		free(l);
		return;
	}
	vxpu_ledger_rollback(l);
	sqlite3_close_v2(l->db);
	free(l);
}

/* ---- writing ----------------------------------------------------------- */

int vxpu_ledger_interval_start(struct vxpu_ledger *l, const struct vxpu_ledger_interval *iv,
                               char *err, size_t errlen)
{
	if (check_interval(iv, err, errlen) != 0)
		return -1;
	bool own;
	if (write_begin(l, &own, err, errlen) != 0)
		return -1;
	struct vxpu_ledger_value row[13] = {
	        text_value(iv->allocation_id), i64_value(iv->device_index),
	        text_value(iv->node),          text_value(iv->device_uuid),
	        text_value(iv->device_model),  i64_value(iv->device_memory_mib),
	        i64_value(iv->memory_mib),     i64_value(iv->compute_percent),
	        text_value(iv->tenant),        text_value(iv->project),
	        text_value(iv->user),          text_value(iv->command),
	        i64_value(iv->start_ms),
	};
	struct vxpu_ledger_stmt st = {
	        .sql = vxpu_ledger_sql_interval_insert,
	        .what = "cannot record the interval",
	        .params = row,
	        .nparams = 13,
	};
	int rc = run(l, &st, err, errlen);
	if (rc != 0 && st.conflict)
		set_err(err, errlen, "ledger %s: allocation %s device %d is already recorded",
		        l->path, iv->allocation_id, iv->device_index);
	return write_end(l, own, rc, err, errlen);
}

/* The statements of vxpu_ledger_interval_end, inside its transaction. */
static int end_running(struct vxpu_ledger *l, const char *allocation_id, int64_t end_ms,
                       bool exited, int exit_status, int *ended_count, char *err, size_t errlen)
{
	struct vxpu_ledger_value key = text_value(allocation_id);
	struct vxpu_ledger_value start = {.kind = VXPU_LEDGER_KIND_I64};
	struct vxpu_ledger_stmt query = {
	        .sql = vxpu_ledger_sql_interval_open_start,
	        .what = "cannot read the interval",
	        .params = &key,
	        .nparams = 1,
	        .cells = &start,
	        .ncells = 1,
	};
	if (run(l, &query, err, errlen) != 0)
		return -1;
	if (query.rows == 0 || start.null) /* nothing running */
		return 0;
	if (end_ms < start.i64) {
		set_err(err, errlen,
		        "invalid end time %lld ms for allocation %s: before its start %lld ms",
		        (long long)end_ms, allocation_id, (long long)start.i64);
		return -1;
	}
	struct vxpu_ledger_value row[3] = {
	        key,
	        i64_value(end_ms),
	        exited ? i64_value(exit_status)
	               : (struct vxpu_ledger_value){.kind = VXPU_LEDGER_KIND_NULL},
	};
	struct vxpu_ledger_stmt end = {
	        .sql = vxpu_ledger_sql_interval_end,
	        .what = "cannot end the interval",
	        .params = row,
	        .nparams = 3,
	};
	if (run(l, &end, err, errlen) != 0)
		return -1;
	if (ended_count)
		*ended_count = (int)end.changes;
	return 0;
}

int vxpu_ledger_interval_end(struct vxpu_ledger *l, const char *allocation_id, int64_t end_ms,
                             bool exited, int exit_status, int *ended_count, char *err,
                             size_t errlen)
{
	char b[400];
	if (ended_count)
		*ended_count = 0;
	if (!vxpu_ledger_valid_id(allocation_id)) {
		set_err(err, errlen, "invalid allocation id \"%s\"",
		        allocation_id ? shown(allocation_id, b, sizeof(b)) : "(null)");
		return -1;
	}
	if (end_ms < 0) {
		set_err(err, errlen, "invalid end time %lld ms: must be >= 0", (long long)end_ms);
		return -1;
	}
	if (exited && (exit_status < 0 || exit_status > 255)) {
		set_err(err, errlen, "invalid exit status %d: must be 0..255", exit_status);
		return -1;
	}
	bool own;
	if (write_begin(l, &own, err, errlen) != 0)
		return -1;
	int rc = end_running(l, allocation_id, end_ms, exited, exit_status, ended_count, err,
	                     errlen);
	rc = write_end(l, own, rc, err, errlen);
	if (rc != 0 && ended_count)
		*ended_count = 0;
	return rc;
}

/* The statements of vxpu_ledger_sample_record, inside its transaction. */
static int record_sample(struct vxpu_ledger *l, const struct vxpu_ledger_sample *s, char *err,
                         size_t errlen)
{
	struct vxpu_ledger_value key[2] = {text_value(s->allocation_id),
	                                   i64_value(s->device_index)};
	struct vxpu_ledger_value span[3] = {
	        {.kind = VXPU_LEDGER_KIND_I64},
	        {.kind = VXPU_LEDGER_KIND_I64},
	        {.kind = VXPU_LEDGER_KIND_I64},
	};
	struct vxpu_ledger_stmt query = {
	        .sql = vxpu_ledger_sql_interval_get,
	        .what = "cannot read the interval",
	        .params = key,
	        .nparams = 2,
	        .cells = span,
	        .ncells = 3,
	};
	if (run(l, &query, err, errlen) != 0)
		return -1;
	if (query.rows == 0) {
		set_err(err, errlen, "ledger %s: no interval for allocation %s device %d", l->path,
		        s->allocation_id, s->device_index);
		return -1;
	}
	int64_t start_ms = span[0].i64;
	bool ended = !span[1].null;
	int64_t end_ms = span[1].i64;
	int64_t device_mib = span[2].i64;
	if (s->minute_ms + VXPU_LEDGER_MINUTE_MS <= start_ms || (ended && s->minute_ms >= end_ms)) {
		set_err(err, errlen,
		        "invalid sample minute %lld ms: outside allocation %s device %d, which ran "
		        "from %lld ms to %s%lld ms",
		        (long long)s->minute_ms, s->allocation_id, s->device_index,
		        (long long)start_ms, ended ? "" : "(running) ",
		        (long long)(ended ? end_ms : start_ms));
		return -1;
	}
	if (s->used_memory_mib > (double)device_mib) {
		set_err(err, errlen, "invalid used memory %g MiB: the device has %lld MiB",
		        s->used_memory_mib, (long long)device_mib);
		return -1;
	}
	struct vxpu_ledger_value row[5] = {
	        key[0],
	        key[1],
	        i64_value(s->minute_ms),
	        real_value(s->used_memory_mib),
	        real_value(s->utilisation_percent),
	};
	struct vxpu_ledger_stmt upsert = {
	        .sql = vxpu_ledger_sql_sample_upsert,
	        .what = "cannot record the sample",
	        .params = row,
	        .nparams = 5,
	};
	return run(l, &upsert, err, errlen);
}

int vxpu_ledger_sample_record(struct vxpu_ledger *l, const struct vxpu_ledger_sample *s, char *err,
                              size_t errlen)
{
	char b[400];
	if (!vxpu_ledger_valid_id(s->allocation_id)) {
		set_err(err, errlen, "invalid allocation id \"%s\"",
		        s->allocation_id ? shown(s->allocation_id, b, sizeof(b)) : "(null)");
		return -1;
	}
	if (s->device_index < 0) {
		set_err(err, errlen, "invalid device index %d: must be >= 0", s->device_index);
		return -1;
	}
	if (s->minute_ms < 0 || s->minute_ms % VXPU_LEDGER_MINUTE_MS != 0) {
		set_err(err, errlen, "invalid sample minute %lld ms: must be a whole UTC minute",
		        (long long)s->minute_ms);
		return -1;
	}
	if (!isfinite(s->used_memory_mib) || s->used_memory_mib < 0) {
		set_err(err, errlen, "invalid used memory %g MiB: must be >= 0",
		        s->used_memory_mib);
		return -1;
	}
	if (!isfinite(s->utilisation_percent) || s->utilisation_percent < 0 ||
	    s->utilisation_percent > 100) {
		set_err(err, errlen, "invalid utilisation %g%%: must be 0..100",
		        s->utilisation_percent);
		return -1;
	}
	bool own;
	if (write_begin(l, &own, err, errlen) != 0)
		return -1;
	return write_end(l, own, record_sample(l, s, err, errlen), err, errlen);
}

/* ---- reading ----------------------------------------------------------- */

/* The columns of vxpu_ledger_sql_intervals_window / _running, in order. */
static const enum vxpu_ledger_kind interval_kinds[] = {
        VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_INT,  VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_TEXT,
        VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_I64,  VXPU_LEDGER_KIND_I64,  VXPU_LEDGER_KIND_INT,
        VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_TEXT, VXPU_LEDGER_KIND_TEXT,
        VXPU_LEDGER_KIND_I64,  VXPU_LEDGER_KIND_I64,  VXPU_LEDGER_KIND_INT,
};
#define INTERVAL_CELLS ((int)(sizeof(interval_kinds) / sizeof(interval_kinds[0])))

struct interval_walk {
	const struct vxpu_ledger *l;
	vxpu_ledger_interval_fn fn;
	void *ctx;
	char *err;
	size_t errlen;
};

static int interval_row(const struct vxpu_ledger_value *c, void *ctx)
{
	struct interval_walk *w = ctx;
	struct vxpu_ledger_interval iv = {
	        .allocation_id = c[0].text,
	        .device_index = (int)c[1].i64,
	        .node = c[2].text,
	        .device_uuid = c[3].text,
	        .device_model = c[4].text,
	        .device_memory_mib = c[5].i64,
	        .memory_mib = c[6].i64,
	        .compute_percent = (int)c[7].i64,
	        .tenant = c[8].text,
	        .project = c[9].text,
	        .user = c[10].text,
	        .command = c[11].text,
	        .start_ms = c[12].i64,
	        .ended = !c[13].null,
	        .end_ms = c[13].i64,
	        .exited = !c[14].null,
	        .exit_status = (int)c[14].i64,
	};
	/* Written only through check_interval, but the database is input too. */
	char reason[512];
	const char *bad = NULL;
	if (check_interval(&iv, reason, sizeof(reason)) != 0)
		bad = reason;
	else if (iv.ended && iv.end_ms < iv.start_ms)
		bad = "it ends before it starts";
	if (bad) {
		set_err(w->err, w->errlen, "ledger %s: a stored interval is invalid: %s",
		        w->l->path, bad);
		return -1;
	}
	return w->fn(&iv, w->ctx);
}

static int each_interval(struct vxpu_ledger *l, const char *sql, bool window, int64_t since_ms,
                         int64_t until_ms, vxpu_ledger_interval_fn fn, void *ctx, char *err,
                         size_t errlen)
{
	struct vxpu_ledger_value bounds[2] = {i64_value(since_ms), i64_value(until_ms)};
	struct vxpu_ledger_value cells[INTERVAL_CELLS];
	for (int i = 0; i < INTERVAL_CELLS; i++)
		cells[i] = (struct vxpu_ledger_value){.kind = interval_kinds[i]};
	struct interval_walk w = {l, fn, ctx, err, errlen};
	struct vxpu_ledger_stmt st = {
	        .sql = sql,
	        .what = "cannot read the intervals",
	        .params = bounds,
	        .nparams = window ? 2 : 0,
	        .cells = cells,
	        .ncells = INTERVAL_CELLS,
	        .fn = interval_row,
	        .ctx = &w,
	};
	return run(l, &st, err, errlen);
}

int vxpu_ledger_each_interval(struct vxpu_ledger *l, int64_t since_ms, int64_t until_ms,
                              vxpu_ledger_interval_fn fn, void *ctx, char *err, size_t errlen)
{
	return each_interval(l, vxpu_ledger_sql_intervals_window, true, since_ms, until_ms, fn, ctx,
	                     err, errlen);
}

int vxpu_ledger_each_running(struct vxpu_ledger *l, vxpu_ledger_interval_fn fn, void *ctx,
                             char *err, size_t errlen)
{
	return each_interval(l, vxpu_ledger_sql_intervals_running, false, 0, 0, fn, ctx, err,
	                     errlen);
}

struct sample_walk {
	vxpu_ledger_sample_fn fn;
	void *ctx;
};

static int sample_row(const struct vxpu_ledger_value *c, void *ctx)
{
	struct sample_walk *w = ctx;
	struct vxpu_ledger_sample s = {
	        .allocation_id = c[0].text,
	        .device_index = (int)c[1].i64,
	        .minute_ms = c[2].i64,
	        .used_memory_mib = c[3].real,
	        .utilisation_percent = c[4].real,
	};
	return w->fn(&s, w->ctx);
}

int vxpu_ledger_each_sample(struct vxpu_ledger *l, int64_t since_ms, int64_t until_ms,
                            vxpu_ledger_sample_fn fn, void *ctx, char *err, size_t errlen)
{
	/* The minute that starts before since_ms still overlaps it; the
	 * subtraction is done here (ledger_sql.c says why). */
	struct vxpu_ledger_value bounds[2] = {
	        i64_value(since_ms > INT64_MIN + VXPU_LEDGER_MINUTE_MS
	                          ? since_ms - VXPU_LEDGER_MINUTE_MS
	                          : INT64_MIN),
	        i64_value(until_ms),
	};
	struct vxpu_ledger_value cells[5] = {
	        {.kind = VXPU_LEDGER_KIND_TEXT},   {.kind = VXPU_LEDGER_KIND_INT},
	        {.kind = VXPU_LEDGER_KIND_I64},    {.kind = VXPU_LEDGER_KIND_DOUBLE},
	        {.kind = VXPU_LEDGER_KIND_DOUBLE},
	};
	struct sample_walk w = {fn, ctx};
	struct vxpu_ledger_stmt st = {
	        .sql = vxpu_ledger_sql_samples_window,
	        .what = "cannot read the samples",
	        .params = bounds,
	        .nparams = 2,
	        .cells = cells,
	        .ncells = 5,
	        .fn = sample_row,
	        .ctx = &w,
	};
	return run(l, &st, err, errlen);
}

/* ---- helpers ----------------------------------------------------------- */

int64_t vxpu_ledger_minute_of(int64_t unix_ms)
{
	return unix_ms - unix_ms % VXPU_LEDGER_MINUTE_MS;
}

int vxpu_ledger_new_id(char *id, size_t idlen, char *err, size_t errlen)
{
	unsigned char raw[16];
	if (idlen < 2 * sizeof(raw) + 1) {
		set_err(err, errlen, "allocation id buffer too small");
		return -1;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		set_err(err, errlen, "cannot read random bytes: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return 0;
}
