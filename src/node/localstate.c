/*
 * localstate.c - live allocations, their shares and the wait queue of the
 * single-machine mode (see localstate.h), and exact liveness through OFD
 * lock files.
 *
 * The SQL is plain and portable (TEXT, INTEGER, no SQLite-only clauses in
 * the schema), like the ledger's, so the same tables can move to the
 * cluster's PostgreSQL ledger if the node agent ever needs them there.
 */
#include "node/localstate.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const local_ddl[] = {
        "CREATE TABLE local_allocations ("
        " id TEXT PRIMARY KEY,"
        " owner_pid INTEGER NOT NULL,"
        " start_ms INTEGER NOT NULL,"
        " lock_path TEXT NOT NULL,"
        " region_path TEXT NOT NULL,"
        " tenant TEXT NOT NULL,"
        " project TEXT NOT NULL,"
        " user_name TEXT NOT NULL,"
        " priority TEXT NOT NULL,"
        " command TEXT NOT NULL)",
        "CREATE TABLE local_shares ("
        " allocation_id TEXT NOT NULL REFERENCES local_allocations(id),"
        " device_index INTEGER NOT NULL,"
        " device_uuid TEXT NOT NULL,"
        " memory_mib INTEGER NOT NULL,"
        " compute_units INTEGER NOT NULL,"
        " exclusive INTEGER NOT NULL,"
        " template_index INTEGER NOT NULL,"
        " PRIMARY KEY (allocation_id, device_index))",
        "CREATE TABLE local_queue ("
        " ticket INTEGER PRIMARY KEY,"
        " owner_pid INTEGER NOT NULL,"
        " lock_path TEXT NOT NULL,"
        " enqueued_ms INTEGER NOT NULL)",
        NULL,
};

const char *const *vxpu_local_ddl(void)
{
	return local_ddl;
}

static int db_fail(struct sqlite3 *db, const char *what, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "local state: %s: %s", what, sqlite3_errmsg(db));
	return -1;
}

/* Runs one statement to completion; returns 0 or -1. */
static int step_done(struct sqlite3 *db, sqlite3_stmt *st, const char *what, char *err,
                     size_t errlen)
{
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : db_fail(db, what, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

int vxpu_local_insert(struct sqlite3 *db, const struct vxpu_local_alloc *a, char *err,
                      size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO local_allocations (id, owner_pid, start_ms, lock_path,"
	                       " region_path, tenant, project, user_name, priority, command)"
	                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "insert allocation", err, errlen);
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->owner_pid);
	sqlite3_bind_int64(st, 3, a->start_ms);
	sqlite3_bind_text(st, 4, a->lock_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->region_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->project, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, a->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, a->priority, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, a->command, -1, SQLITE_STATIC);
	if (step_done(db, st, "insert allocation", err, errlen) != 0)
		return -1;
	for (uint32_t i = 0; i < a->nshares; i++) {
		const struct vxpu_local_share *s = &a->shares[i];
		if (sqlite3_prepare_v2(
		            db,
		            "INSERT INTO local_shares (allocation_id, device_index, device_uuid,"
		            " memory_mib, compute_units, exclusive, template_index)"
		            " VALUES (?, ?, ?, ?, ?, ?, ?)",
		            -1, &st, NULL) != SQLITE_OK)
			return db_fail(db, "insert share", err, errlen);
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, s->device_index);
		sqlite3_bind_text(st, 3, s->device_uuid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)s->memory_mib);
		sqlite3_bind_int64(st, 5, s->compute_units);
		sqlite3_bind_int(st, 6, s->exclusive ? 1 : 0);
		sqlite3_bind_int(st, 7, s->template_index);
		if (step_done(db, st, "insert share", err, errlen) != 0)
			return -1;
	}
	return 0;
}

int vxpu_local_delete(struct sqlite3 *db, const char *id, char *err, size_t errlen)
{
	static const char *const sql[] = {
	        "DELETE FROM local_shares WHERE allocation_id = ?",
	        "DELETE FROM local_allocations WHERE id = ?",
	};
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return db_fail(db, "delete allocation", err, errlen);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (step_done(db, st, "delete allocation", err, errlen) != 0)
			return -1;
	}
	return 0;
}

