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
 * input and runs the transaction discipline here, then hands the
 * statements to whichever backend the ledger has (l->pg set or not), so
 * both backends refuse exactly the same inputs with the same messages.
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
			"invalid allocation id \"%s\": want 1..%d characters of A-Z a-z 0-9 . _ : -",
			iv->allocation_id ? shown(iv->allocation_id, b, sizeof(b)) : "(null)",
			VXPU_LEDGER_ID_MAX);
		return -1;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = *(const char *const *)((const char *)iv + names[i].offset);
		if (!vxpu_ledger_valid_name(v)) {
			set_err(err, errlen,
				"invalid %s \"%s\": want 1..%d characters, a letter, digit or _ first, "
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
			"invalid device uuid \"%s\": want 1..%d printable ASCII characters starting "
			"with a letter or digit",
			iv->device_uuid ? shown(iv->device_uuid, b, sizeof(b)) : "(null)",
			VXPU_LEDGER_DEVICE_MAX);
		return -1;
	}
	if (!valid_device_text(iv->device_model)) {
		set_err(err, errlen,
			"invalid device model \"%s\": want 1..%d printable ASCII characters starting "
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
		set_err(err, errlen, "invalid memory share %lld MiB: must be 1..%lld (the device's)",
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
	char name[8];
	snprintf(name, sizeof(name), "$%d", n);
	return sqlite3_bind_parameter_index(stmt, name);
}

static void bind_text(sqlite3_stmt *stmt, int n, const char *v)
{
	sqlite3_bind_text(stmt, param(stmt, n), v, -1, SQLITE_STATIC);
}

static void bind_i64(sqlite3_stmt *stmt, int n, int64_t v)
{
	sqlite3_bind_int64(stmt, param(stmt, n), v);
}

static void bind_double(sqlite3_stmt *stmt, int n, double v)
{
	sqlite3_bind_double(stmt, param(stmt, n), v);
}

static void bind_null(sqlite3_stmt *stmt, int n)
{
	sqlite3_bind_null(stmt, param(stmt, n));
}

static int exec(struct vxpu_ledger *l, const char *sql, const char *what, char *err,
		size_t errlen)
{
	if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(l, what, err, errlen);
		return -1;
	}
	return 0;
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
 * Reads the component's version: 0 and *version when found, 1 when the
 * component has no row, -1 on error.
 */
static int schema_version(struct vxpu_ledger *l, const char *component, int *version, char *err,
			  size_t errlen)
{
	sqlite3_stmt *stmt;
	if (prepare(l, vxpu_ledger_sql_schema_get, &stmt, err, errlen) != 0)
		return -1;
	bind_text(stmt, 1, component);
	int rc = sqlite3_step(stmt);
	int result;
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(stmt, 0);
		result = 0;
	} else if (rc == SQLITE_DONE) {
		result = 1;
	} else {
		db_err(l, "cannot read the schema version", err, errlen);
		result = -1;
	}
	sqlite3_finalize(stmt);
	return result;
}

/*
 * Classifies the file for component at version using only reads. Returns
 * 0 with *state, or -1 with a reason when the file must not be touched.
 * Engine-specific: sqlite_master is SQLite's catalogue.
 */
static int inspect(struct vxpu_ledger *l, const char *component, int version,
		   enum file_state *state, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	if (prepare(l,
		    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
		    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
		    &stmt, err, errlen) != 0)
		return -1;
	bool has_schema = false;
	int objects = 0;
	char first[128] = "";
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		if (strcmp(name, "vxpu_schema") == 0)
			has_schema = true;
		else if (objects++ == 0)
			snprintf(first, sizeof(first), "%s", name);
	}
	if (rc != SQLITE_DONE) {
		db_err(l, "cannot read the database", err, errlen);
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (!has_schema) {
		if (objects > 0) {
			set_err(err, errlen,
				"ledger %s: a SQLite database of another program (it has table \"%s\" "
				"and no vxpu_schema table); it was left untouched",
				l->path, first);
			return -1;
		}
		*state = FILE_EMPTY;
		return 0;
	}
	int found = 0;
	rc = schema_version(l, component, &found, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		*state = FILE_NO_LEDGER;
		return 0;
	}
	if (found > version) {
		set_err(err, errlen,
			"ledger %s: %s schema version %d is newer than this vxpu understands (%d); "
			"use a newer vxpu. The file was left untouched",
			l->path, component, found, version);
		return -1;
	}
	if (found < version) {
		set_err(err, errlen,
			"ledger %s: %s schema version %d is older than this vxpu's (%d) and cannot "
			"be migrated; the file was left untouched",
			l->path, component, found, version);
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
	if (l->pg)
		return vxpu_ledger_pg_ensure_component(l->pg, component, version, ddl, err, errlen);
	if (vxpu_ledger_in_transaction(l)) {
		set_err(err, errlen,
			"ledger %s: cannot create the %s tables inside an open transaction", l->path,
			component);
		return -1;
	}
	if (vxpu_ledger_begin(l, err, errlen) != 0)
		return -1;
	/* Under the write lock: whatever another process did before is visible. */
	enum file_state state;
	if (inspect(l, component, version, &state, err, errlen) != 0)
		goto fail;
	if (state != FILE_CURRENT) {
		char what[160];
		snprintf(what, sizeof(what), "cannot create the %s tables", component);
		if (exec(l, vxpu_ledger_sql_schema_table, what, err, errlen) != 0)
			goto fail;
		for (size_t i = 0; ddl[i]; i++)
			if (exec(l, ddl[i], what, err, errlen) != 0)
				goto fail;
		sqlite3_stmt *stmt;
		if (prepare(l, vxpu_ledger_sql_schema_set, &stmt, err, errlen) != 0)
			goto fail;
		bind_text(stmt, 1, component);
		bind_i64(stmt, 2, version);
		int rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE) {
			db_err(l, "cannot record the schema version", err, errlen);
			goto fail;
		}
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
		int rc = vxpu_ledger_pg_open(path, pl->path, mode, &pl->pg, err, errlen);
		if (rc != VXPU_LEDGER_OK) {
			free(pl);
			return rc;
		}
		*out = pl;
		return VXPU_LEDGER_OK;
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

	enum file_state state;
	if (inspect(l, VXPU_LEDGER_COMPONENT, VXPU_LEDGER_SCHEMA_VERSION, &state, err, errlen) !=
	    0)
		goto fail;
	if (mode == VXPU_LEDGER_OPEN_EXISTING) {
		if (state != FILE_CURRENT) {
			set_err(err, errlen, "ledger %s: has no ledger tables yet", path);
			vxpu_ledger_close(l);
			return VXPU_LEDGER_ABSENT;
		}
	} else {
		if (use_wal(l, err, errlen) != 0)
			goto fail;
		if (state != FILE_CURRENT) {
			const char *ddl[16];
			size_t n = vxpu_ledger_sql_v1_count;
			for (size_t i = 0; i < n; i++)
				ddl[i] = vxpu_ledger_sql_v1[i];
			ddl[n] = NULL;
			if (vxpu_ledger_ensure_component(l, VXPU_LEDGER_COMPONENT,
							 VXPU_LEDGER_SCHEMA_VERSION, ddl, err,
							 errlen) != 0)
				goto fail;
		}
	}
	*out = l;
	return VXPU_LEDGER_OK;
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
	if (l->pg)
		return write_end(l, own, vxpu_ledger_pg_interval_insert(l->pg, iv, err, errlen), err,
				 errlen);
	sqlite3_stmt *stmt;
	int rc = -1;
	if (prepare(l, vxpu_ledger_sql_interval_insert, &stmt, err, errlen) == 0) {
		bind_text(stmt, 1, iv->allocation_id);
		bind_i64(stmt, 2, iv->device_index);
		bind_text(stmt, 3, iv->node);
		bind_text(stmt, 4, iv->device_uuid);
		bind_text(stmt, 5, iv->device_model);
		bind_i64(stmt, 6, iv->device_memory_mib);
		bind_i64(stmt, 7, iv->memory_mib);
		bind_i64(stmt, 8, iv->compute_percent);
		bind_text(stmt, 9, iv->tenant);
		bind_text(stmt, 10, iv->project);
		bind_text(stmt, 11, iv->user);
		bind_text(stmt, 12, iv->command);
		bind_i64(stmt, 13, iv->start_ms);
		int step = sqlite3_step(stmt);
		if (step == SQLITE_DONE)
			rc = 0;
		else if (sqlite3_errcode(l->db) == SQLITE_CONSTRAINT)
			set_err(err, errlen,
				"ledger %s: allocation %s device %d is already recorded", l->path,
				iv->allocation_id, iv->device_index);
		else
			db_err(l, "cannot record the interval", err, errlen);
		sqlite3_finalize(stmt);
	}
	return write_end(l, own, rc, err, errlen);
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
	if (l->pg) {
		int prc = vxpu_ledger_pg_interval_end(l->pg, allocation_id, end_ms, exited,
						      exit_status, ended_count, err, errlen);
		prc = write_end(l, own, prc, err, errlen);
		if (prc != 0 && ended_count)
			*ended_count = 0;
		return prc;
	}
	int rc = -1;
	sqlite3_stmt *stmt = NULL;
	if (prepare(l, vxpu_ledger_sql_interval_open_start, &stmt, err, errlen) != 0)
		goto done;
	bind_text(stmt, 1, allocation_id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		db_err(l, "cannot read the interval", err, errlen);
		goto done;
	}
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) { /* nothing running */
		rc = 0;
		goto done;
	}
	int64_t start_ms = sqlite3_column_int64(stmt, 0);
	if (end_ms < start_ms) {
		set_err(err, errlen,
			"invalid end time %lld ms for allocation %s: before its start %lld ms",
			(long long)end_ms, allocation_id, (long long)start_ms);
		goto done;
	}
	sqlite3_finalize(stmt);
	if (prepare(l, vxpu_ledger_sql_interval_end, &stmt, err, errlen) != 0)
		goto done;
	bind_text(stmt, 1, allocation_id);
	bind_i64(stmt, 2, end_ms);
	if (exited)
		bind_i64(stmt, 3, exit_status);
	else
		bind_null(stmt, 3);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		db_err(l, "cannot end the interval", err, errlen);
		goto done;
	}
	if (ended_count)
		*ended_count = sqlite3_changes(l->db);
	rc = 0;
done:
	sqlite3_finalize(stmt);
	rc = write_end(l, own, rc, err, errlen);
	if (rc != 0 && ended_count)
		*ended_count = 0;
	return rc;
}

