/*
 * home.c - the local state directory (see home.h). The rule is a pure
 * function of struct vxpu_home_env; only vxpu_home_dir reads the process
 * environment, so tests cover every branch without setenv races.
 */
#include "meter/home.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int join(char *dir, size_t dirlen, const char *base, const char *suffix, char *err,
                size_t errlen, const char *what)
{
	size_t n = strlen(base);
	while (n > 1 && base[n - 1] == '/')
		n--;
	int w = snprintf(dir, dirlen, "%.*s%s", (int)n, base, suffix);
	if (w < 0 || (size_t)w >= dirlen) {
		snprintf(err, errlen, "%s is too long (%zu bytes)", what, strlen(base));
		return -1;
	}
	return 0;
}

int vxpu_home_resolve(const struct vxpu_home_env *env, char *dir, size_t dirlen, char *err,
                      size_t errlen)
{
	if (env->vxpu_home) {
		if (env->vxpu_home[0] != '/') {
			snprintf(err, errlen, "invalid VXPU_HOME \"%s\": must be an absolute path",
			         env->vxpu_home);
			return -1;
		}
		return join(dir, dirlen, env->vxpu_home, "", err, errlen, "VXPU_HOME");
	}
	if (env->is_root)
		return join(dir, dirlen, VXPU_HOME_ROOT_DEFAULT, "", err, errlen, "default");
	if (env->xdg_state_home && env->xdg_state_home[0] == '/')
		return join(dir, dirlen, env->xdg_state_home, "/vxpu", err, errlen,
		            "XDG_STATE_HOME");
	if (!env->home || env->home[0] != '/') {
		snprintf(err, errlen,
		         "cannot locate the state directory: VXPU_HOME and XDG_STATE_HOME are not "
		         "set and HOME is %s%s%s",
		         env->home ? "\"" : "not set", env->home ? env->home : "",
		         env->home ? "\" (not an absolute path)" : "");
		return -1;
	}
	return join(dir, dirlen, env->home, "/.local/state/vxpu", err, errlen, "HOME");
}

int vxpu_home_dir(char *dir, size_t dirlen, char *err, size_t errlen)
{
	struct vxpu_home_env env = {
	        .vxpu_home = getenv("VXPU_HOME"),
	        .xdg_state_home = getenv("XDG_STATE_HOME"),
	        .home = getenv("HOME"),
	        .is_root = geteuid() == 0,
	};
	return vxpu_home_resolve(&env, dir, dirlen, err, errlen);
}

int vxpu_home_db_path(char *path, size_t pathlen, char *err, size_t errlen)
{
	char dir[4096];
	if (vxpu_home_dir(dir, sizeof(dir), err, errlen) != 0)
		return -1;
	int w = snprintf(path, pathlen, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, VXPU_DB_FILE);
	if (w < 0 || (size_t)w >= pathlen) {
		snprintf(err, errlen, "state directory \"%s\" is too long", dir);
		return -1;
	}
	return 0;
}

int vxpu_home_make_dirs(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(path) || dir[0] != '/') {
		snprintf(err, errlen, "invalid state directory \"%s\"", dir);
		return -1;
	}
	mode_t mode = geteuid() == 0 ? 0755 : 0700;
	memcpy(path, dir, n + 1);
	/* Walk the components left to right, creating each missing one. */
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, mode) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory \"%s\": %s", path,
			         strerror(errno));
			return -1;
		}
		path[i] = saved;
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory \"%s\" is not a directory", dir);
		return -1;
	}
	return 0;
}