static void column_copy(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static int load_shares(struct sqlite3 *db, struct vxpu_local_alloc *a, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(
	            db,
	            "SELECT device_index, device_uuid, memory_mib, compute_units, exclusive,"
	            " template_index FROM local_shares WHERE allocation_id = ?"
	            " ORDER BY device_index",
	            -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "read shares", err, errlen);
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	a->nshares = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && a->nshares < VXPU_LOCAL_MAX_SHARES) {
		struct vxpu_local_share *s = &a->shares[a->nshares++];
		s->device_index = sqlite3_column_int(st, 0);
		column_copy(st, 1, s->device_uuid, sizeof(s->device_uuid));
		s->memory_mib = (uint64_t)sqlite3_column_int64(st, 2);
		s->compute_units = (uint32_t)sqlite3_column_int64(st, 3);
		s->exclusive = sqlite3_column_int(st, 4) != 0;
		s->template_index = sqlite3_column_int(st, 5);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, "read shares", err, errlen);
	return 0;
}

int vxpu_local_each(struct sqlite3 *db, vxpu_local_alloc_fn fn, void *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(
	            db,
	            "SELECT id, owner_pid, start_ms, lock_path, region_path, tenant, project,"
	            " user_name, priority, command FROM local_allocations ORDER BY start_ms, id",
	            -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "read allocations", err, errlen);
	static struct vxpu_local_alloc a; /* large; callers never nest */
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		column_copy(st, 0, a.id, sizeof(a.id));
		a.owner_pid = sqlite3_column_int64(st, 1);
		a.start_ms = sqlite3_column_int64(st, 2);
		column_copy(st, 3, a.lock_path, sizeof(a.lock_path));
		column_copy(st, 4, a.region_path, sizeof(a.region_path));
		column_copy(st, 5, a.tenant, sizeof(a.tenant));
		column_copy(st, 6, a.project, sizeof(a.project));
		column_copy(st, 7, a.user, sizeof(a.user));
		column_copy(st, 8, a.priority, sizeof(a.priority));
		column_copy(st, 9, a.command, sizeof(a.command));
		if (load_shares(db, &a, err, errlen) != 0) {
			ret = -1;
			break;
		}
		ret = fn(&a, ctx);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = db_fail(db, "read allocations", err, errlen);
	sqlite3_finalize(st);
	return ret;
}

int vxpu_local_queue_push(struct sqlite3 *db, int64_t pid, const char *lock_path, int64_t now_ms,
                          int64_t *ticket, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(
	            db,
	            "INSERT INTO local_queue (ticket, owner_pid, lock_path, enqueued_ms)"
	            " VALUES ((SELECT COALESCE(MAX(ticket), 0) + 1 FROM local_queue), ?, ?, ?)",
	            -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "queue", err, errlen);
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_text(st, 2, lock_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	if (step_done(db, st, "queue", err, errlen) != 0)
		return -1;
	*ticket = sqlite3_last_insert_rowid(db);
	return 0;
}

int vxpu_local_queue_remove(struct sqlite3 *db, int64_t ticket, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "DELETE FROM local_queue WHERE ticket = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(db, "dequeue", err, errlen);
	sqlite3_bind_int64(st, 1, ticket);
	return step_done(db, st, "dequeue", err, errlen);
}

int vxpu_local_queue_scan(struct sqlite3 *db, int64_t mine, int64_t *head, int *ahead, char *err,
                          size_t errlen)
{
	enum { SCAN_MAX = 4096 };
	static int64_t dead[SCAN_MAX];
	int ndead = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT ticket, lock_path FROM local_queue ORDER BY ticket", -1,
	                       &st, NULL) != SQLITE_OK)
		return db_fail(db, "read queue", err, errlen);
	*head = 0;
	*ahead = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 0);
		const char *lock = (const char *)sqlite3_column_text(st, 1);
		if (t != mine && vxpu_lockfile_held(lock ? lock : "") == 0) {
			if (ndead < SCAN_MAX)
				dead[ndead++] = t;
			continue;
		}
		if (*head == 0)
			*head = t;
		if (mine != 0 && t < mine)
			(*ahead)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, "read queue", err, errlen);
	for (int i = 0; i < ndead; i++)
		if (vxpu_local_queue_remove(db, dead[i], err, errlen) != 0)
			return -1;
	return 0;
}

static struct flock whole_file_lock(short type)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1; /* one byte is enough: only owner vs. nobody matters */
	return fl;
}

int vxpu_lockfile_hold(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (err && errlen)
			snprintf(err, errlen, "cannot create lock file %s: %s", path,
			         strerror(errno));
		return -1;
	}
	struct flock fl = whole_file_lock(F_WRLCK);
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		if (err && errlen)
			snprintf(err, errlen, "lock file %s is held by another process", path);
		close(fd);
		return -1;
	}
	return fd;
}

int vxpu_lockfile_held(const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct flock fl = whole_file_lock(F_WRLCK);
	int held;
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		held = -1;
	else
		held = fl.l_type != F_UNLCK;
	close(fd);
	return held;
}