int vxpu_ledger_sample_record(struct vxpu_ledger *l, const struct vxpu_ledger_sample *s,
			      char *err, size_t errlen)
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
		set_err(err, errlen, "invalid used memory %g MiB: must be >= 0", s->used_memory_mib);
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
	if (l->pg)
		return write_end(l, own, vxpu_ledger_pg_sample_record(l->pg, s, err, errlen), err,
				 errlen);
	int rc = -1;
	sqlite3_stmt *stmt = NULL;
	if (prepare(l, vxpu_ledger_sql_interval_get, &stmt, err, errlen) != 0)
		goto done;
	bind_text(stmt, 1, s->allocation_id);
	bind_i64(stmt, 2, s->device_index);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_DONE) {
		set_err(err, errlen, "ledger %s: no interval for allocation %s device %d", l->path,
			s->allocation_id, s->device_index);
		goto done;
	}
	if (step != SQLITE_ROW) {
		db_err(l, "cannot read the interval", err, errlen);
		goto done;
	}
	int64_t start_ms = sqlite3_column_int64(stmt, 0);
	bool ended = sqlite3_column_type(stmt, 1) != SQLITE_NULL;
	int64_t end_ms = sqlite3_column_int64(stmt, 1);
	int64_t device_mib = sqlite3_column_int64(stmt, 2);
	if (s->minute_ms + VXPU_LEDGER_MINUTE_MS <= start_ms || (ended && s->minute_ms >= end_ms)) {
		set_err(err, errlen,
			"invalid sample minute %lld ms: outside allocation %s device %d, which ran "
			"from %lld ms to %s%lld ms",
			(long long)s->minute_ms, s->allocation_id, s->device_index,
			(long long)start_ms, ended ? "" : "(running) ",
			(long long)(ended ? end_ms : start_ms));
		goto done;
	}
	if (s->used_memory_mib > (double)device_mib) {
		set_err(err, errlen, "invalid used memory %g MiB: the device has %lld MiB",
			s->used_memory_mib, (long long)device_mib);
		goto done;
	}
	sqlite3_finalize(stmt);
	if (prepare(l, vxpu_ledger_sql_sample_upsert, &stmt, err, errlen) != 0)
		goto done;
	bind_text(stmt, 1, s->allocation_id);
	bind_i64(stmt, 2, s->device_index);
	bind_i64(stmt, 3, s->minute_ms);
	bind_double(stmt, 4, s->used_memory_mib);
	bind_double(stmt, 5, s->utilisation_percent);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		db_err(l, "cannot record the sample", err, errlen);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(stmt);
	return write_end(l, own, rc, err, errlen);
}

