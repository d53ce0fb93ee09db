/*
 * nvmllib.h - the one place the node module loads the management library.
 *
 * vxpu never links against NVML: discovery, per-process usage and health
 * watching all dlopen the library their backend names (the driver's
 * libnvidia-ml.so.1, or the simulator's copy) and resolve entry points by
 * name. Handles are never closed: NVML does not support being unloaded and
 * reloaded within a process, and dlopen of an already open file is cheap
 * (it returns the same handle), so every user simply opens what it needs.
 */
#ifndef VXPU_NODE_NVMLLIB_H
#define VXPU_NODE_NVMLLIB_H

#include "node/discover.h"

#include <stddef.h>

/* dlopen(path); NULL with "cannot load PATH: WHY" in err. */
void *vxpu_nvml_open_path(const char *path, char *err, size_t errlen);

/* The library of a backend (see vxpu_discover_library_path); NULL with a
 * reason for the inventory backend or a library that does not load. */
void *vxpu_nvml_open(const struct vxpu_discover_options *opts, char *err, size_t errlen);

/* The entry point `name`, else `fallback` (an older export; may be NULL),
 * else NULL. */
void *vxpu_nvml_sym(void *lib, const char *name, const char *fallback);

#endif
