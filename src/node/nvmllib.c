/*
 * nvmllib.c - loading the management library (see nvmllib.h).
 */
#include "node/nvmllib.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>

void *vxpu_nvml_open_path(const char *path, char *err, size_t errlen)
{
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib && err && errlen)
		snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
	return lib;
}

void *vxpu_nvml_open(const struct vxpu_discover_options *opts, char *err, size_t errlen)
{
	char path[PATH_MAX + 32];
	if (vxpu_discover_library_path(opts, path, sizeof(path), err, errlen) != 0)
		return NULL;
	return vxpu_nvml_open_path(path, err, errlen);
}

void *vxpu_nvml_sym(void *lib, const char *name, const char *fallback)
{
	void *p = dlsym(lib, name);
	if (!p && fallback)
		p = dlsym(lib, fallback);
	return p;
}
