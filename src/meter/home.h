/*
 * home.h - where vxpu keeps its local state on a machine (the ledger, the
 * local allocation state, anything else a `vxpu` command persists).
 *
 * The directory is, first match wins:
 *   1. $VXPU_HOME                       (must be an absolute path)
 *   2. /var/lib/vxpu                    when the effective user is root
 *   3. $XDG_STATE_HOME/vxpu             when XDG_STATE_HOME is absolute
 *                                       (the XDG base-directory rules say a
 *                                       relative value is ignored)
 *   4. $HOME/.local/state/vxpu          (HOME must be absolute)
 * A VXPU_HOME that is set but empty or relative is an error, not a fallback:
 * a typo must not silently move the ledger. Trailing slashes are dropped.
 *
 * The database file inside it is VXPU_DB_FILE; the ledger and the local
 * allocation state share that one file (and its schema version table).
 */
#ifndef VXPU_METER_HOME_H
#define VXPU_METER_HOME_H

#include <stdbool.h>
#include <stddef.h>

#define VXPU_DB_FILE "vxpu.db"
#define VXPU_HOME_ROOT_DEFAULT "/var/lib/vxpu"

/* The inputs of the rule above, so that it can be tested without touching
 * the process environment. NULL means "not set". */
struct vxpu_home_env {
	const char *vxpu_home;
	const char *xdg_state_home;
	const char *home;
	bool is_root;
};

/* Applies the rule. Returns 0, or -1 with a reason naming the variable. */
int vxpu_home_resolve(const struct vxpu_home_env *env, char *dir, size_t dirlen, char *err,
                      size_t errlen);

/* Applies the rule to this process (getenv, geteuid). */
int vxpu_home_dir(char *dir, size_t dirlen, char *err, size_t errlen);

/* The database path in this process's home: DIR/vxpu.db. */
int vxpu_home_db_path(char *path, size_t pathlen, char *err, size_t errlen);

/*
 * Creates dir and its missing parents (mode 0755 for root, 0700 otherwise,
 * both before umask). Existing directories are left as they are. Returns 0,
 * or -1 with a reason naming the path.
 */
int vxpu_home_make_dirs(const char *dir, char *err, size_t errlen);

#endif