/* ---- reading ----------------------------------------------------------- */

/* A stored row read back from PostgreSQL passes the same checks as one read
 * from SQLite before the caller sees it. */
struct checked_walk {
	const struct vxpu_ledger *l;
	vxpu_ledger_interval_fn fn;
	void *ctx;
	char *err;
	size_t errlen;
};

static int checked_interval(const struct vxpu_ledger_interval *iv, void *ctx)
{
	struct checked_walk *w = ctx;
	if (check_interval(iv, w->err, w->errlen) != 0 || (iv->ended && iv->end_ms < iv->start_ms)) {
		char reason[512];
		snprintf(reason, sizeof(reason), "%s",
			 w->err && iv->end_ms >= iv->start_ms ? w->err : "it ends before it starts");
		set_err(w->err, w->errlen, "ledger %s: a stored interval is invalid: %s",
			w->l->path, reason);
		return -1;
	}
	return w->fn(iv, w->ctx);
}

static int each_interval(struct vxpu_ledger *l, const char *sql, bool window, int64_t since_ms,
			 int64_t until_ms, vxpu_ledger_interval_fn fn, void *ctx, char *err,
			 size_t errlen)
{
	if (l->pg) {
		struct checked_walk w = {l, fn, ctx, err, errlen};
		return vxpu_ledger_pg_each_interval(l->pg, !window, since_ms, until_ms,
						    checked_interval, &w, err, errlen);
	}
	sqlite3_stmt *stmt;
	if (prepare(l, sql, &stmt, err, errlen) != 0)
		return -1;
	if (window) {
		bind_i64(stmt, 1, since_ms);
		bind_i64(stmt, 2, until_ms);
	}
	int rc;
	int result = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct vxpu_ledger_interval iv = {
			.allocation_id = (const char *)sqlite3_column_text(stmt, 0),
			.device_index = sqlite3_column_int(stmt, 1),
			.node = (const char *)sqlite3_column_text(stmt, 2),
			.device_uuid = (const char *)sqlite3_column_text(stmt, 3),
			.device_model = (const char *)sqlite3_column_text(stmt, 4),
			.device_memory_mib = sqlite3_column_int64(stmt, 5),
			.memory_mib = sqlite3_column_int64(stmt, 6),
			.compute_percent = sqlite3_column_int(stmt, 7),
			.tenant = (const char *)sqlite3_column_text(stmt, 8),
			.project = (const char *)sqlite3_column_text(stmt, 9),
			.user = (const char *)sqlite3_column_text(stmt, 10),
			.command = (const char *)sqlite3_column_text(stmt, 11),
			.start_ms = sqlite3_column_int64(stmt, 12),
			.ended = sqlite3_column_type(stmt, 13) != SQLITE_NULL,
			.end_ms = sqlite3_column_int64(stmt, 13),
			.exited = sqlite3_column_type(stmt, 14) != SQLITE_NULL,
			.exit_status = sqlite3_column_int(stmt, 14),
		};
		/* Written only through check_interval, but the file is input too. */
		if (check_interval(&iv, err, errlen) != 0 || (iv.ended && iv.end_ms < iv.start_ms)) {
			char reason[512];
			snprintf(reason, sizeof(reason), "%s", err ? err : "");
			set_err(err, errlen, "ledger %s: a stored interval is invalid: %s", l->path,
				reason);
			result = -1;
			break;
		}
		result = fn(&iv, ctx);
		if (result != 0)
			break;
	}
	if (result == 0 && rc != SQLITE_DONE) {
		db_err(l, "cannot read the intervals", err, errlen);
		result = -1;
	}
	sqlite3_finalize(stmt);
	return result;
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

