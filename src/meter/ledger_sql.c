/*
 * ledger_sql.c - the ledger's portable SQL (see ledger_sql.h for the rules
 * that keep it portable). The schema is documented for users in
 * docs/metering.md; a change to any DDL here is a new schema version.
 */
#include "meter/ledger_sql.h"

/* One row per component that owns tables in the database ("ledger"; the
 * local allocation state registers its own). */
const char vxpu_ledger_sql_schema_table[] = "CREATE TABLE IF NOT EXISTS vxpu_schema ("
                                            " component VARCHAR(64) NOT NULL PRIMARY KEY,"
                                            " version INTEGER NOT NULL"
                                            ")";

/* $1 component -> version */
const char vxpu_ledger_sql_schema_get[] = "SELECT version FROM vxpu_schema WHERE component = $1";

/* $1 component, $2 version (only ever inserted: versions are not migrated
 * here, a newer one is refused) */
const char vxpu_ledger_sql_schema_set[] =
        "INSERT INTO vxpu_schema (component, version) VALUES ($1, $2)";

/*
 * ledger_interval: one row per (allocation, device). An allocation of N
 * devices has N rows with the same allocation_id. end_ms and exit_status are
 * NULL while the allocation runs; exit_status stays NULL when the end was
 * observed without an exit status (e.g. the owner was reclaimed).
 *
 * ledger_sample: the mean usage of one device of one allocation over one
 * UTC minute [minute_ms, minute_ms + 60000).
 */
const char *const vxpu_ledger_sql_v1[] = {
        "CREATE TABLE ledger_interval ("
        " allocation_id VARCHAR(64) NOT NULL,"
        " device_index INTEGER NOT NULL,"
        " node VARCHAR(253) NOT NULL,"
        " device_uuid VARCHAR(128) NOT NULL,"
        " device_model VARCHAR(128) NOT NULL,"
        " device_memory_mib BIGINT NOT NULL,"
        " memory_mib BIGINT NOT NULL,"
        " compute_percent INTEGER NOT NULL,"
        " tenant VARCHAR(128) NOT NULL,"
        " project VARCHAR(128) NOT NULL,"
        " user_name VARCHAR(128) NOT NULL,"
        " command TEXT NOT NULL,"
        " start_ms BIGINT NOT NULL,"
        " end_ms BIGINT,"
        " exit_status INTEGER,"
        " PRIMARY KEY (allocation_id, device_index),"
        " CHECK (device_index >= 0),"
        " CHECK (device_memory_mib > 0),"
        " CHECK (memory_mib > 0 AND memory_mib <= device_memory_mib),"
        " CHECK (compute_percent >= 0 AND compute_percent <= 100),"
        " CHECK (start_ms >= 0),"
        " CHECK (end_ms IS NULL OR end_ms >= start_ms),"
        " CHECK (exit_status IS NULL OR end_ms IS NOT NULL)"
        ")",
        "CREATE INDEX ledger_interval_by_start ON ledger_interval (start_ms)",
        "CREATE INDEX ledger_interval_by_end ON ledger_interval (end_ms)",
        "CREATE TABLE ledger_sample ("
        " allocation_id VARCHAR(64) NOT NULL,"
        " device_index INTEGER NOT NULL,"
        " minute_ms BIGINT NOT NULL,"
        " used_memory_mib DOUBLE PRECISION NOT NULL,"
        " utilisation_percent DOUBLE PRECISION NOT NULL,"
        " PRIMARY KEY (allocation_id, device_index, minute_ms),"
        " FOREIGN KEY (allocation_id, device_index)"
        "  REFERENCES ledger_interval (allocation_id, device_index),"
        " CHECK (minute_ms >= 0 AND minute_ms % 60000 = 0),"
        " CHECK (used_memory_mib >= 0),"
        " CHECK (utilisation_percent >= 0 AND utilisation_percent <= 100)"
        ")",
        "CREATE INDEX ledger_sample_by_minute ON ledger_sample (minute_ms)",
        NULL,
};

/* The interval columns in the order every SELECT below returns them. */
#define INTERVAL_COLUMNS                                                                           \
	"allocation_id, device_index, node, device_uuid, device_model, device_memory_mib,"         \
	" memory_mib, compute_percent, tenant, project, user_name, command, start_ms,"             \
	" end_ms, exit_status"

/* $1..$13 = the first 13 columns of INTERVAL_COLUMNS; end and exit NULL. */
const char vxpu_ledger_sql_interval_insert[] =
        "INSERT INTO ledger_interval (allocation_id, device_index, node, device_uuid,"
        " device_model, device_memory_mib, memory_mib, compute_percent, tenant, project,"
        " user_name, command, start_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/* $1 allocation_id -> the latest start_ms of its running rows (NULL if none) */
const char vxpu_ledger_sql_interval_open_start[] =
        "SELECT MAX(start_ms) FROM ledger_interval WHERE allocation_id = $1 AND end_ms IS NULL";

/* $1 allocation_id, $2 end_ms, $3 exit_status (NULL = unknown): ends every
 * running row of the allocation; rows already ended are not touched. */
const char vxpu_ledger_sql_interval_end[] =
        "UPDATE ledger_interval SET end_ms = $2, exit_status = $3"
        " WHERE allocation_id = $1 AND end_ms IS NULL";

/* $1 allocation_id, $2 device_index -> start_ms, end_ms, device_memory_mib */
const char vxpu_ledger_sql_interval_get[] =
        "SELECT start_ms, end_ms, device_memory_mib FROM ledger_interval"
        " WHERE allocation_id = $1 AND device_index = $2";

/* $1 since_ms, $2 until_ms -> rows overlapping [since, until) */
const char vxpu_ledger_sql_intervals_window[] =
        "SELECT " INTERVAL_COLUMNS " FROM ledger_interval"
        " WHERE start_ms < $2 AND (end_ms IS NULL OR end_ms > $1)";

/* -> rows still running */
const char vxpu_ledger_sql_intervals_running[] =
        "SELECT " INTERVAL_COLUMNS " FROM ledger_interval WHERE end_ms IS NULL";

/* $1 allocation_id, $2 device_index, $3 minute_ms, $4 used_memory_mib,
 * $5 utilisation_percent. A second write for the same minute replaces the
 * first (the writer that owns the allocation is the only writer). */
const char vxpu_ledger_sql_sample_upsert[] =
        "INSERT INTO ledger_sample (allocation_id, device_index, minute_ms, used_memory_mib,"
        " utilisation_percent) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (allocation_id, device_index, minute_ms) DO UPDATE SET"
        " used_memory_mib = excluded.used_memory_mib,"
        " utilisation_percent = excluded.utilisation_percent";

/* $1 since_ms - 60000, $2 until_ms -> samples whose minute overlaps
 * [since, until): allocation_id, device_index, minute_ms, used_memory_mib,
 * utilisation_percent. The caller subtracts the minute: arithmetic on a
 * parameter would make PostgreSQL infer it as a 32-bit integer. */
const char vxpu_ledger_sql_samples_window[] =
        "SELECT allocation_id, device_index, minute_ms, used_memory_mib, utilisation_percent"
        " FROM ledger_sample WHERE minute_ms > $1 AND minute_ms < $2";
