/*
 * vendor.h - vendor profiles: everything the allocator must know about a
 * family of accelerators, as data.
 *
 * A profile says which Kubernetes resource names a family answers to, how
 * its memory is counted and rounded, whether it is cut into fixed slices
 * (templates), how many tenants one device may hold, whether compute can be
 * limited, whether a multi-device request must take whole devices, and how
 * its interconnect link types rank. A new chip is a new profile entry (in
 * the built-in table or in a JSON file, see docs/vendors.md), never new code.
 *
 * Profiles are matched to devices by vendor name (case-insensitive equality)
 * and model (case-insensitive substring; the longest matching model_match
 * wins, then table order), so "Ascend910B4" finds the 910B4 profile before a
 * generic Ascend one. The table is a plain value: copy it, keep it as long as
 * the nodes whose devices point into it. Nothing here does I/O; reading the
 * JSON file is the caller's job.
 */
#ifndef VXPU_CORE_VENDOR_H
#define VXPU_CORE_VENDOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_PROFILE_NAME_MAX 48
#define VXPU_RESOURCE_NAME_MAX 96
#define VXPU_TEMPLATE_NAME_MAX 32
#define VXPU_LINK_TYPE_MAX 16
#define VXPU_VENDOR_MAX_TEMPLATES 12
#define VXPU_VENDOR_MAX_LINK_TYPES 8
#define VXPU_VENDOR_MAX_PROFILES 64

/* The resources a profile can answer to. */
enum vxpu_resource_kind {
	VXPU_RESOURCE_COUNT = 0,      /* number of devices ("nvidia.com/gpu") */
	VXPU_RESOURCE_MEMORY,         /* device memory in memory units */
	VXPU_RESOURCE_MEMORY_PERCENT, /* device memory in % of the device */
	VXPU_RESOURCE_CORES,          /* compute in % of the device */
	VXPU_RESOURCE_PRIORITY,       /* 0 high (online), 1 low (offline) */
	VXPU_RESOURCE_KINDS
};

/*
 * A fixed slice. Memory requests are rounded up to the smallest template
 * that covers them. A whole-device template stands for "the entire device"
 * (its memory and compute are the device's own) and is tried last.
 */
struct vxpu_slice_template {
	char name[VXPU_TEMPLATE_NAME_MAX];
	bool whole_device;
	uint64_t memory_mib;    /* ignored for whole_device */
	uint32_t compute_units; /* of the profile's compute_units; 0 = not fixed */
};

struct vxpu_link_type {
	char name[VXPU_LINK_TYPE_MAX];
	uint32_t rank; /* bandwidth class per lane/link; higher is better connected */
};

struct vxpu_vendor_profile {
	char name[VXPU_PROFILE_NAME_MAX];        /* unique key: "nvidia", "ascend-910b4" */
	char vendor[VXPU_PROFILE_NAME_MAX];      /* device vendor it serves: "huawei" */
	char model_match[VXPU_PROFILE_NAME_MAX]; /* substring of the model; "" = any */
	char resources[VXPU_RESOURCE_KINDS][VXPU_RESOURCE_NAME_MAX]; /* "" = not offered */
	uint32_t memory_unit_mib;        /* MiB per unit of the memory resource (>= 1) */
	uint32_t memory_granularity_mib; /* allocations rounded up to a multiple (>= 1) */
	uint32_t compute_units;          /* units in one whole device (100 = percent) */
	uint32_t max_slices;             /* most allocations one device holds (>= 1) */
	bool compute_limit;              /* compute shares can be enforced */
	bool multi_device_whole;         /* a request for > 1 device takes whole devices */
	uint32_t ntemplates;
	struct vxpu_slice_template templates[VXPU_VENDOR_MAX_TEMPLATES];
	uint32_t nlink_types;
	struct vxpu_link_type link_types[VXPU_VENDOR_MAX_LINK_TYPES];
};

struct vxpu_vendor_table {
	uint32_t count;
	struct vxpu_vendor_profile profiles[VXPU_VENDOR_MAX_PROFILES];
};

/* Fills t with the built-in profiles (docs/vendors.md lists them). */
void vxpu_vendor_table_builtin(struct vxpu_vendor_table *t);

/*
 * Adds or overrides profiles from a JSON document (format in
 * docs/vendors.md). A profile whose name exists is merged field by field (the
 * fields given replace the built-in ones); a new name is added and must give
 * vendor and the count resource. Strict: unknown fields, wrong types and
 * impossible values are refused with the field path and the value, and the
 * table is then left exactly as it was. Returns 0 or -1.
 */
int vxpu_vendor_table_merge_json(struct vxpu_vendor_table *t, const char *json, char *err,
                                 size_t errlen);

/* The profile serving a device of this vendor and model, or NULL. */
const struct vxpu_vendor_profile *vxpu_vendor_lookup(const struct vxpu_vendor_table *t,
                                                     const char *vendor, const char *model);

/* The profile with this name, or NULL. */
const struct vxpu_vendor_profile *vxpu_vendor_find(const struct vxpu_vendor_table *t,
                                                   const char *name);

/*
 * The first profile (table order) that answers to a resource name, and which
 * kind of resource it is; NULL when no profile knows the name.
 */
const struct vxpu_vendor_profile *vxpu_vendor_by_resource(const struct vxpu_vendor_table *t,
                                                          const char *resource,
                                                          enum vxpu_resource_kind *kind);

/* Rank of a link type for this profile; 0 for an unknown type. */
uint32_t vxpu_vendor_link_rank(const struct vxpu_vendor_profile *p, const char *type);

/*
 * Rounds a share for one device of this profile whose physical memory is
 * device_mib and whose compute is device_units: memory first up to the
 * granularity, then (when the profile has templates) to the smallest
 * template that covers both the memory and the compute units wanted
 * (a template with compute_units 0 covers any compute). Outputs the memory,
 * the compute units the template fixes (0 = not fixed) and the template
 * index (-1 when the profile has none). Returns 0, or -1 when no template
 * covers the share.
 */
int vxpu_vendor_round_share(const struct vxpu_vendor_profile *p, uint64_t want_mib,
                            uint32_t want_units, uint64_t device_mib, uint32_t device_units,
                            uint64_t *memory_mib, uint32_t *compute_units, int *template_index);

/* Short name of a resource kind ("count", "memory", ...), as in the JSON. */
const char *vxpu_resource_kind_name(enum vxpu_resource_kind kind);

#endif