int vxpu_ledger_each_sample(struct vxpu_ledger *l, int64_t since_ms, int64_t until_ms,
			    vxpu_ledger_sample_fn fn, void *ctx, char *err, size_t errlen)
{
	if (l->pg)
		return vxpu_ledger_pg_each_sample(l->pg, since_ms, until_ms, fn, ctx, err, errlen);
	sqlite3_stmt *stmt;
	if (prepare(l, vxpu_ledger_sql_samples_window, &stmt, err, errlen) != 0)
		return -1;
	bind_i64(stmt, 1,
		 since_ms > INT64_MIN + VXPU_LEDGER_MINUTE_MS ? since_ms - VXPU_LEDGER_MINUTE_MS
							      : INT64_MIN);
	bind_i64(stmt, 2, until_ms);
	int rc;
	int result = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct vxpu_ledger_sample s = {
			.allocation_id = (const char *)sqlite3_column_text(stmt, 0),
			.device_index = sqlite3_column_int(stmt, 1),
			.minute_ms = sqlite3_column_int64(stmt, 2),
			.used_memory_mib = sqlite3_column_double(stmt, 3),
			.utilisation_percent = sqlite3_column_double(stmt, 4),
		};
		result = fn(&s, ctx);
		if (result != 0)
			break;
	}
	if (result == 0 && rc != SQLITE_DONE) {
		db_err(l, "cannot read the samples", err, errlen);
		result = -1;
	}
	sqlite3_finalize(stmt);
	return result;
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
