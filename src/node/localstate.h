/*
 * localstate.h - the single-machine allocation state of `vxpu run`: which
 * allocations are live, what they hold on which device, who owns them, and
 * the FIFO queue of runs waiting for room.
 *
 * The tables live in the same SQLite file as the usage ledger (component
 * "local", version VXPU_LOCAL_SCHEMA_VERSION), so that an allocation and its
 * ledger intervals commit in one transaction. This file only runs
 * statements on a connection the caller owns (and has put in a write
 * transaction where it says so); it never opens or migrates the database.
 *
 * Liveness is exact, never a timeout guess: every live allocation and every
 * queue ticket names a lock file on which its owner holds an OFD write lock
 * for as long as it lives. The kernel drops that lock when the last process
 * holding the open file description dies (SIGKILL included), so anyone who
 * can take the lock knows the owner is gone and may reclaim its entry. The
 * owner's descriptor is inherited by the workload it starts, so an
 * allocation stays held while either `vxpu run` or its command is alive.
 */
#ifndef VXPU_NODE_LOCALSTATE_H
#define VXPU_NODE_LOCALSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#define VXPU_LOCAL_COMPONENT "local"
#define VXPU_LOCAL_SCHEMA_VERSION 1
#define VXPU_LOCAL_MAX_SHARES 32
#define VXPU_LOCAL_TEXT_MAX 256
#define VXPU_LOCAL_PATH_MAX 1024

/* The DDL of the local tables (NULL-terminated), for the ledger's
 * vxpu_ledger_ensure_component. */
const char *const *vxpu_local_ddl(void);

struct vxpu_local_share {
	int device_index; /* the device's index on this machine */
	char device_uuid[96];
	uint64_t memory_mib;
	uint32_t compute_units; /* of the device's units (100 = whole device) */
	bool exclusive;
	int template_index; /* vendor slice template, -1 = none */
};

struct vxpu_local_alloc {
	char id[72];
	int64_t owner_pid;
	int64_t start_ms;
	char lock_path[VXPU_LOCAL_PATH_MAX];
	char region_path[VXPU_LOCAL_PATH_MAX];
	char tenant[VXPU_LOCAL_TEXT_MAX];
	char project[VXPU_LOCAL_TEXT_MAX];
	char user[VXPU_LOCAL_TEXT_MAX];
	char priority[16];
	char command[VXPU_LOCAL_TEXT_MAX * 4];
	uint32_t nshares;
	struct vxpu_local_share shares[VXPU_LOCAL_MAX_SHARES];
};

/* Inserts a live allocation and its shares (caller's transaction). */
int vxpu_local_insert(struct sqlite3 *db, const struct vxpu_local_alloc *a, char *err,
                      size_t errlen);

/* Deletes an allocation and its shares; deleting a missing one is fine. */
int vxpu_local_delete(struct sqlite3 *db, const char *id, char *err, size_t errlen);

/* Calls fn for every live allocation, ordered by start time then id.
 * fn returns 0 to go on; a non-zero return stops and is returned. */
typedef int (*vxpu_local_alloc_fn)(const struct vxpu_local_alloc *a, void *ctx);
int vxpu_local_each(struct sqlite3 *db, vxpu_local_alloc_fn fn, void *ctx, char *err,
                    size_t errlen);

/* ---- the wait queue ---- */

/* Appends a ticket owned by the holder of lock_path; sets *ticket. */
int vxpu_local_queue_push(struct sqlite3 *db, int64_t pid, const char *lock_path, int64_t now_ms,
                          int64_t *ticket, char *err, size_t errlen);
int vxpu_local_queue_remove(struct sqlite3 *db, int64_t ticket, char *err, size_t errlen);
/* Removes tickets whose owners are dead; sets *head to the oldest live
 * ticket (0 when empty) and *ahead to the number of live tickets before
 * mine (mine = 0: not counted). */
int vxpu_local_queue_scan(struct sqlite3 *db, int64_t mine, int64_t *head, int *ahead, char *err,
                          size_t errlen);

/* ---- lock files ---- */

/*
 * Creates (0600) or opens path and takes an OFD write lock on it without
 * waiting. Returns the descriptor (kept open by the caller for as long as
 * it owns the entry; not close-on-exec, so the workload inherits it), or -1
 * with a reason (also when someone else holds it).
 */
int vxpu_lockfile_hold(const char *path, char *err, size_t errlen);

/* 1 when a live process holds path's lock, 0 when nobody does (owner dead
 * or file gone), -1 on an error other than those. Does not create path. */
int vxpu_lockfile_held(const char *path);

#endif
