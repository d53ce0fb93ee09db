/*
 * ledger.h - the usage ledger: who held which fraction of which device,
 * when, and how much of it they used. The record that reports, exports
 * and chargeback are computed from.
 *
 * Contents (schema version VXPU_LEDGER_SCHEMA_VERSION, docs/metering.md):
 *   - intervals: one per (allocation, device), from start to end (no end
 *     while running), with the share held (memory MiB of the device's MiB,
 *     compute percent), who held it (tenant, project, user), the command and
 *     its exit status;
 *   - samples: per allocation, device and UTC minute, the mean used memory
 *     and the mean utilisation.
 *
 * Storage: one SQLite file, normally $VXPU_HOME/vxpu.db (home.h), shared
 * with the local allocation state; or, when the path is a URI
 * postgres://... or postgresql://... (libpq's connection URI), a PostgreSQL
 * database that several machines share (the cluster scheduler's ledger).
 * All SQL text is in ledger_sql.c and is the same for both; ledger.c is the
 * SQLite backend and the front of both, ledger_pg.c the PostgreSQL one.
 * The invariants below hold for both, read "database" for "file" where the
 * ledger is PostgreSQL's.
 *
 * Invariants the implementation keeps:
 *   - an existing file is never overwritten, truncated or migrated: a file
 *     that is not a SQLite database, is corrupt, belongs to another program,
 *     or carries a newer schema version is refused with an error that names
 *     the file, and is left byte-for-byte untouched;
 *   - many processes may use one file at once: WAL journal, a busy timeout
 *     (VXPU_LEDGER_BUSY_TIMEOUT_MS), and every write in a BEGIN IMMEDIATE
 *     transaction, so writers queue instead of failing and nothing is lost;
 *   - every input is validated before anything is written; a refused call
 *     changes nothing;
 *   - commits are durable (synchronous=FULL): a committed interval survives
 *     a power loss.
 *
 * A struct vxpu_ledger is one connection; use it from one thread, and never
 * across fork() (open a new one in the child). All functions that can fail
 * return 0 on success and -1 on failure with a one-line reason in err.
 */
#ifndef VXPU_METER_LEDGER_H
#define VXPU_METER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_LEDGER_SCHEMA_VERSION 1
#define VXPU_LEDGER_COMPONENT "ledger"
#define VXPU_LEDGER_BUSY_TIMEOUT_MS 30000

/* Limits on text fields (bytes, without the NUL). */
#define VXPU_LEDGER_ID_MAX 64
#define VXPU_LEDGER_NAME_MAX 128   /* tenant, project, user */
#define VXPU_LEDGER_NODE_MAX 253   /* a DNS name */
#define VXPU_LEDGER_DEVICE_MAX 128 /* device uuid, device model */
#define VXPU_LEDGER_COMMAND_MAX 4096

#define VXPU_LEDGER_MINUTE_MS 60000

struct vxpu_ledger;
struct sqlite3;

enum vxpu_ledger_open_mode {
	/* Use an existing ledger. A missing file, or a database without the
	 * ledger's tables yet, returns VXPU_LEDGER_ABSENT (readers such as
	 * `vxpu report` treat that as an empty ledger); nothing is created. */
	VXPU_LEDGER_OPEN_EXISTING,
	/* Create the directory, the file and the ledger tables as needed. */
	VXPU_LEDGER_OPEN_CREATE,
};

enum {
	VXPU_LEDGER_OK = 0,
	VXPU_LEDGER_FAILED = -1,
	VXPU_LEDGER_ABSENT = -2,
};

/*
 * One interval. Text fields:
 *   allocation_id  1..64 bytes of [A-Za-z0-9._:-], chosen by the writer and
 *                  unique across every node that may share a ledger
 *                  (vxpu_ledger_new_id makes one);
 *   tenant, project, user
 *                  1..128 bytes, first [A-Za-z0-9_], then [A-Za-z0-9_.@+-]
 *                  (safe in CSV cells, label values and file names);
 *   node           1..253 bytes of [A-Za-z0-9._-], a letter or digit
 *                  first (a host name);
 *   device_uuid, device_model
 *                  1..128 printable ASCII bytes, no leading/trailing space;
 *   command        0..4096 bytes of UTF-8 without control characters
 *                  other than tab (the caller joins argv and truncates).
 * Numbers: device_index >= 0; device_memory_mib >= 1; memory_mib in
 * 1..device_memory_mib; compute_percent in 0..100, where 0 means "no
 * compute share reserved" (best effort); start_ms >= 0.
 * ended/end_ms and exited/exit_status are read back from the ledger; the
 * writer sets them with vxpu_ledger_interval_end. exit_status is the shell's
 * convention: 0..255 for an exit, 128+N for death by signal N.
 */
struct vxpu_ledger_interval {
	const char *allocation_id;
	int device_index;
	const char *node;
	const char *device_uuid;
	const char *device_model;
	int64_t device_memory_mib;
	int64_t memory_mib;
	int compute_percent;
	const char *tenant;
	const char *project;
	const char *user;
	const char *command;
	int64_t start_ms;
	bool ended;
	int64_t end_ms;
	bool exited;
	int exit_status;
};

/* One minute of one device of one allocation. minute_ms is a multiple of
 * VXPU_LEDGER_MINUTE_MS; used_memory_mib >= 0; utilisation_percent in
 * 0..100 (the allocation's own share of the device's compute time). */
struct vxpu_ledger_sample {
	const char *allocation_id;
	int device_index;
	int64_t minute_ms;
	double used_memory_mib;
	double utilisation_percent;
};

