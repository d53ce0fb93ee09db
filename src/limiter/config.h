/*
 * config.h - the limiter's environment contract, parsed strictly.
 *
 *   VXPU_MEMORY_LIMIT          size, every device of the container
 *   VXPU_MEMORY_LIMIT_<i>      size, container device i (0..15); wins over the above
 *   VXPU_REGION                absolute path of the container's region file
 *   VXPU_CONTEXT_MEMORY        size charged per CUDA context (default 0)
 *   VXPU_CORE_LIMIT            percent 1..100 of every device's time
 *   VXPU_CORE_LIMIT_<i>        percent of container device i; wins over the above
 *   VXPU_PRIORITY              high | normal | low (unset: no priority)
 *   VXPU_PRIORITY_FLOOR        percent 1..100 a normal/low container keeps
 *                              while a high one is active (default 5)
 *   VXPU_DEVICE_DIR            absolute path of the per-device coordination
 *                              files (priority); unset: priority is not applied
 *   VXPU_CORE_TIMING           events (default) | sync: how device time is
 *                              measured; sync is the conservative mode (each
 *                              launch synchronised, host time charged)
 * HAMi-core aliases, accepted so existing deployments keep working:
 *   CUDA_DEVICE_MEMORY_LIMIT[_<i>]   = VXPU_MEMORY_LIMIT[_<i>]
 *   CUDA_DEVICE_MEMORY_SHARED_CACHE  = VXPU_REGION
 *   CUDA_DEVICE_SM_LIMIT[_<i>]       = VXPU_CORE_LIMIT[_<i>]
 *   CUDA_TASK_PRIORITY               = VXPU_PRIORITY (0 high, 1 normal, 2 low)
 *
 * Sizes use the project's grammar (docs/units.md); a bare number is bytes,
 * so HAMi's "1g" and "1024m" mean what they meant there. A limit must be at
 * least 1 byte: "unlimited" is written by leaving the variable unset.
 *
 * Percentages use core's grammar (docs/units.md: 1..100, optional "%");
 * "no compute limit" is written by leaving the variable unset, so 0 is
 * refused like any other malformed value.
 *
 * Every refusal is total (nothing is half-applied) and names the variable
 * and its value: an empty value, a bad size, a zero limit, a device suffix
 * that is not 0..15 written canonically ("_01", "_x", "_16"), a relative
 * region path, or a VXPU_ variable and its alias set to different values.
 * The caller fails closed on it (cuInit returns an error): a typo must never
 * silently remove isolation.
 *
 * The parser reads an environment vector given by the caller (environ in
 * the library, a fixed array in tests) and has no other input.
 */
#ifndef VXPU_LIMITER_CONFIG_H
#define VXPU_LIMITER_CONFIG_H

#include "limiter/region.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_LIMITER_PATH_MAX 4096

struct vxpu_limiter_config {
	/* Resolved per container device: its own variable, else the global one. */
	uint64_t memory_limit[VXPU_REGION_MAX_DEVICES]; /* VXPU_REGION_UNLIMITED if none */
	bool memory_limit_set[VXPU_REGION_MAX_DEVICES];
	bool any_limit;
	char region_path[VXPU_LIMITER_PATH_MAX];
	bool region_from_env; /* false: the per-user default path */
	uint64_t context_memory;
	/* Compute: percent per container device, 0 when unset (no limit). */
	uint32_t core_limit[VXPU_REGION_MAX_DEVICES];
	bool any_core_limit;
	uint32_t priority; /* enum vxpu_priority (region.h); 0 when unset */
	uint32_t priority_floor;
	char device_dir[VXPU_LIMITER_PATH_MAX]; /* "" when unset */
	bool core_timing_sync;                  /* VXPU_CORE_TIMING=sync */
};

/*
 * Parses envp (NULL-terminated "NAME=VALUE" strings). uid names the default
 * region (/tmp/vxpu-<uid>.region) used when neither VXPU_REGION nor its
 * alias is set. 0, or -1 with one line in err (cfg unspecified).
 */
int vxpu_limiter_config_parse(char *const *envp, unsigned uid, struct vxpu_limiter_config *cfg,
                              char *err, size_t errlen);

/* The region a process of this configuration creates when there is none. */
void vxpu_limiter_config_region_init(const struct vxpu_limiter_config *cfg,
                                     struct vxpu_region_init *init);

#endif
