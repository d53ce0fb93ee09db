/*
 * config.c - strict parsing of the limiter's environment (contract in
 * config.h). The whole environment is scanned once for the two limit
 * prefixes so that a misspelt device suffix is refused rather than ignored.
 */
#include "limiter/config.h"

#include "core/percent.h"
#include "core/size.h"

#include <stdio.h>
#include <string.h>

#define LIMIT_NAME "VXPU_MEMORY_LIMIT"
#define LIMIT_ALIAS "CUDA_DEVICE_MEMORY_LIMIT"
#define REGION_NAME "VXPU_REGION"
#define REGION_ALIAS "CUDA_DEVICE_MEMORY_SHARED_CACHE"
#define CONTEXT_NAME "VXPU_CONTEXT_MEMORY"
#define CORE_NAME "VXPU_CORE_LIMIT"
#define CORE_ALIAS "CUDA_DEVICE_SM_LIMIT"
#define PRIORITY_NAME "VXPU_PRIORITY"
#define PRIORITY_ALIAS "CUDA_TASK_PRIORITY"
#define FLOOR_NAME "VXPU_PRIORITY_FLOOR"
#define DEVICE_DIR_NAME "VXPU_DEVICE_DIR"
#define TIMING_NAME "VXPU_CORE_TIMING"
#define DEFAULT_PRIORITY_FLOOR 5u

/* The value of the first NAME=... in envp, or NULL. */
static const char *env_find(char *const *envp, const char *name)
{
	size_t len = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static int config_fail(char *err, size_t errlen, const char *name, const char *value,
                       const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s=\"%s\": %s", name, value, why);
	return -1;
}

/* Parses a limit value; refuses empty, malformed and zero. */
static int parse_limit(const char *name, const char *value, uint64_t *bytes, char *err,
                       size_t errlen)
{
	char why[192];
	if (vxpu_size_parse(value, VXPU_SIZE_BARE_BYTES, bytes, why, sizeof(why)) != 0)
		return config_fail(err, errlen, name, value, why);
	if (*bytes == 0)
		return config_fail(
		        err, errlen, name, value,
		        "a limit must be at least 1 byte (unset the variable for no limit)");
	return 0;
}

/* Parses a percentage 1..100 (core/percent.h). */
static int parse_percent(const char *name, const char *value, uint64_t *pct, char *err,
                         size_t errlen)
{
	char why[192];
	int v = 0;
	if (vxpu_percent_parse(value, &v, why, sizeof(why)) != 0)
		return config_fail(err, errlen, name, value, why);
	*pct = (uint64_t)v;
	return 0;
}

typedef int (*value_parser)(const char *name, const char *value, uint64_t *out, char *err,
                            size_t errlen);

/*
 * Reads NAME and its ALIAS (either may be absent) with `parse`. Both set to
 * different values is a refusal. Returns 1 when a value was found (in *out),
 * 0 when neither is set (*out untouched), -1 on a refusal.
 */
static int parse_pair(char *const *envp, const char *name, const char *alias, value_parser parse,
                      uint64_t *out, char *err, size_t errlen)
{
	const char *v = env_find(envp, name);
	const char *a = env_find(envp, alias);
	uint64_t vv = 0, av = 0;
	if (v && parse(name, v, &vv, err, errlen) != 0)
		return -1;
	if (a && parse(alias, a, &av, err, errlen) != 0)
		return -1;
	if (v && a && vv != av) {
		if (err && errlen)
			snprintf(err, errlen, "%s=\"%s\" and %s=\"%s\" disagree (set one of them)",
			         name, v, alias, a);
		return -1;
	}
	if (!v && !a)
		return 0;
	*out = v ? vv : av;
	return 1;
}