/*
 * Opens (and with VXPU_LEDGER_OPEN_CREATE initialises) the ledger at path.
 * Returns VXPU_LEDGER_OK and sets *out, VXPU_LEDGER_ABSENT (see the open
 * modes), or VXPU_LEDGER_FAILED with a reason naming the file.
 */
int vxpu_ledger_open(const char *path, enum vxpu_ledger_open_mode mode, struct vxpu_ledger **out,
                     char *err, size_t errlen);
void vxpu_ledger_close(struct vxpu_ledger *ledger);
/* The file, or the URI with its password masked (safe to print). */
const char *vxpu_ledger_path(const struct vxpu_ledger *ledger);

/*
 * Records the start of one interval (end NULL). Fails, changing nothing,
 * on an invalid field (the reason names it) or when the (allocation_id,
 * device_index) pair already exists.
 */
int vxpu_ledger_interval_start(struct vxpu_ledger *ledger, const struct vxpu_ledger_interval *iv,
                               char *err, size_t errlen);

/*
 * Ends every running interval of allocation_id at end_ms, with exit_status
 * when exited is true (otherwise the exit status stays unknown). Intervals
 * already ended are left alone, so two processes that both try to end a
 * reclaimed allocation do no harm: *ended_count (may be NULL) says how many
 * rows this call ended. end_ms before a running interval's start is refused.
 */
int vxpu_ledger_interval_end(struct vxpu_ledger *ledger, const char *allocation_id, int64_t end_ms,
                             bool exited, int exit_status, int *ended_count, char *err,
                             size_t errlen);

/*
 * Records one minute sample (replacing an earlier sample of the same
 * minute). The interval (allocation_id, device_index) must exist and its
 * time span must overlap the minute.
 */
int vxpu_ledger_sample_record(struct vxpu_ledger *ledger, const struct vxpu_ledger_sample *sample,
                              char *err, size_t errlen);

/*
 * Calls fn for each interval that overlaps [since_ms, until_ms), in no
 * particular order. The strings in *iv live until fn returns. fn returns 0
 * to continue or non-zero to stop (the call then returns that value).
 */
typedef int (*vxpu_ledger_interval_fn)(const struct vxpu_ledger_interval *iv, void *ctx);
int vxpu_ledger_each_interval(struct vxpu_ledger *ledger, int64_t since_ms, int64_t until_ms,
                              vxpu_ledger_interval_fn fn, void *ctx, char *err, size_t errlen);

/* Calls fn for each interval that is still running, in no particular order. */
int vxpu_ledger_each_running(struct vxpu_ledger *ledger, vxpu_ledger_interval_fn fn, void *ctx,
                             char *err, size_t errlen);

/* Calls fn for each sample whose minute overlaps [since_ms, until_ms). */
typedef int (*vxpu_ledger_sample_fn)(const struct vxpu_ledger_sample *s, void *ctx);
int vxpu_ledger_each_sample(struct vxpu_ledger *ledger, int64_t since_ms, int64_t until_ms,
                            vxpu_ledger_sample_fn fn, void *ctx, char *err, size_t errlen);

/* The start of the UTC minute that contains unix_ms (unix_ms >= 0). */
int64_t vxpu_ledger_minute_of(int64_t unix_ms);

/* Fills id (>= 33 bytes) with 32 random lowercase hex digits. */
int vxpu_ledger_new_id(char *id, size_t idlen, char *err, size_t errlen);

/* Checks text against the allocation_id / name rules above (for callers
 * that validate flags such as --tenant before allocating anything). */
bool vxpu_ledger_valid_id(const char *text);
bool vxpu_ledger_valid_name(const char *text);

/*
 * Transactions for callers that keep their own tables in the same file
 * (the local allocation state). vxpu_ledger_begin starts a BEGIN IMMEDIATE
 * transaction (waiting up to the busy timeout for other writers); the
 * ledger's write calls made inside it join it instead of committing on
 * their own, so an allocation and its intervals commit together or not at
 * all. Transactions do not nest. After any failure inside, call
 * vxpu_ledger_rollback.
 */
int vxpu_ledger_begin(struct vxpu_ledger *ledger, char *err, size_t errlen);
/* A read transaction: the reads inside it see one snapshot (a report's
 * intervals and samples agree even while writers commit). End it with
 * vxpu_ledger_commit. */
int vxpu_ledger_begin_read(struct vxpu_ledger *ledger, char *err, size_t errlen);
int vxpu_ledger_commit(struct vxpu_ledger *ledger, char *err, size_t errlen);
void vxpu_ledger_rollback(struct vxpu_ledger *ledger);
bool vxpu_ledger_in_transaction(const struct vxpu_ledger *ledger);

/* The connection, for the caller's own statements (sqlite3.h). The ledger
 * keeps ownership; do not close it or change its settings. NULL when the
 * ledger is PostgreSQL's (the local allocation state lives in SQLite only). */
struct sqlite3 *vxpu_ledger_sqlite(struct vxpu_ledger *ledger);

/*
 * Registers another component's tables in the same file under the same
 * rules as the ledger's own: if component has no schema row yet, runs the
 * DDL statements (NULL-terminated array) and records version, in one
 * transaction; if it has version, does nothing; if it has a newer version,
 * fails naming the file and both versions; an older version also fails
 * (no migration exists yet) and changes nothing.
 */
int vxpu_ledger_ensure_component(struct vxpu_ledger *ledger, const char *component, int version,
                                 const char *const *ddl, char *err, size_t errlen);

#endif