/* VXPU_PRIORITY (words) and CUDA_TASK_PRIORITY (HAMi's numbers). */
static int parse_priority(char *const *envp, uint32_t *priority, char *err, size_t errlen)
{
	static const char *const words[] = {"high", "normal", "low"};
	static const char *const numbers[] = {"0", "1", "2"};
	const char *v = env_find(envp, PRIORITY_NAME);
	const char *a = env_find(envp, PRIORITY_ALIAS);
	uint32_t vp = VXPU_PRIORITY_UNSET, ap = VXPU_PRIORITY_UNSET;
	for (uint32_t i = 0; v && i < 3; i++)
		if (strcmp(v, words[i]) == 0)
			vp = VXPU_PRIORITY_HIGH + i;
	for (uint32_t i = 0; a && i < 3; i++)
		if (strcmp(a, numbers[i]) == 0)
			ap = VXPU_PRIORITY_HIGH + i;
	if (v && vp == VXPU_PRIORITY_UNSET)
		return config_fail(err, errlen, PRIORITY_NAME, v, "must be high, normal or low");
	if (a && ap == VXPU_PRIORITY_UNSET)
		return config_fail(err, errlen, PRIORITY_ALIAS, a,
		                   "must be 0 (high), 1 (normal) or 2 (low)");
	if (v && a && vp != ap) {
		if (err && errlen)
			snprintf(err, errlen, "%s=\"%s\" and %s=\"%s\" disagree (set one of them)",
			         PRIORITY_NAME, v, PRIORITY_ALIAS, a);
		return -1;
	}
	*priority = v ? vp : ap;
	return 0;
}

/*
 * For an entry "PREFIX_<suffix>=value": the device index, or -1 with err
 * when the suffix is not a canonical 0..15.
 */
static int device_suffix(const char *entry, size_t prefix_len, char *err, size_t errlen)
{
	const char *s = entry + prefix_len + 1; /* past the '_' */
	const char *eq = strchr(s, '=');
	size_t n = (size_t)(eq - s);
	int index = 0;
	bool ok = n >= 1 && n <= 2 && !(n == 2 && s[0] == '0');
	for (size_t i = 0; ok && i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			ok = false;
		else
			index = index * 10 + (s[i] - '0');
	}
	if (!ok || index >= (int)VXPU_REGION_MAX_DEVICES) {
		if (err && errlen)
			snprintf(err, errlen,
			         "%.*s=\"%s\": unknown variable (the device index must be 0..%u)",
			         (int)(eq - entry), entry, eq + 1, VXPU_REGION_MAX_DEVICES - 1);
		return -1;
	}
	return index;
}

/* Refuses any PREFIX_<x> whose suffix is not a device index. */
static int check_suffixes(char *const *envp, const char *prefix, char *err, size_t errlen)
{
	size_t len = strlen(prefix);
	for (char *const *e = envp; e && *e; e++) {
		if (strncmp(*e, prefix, len) != 0 || (*e)[len] != '_' || !strchr(*e, '='))
			continue;
		if (device_suffix(*e, len, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int vxpu_limiter_config_parse(char *const *envp, unsigned uid, struct vxpu_limiter_config *cfg,
                              char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (check_suffixes(envp, LIMIT_NAME, err, errlen) != 0 ||
	    check_suffixes(envp, LIMIT_ALIAS, err, errlen) != 0 ||
	    check_suffixes(envp, CORE_NAME, err, errlen) != 0 ||
	    check_suffixes(envp, CORE_ALIAS, err, errlen) != 0)
		return -1;

	uint64_t all = VXPU_REGION_UNLIMITED;
	int found = parse_pair(envp, LIMIT_NAME, LIMIT_ALIAS, parse_limit, &all, err, errlen);
	if (found < 0)
		return -1;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		cfg->memory_limit[d] = all;
		cfg->memory_limit_set[d] = found == 1;
	}
	cfg->any_limit = found == 1;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		char name[48], alias[48];
		snprintf(name, sizeof(name), "%s_%u", LIMIT_NAME, d);
		snprintf(alias, sizeof(alias), "%s_%u", LIMIT_ALIAS, d);
		uint64_t bytes = 0;
		int got = parse_pair(envp, name, alias, parse_limit, &bytes, err, errlen);
		if (got < 0)
			return -1;
		if (got == 1) {
			cfg->memory_limit[d] = bytes;
			cfg->memory_limit_set[d] = true;
			cfg->any_limit = true;
		}
	}

	uint64_t core_all = 0;
	int core_found =
	        parse_pair(envp, CORE_NAME, CORE_ALIAS, parse_percent, &core_all, err, errlen);
	if (core_found < 0)
		return -1;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		char name[48], alias[48];
		snprintf(name, sizeof(name), "%s_%u", CORE_NAME, d);
		snprintf(alias, sizeof(alias), "%s_%u", CORE_ALIAS, d);
		uint64_t pct = core_all;
		if (parse_pair(envp, name, alias, parse_percent, &pct, err, errlen) < 0)
			return -1;
		cfg->core_limit[d] = (uint32_t)pct;
		if (pct != 0)
			cfg->any_core_limit = true;
	}
	if (parse_priority(envp, &cfg->priority, err, errlen) != 0)
		return -1;
	cfg->priority_floor = DEFAULT_PRIORITY_FLOOR;
	const char *floor = env_find(envp, FLOOR_NAME);
	uint64_t floor_pct = 0;
	if (floor && parse_percent(FLOOR_NAME, floor, &floor_pct, err, errlen) != 0)
		return -1;
	if (floor)
		cfg->priority_floor = (uint32_t)floor_pct;
	const char *timing = env_find(envp, TIMING_NAME);
	if (timing && strcmp(timing, "events") != 0 && strcmp(timing, "sync") != 0)
		return config_fail(err, errlen, TIMING_NAME, timing, "must be events or sync");
	cfg->core_timing_sync = timing && strcmp(timing, "sync") == 0;
	const char *devdir = env_find(envp, DEVICE_DIR_NAME);
	if (devdir) {
		if (devdir[0] != '/')
			return config_fail(err, errlen, DEVICE_DIR_NAME, devdir,
			                   "must be an absolute path");
		if (strlen(devdir) >= sizeof(cfg->device_dir))
			return config_fail(err, errlen, DEVICE_DIR_NAME, "...", "path too long");
		snprintf(cfg->device_dir, sizeof(cfg->device_dir), "%s", devdir);
	}

	const char *region = env_find(envp, REGION_NAME);
	const char *region_alias = env_find(envp, REGION_ALIAS);
	const char *region_var = region ? REGION_NAME : REGION_ALIAS;
	if (region && region_alias && strcmp(region, region_alias) != 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s=\"%s\" and %s=\"%s\" disagree (set one of them)",
			         REGION_NAME, region, REGION_ALIAS, region_alias);
		return -1;
	}
	if (!region)
		region = region_alias;
	if (region) {
		if (region[0] != '/')
			return config_fail(
			        err, errlen, region_var, region,
			        "must be an absolute path (every process of the container "
			        "must name the same file)");
		if (strlen(region) >= sizeof(cfg->region_path))
			return config_fail(err, errlen, region_var, "...", "path too long");
		snprintf(cfg->region_path, sizeof(cfg->region_path), "%s", region);
		cfg->region_from_env = true;
	} else {
		snprintf(cfg->region_path, sizeof(cfg->region_path), "/tmp/vxpu-%u.region", uid);
	}

	const char *ctx = env_find(envp, CONTEXT_NAME);
	if (ctx) {
		char why[192];
		if (vxpu_size_parse(ctx, VXPU_SIZE_BARE_BYTES, &cfg->context_memory, why,
		                    sizeof(why)) != 0)
			return config_fail(err, errlen, CONTEXT_NAME, ctx, why);
	}
	return 0;
}

void vxpu_limiter_config_region_init(const struct vxpu_limiter_config *cfg,
                                     struct vxpu_region_init *init)
{
	vxpu_region_init_default(init);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		init->memory_limit[d] = cfg->memory_limit[d];
		init->core_limit[d] = cfg->core_limit[d];
	}
	init->priority = cfg->priority;
}
