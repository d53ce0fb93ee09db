/*
 * model.h - what the allocator knows about a node: its devices, how they are
 * connected, and what is already allocated on them.
 *
 * A node is built in three steps: vxpu_node_init, then devices, links and
 * labels are added (by hand, or by the registration annotation decoder in
 * annotation.h), then vxpu_node_finalize resolves each device's vendor
 * profile and derives the capacities the allocator works with:
 *
 *   memory capacity  = floor(memory MiB  × memory scaling)
 *   compute capacity = floor(compute units × compute scaling)
 *   slice capacity   = the device's slice count (or its profile's)
 *
 * Scaling comes from the device when it sets one, else from the node; a
 * factor above 1 oversubscribes (1.5 admits allocations totalling 150 % of
 * physical memory). Compute units are 100 per device for percent-based
 * vendors; vendors that count cores (Ascend AI cores) use their core count.
 *
 * Usage lives beside the inventory: per device the memory, compute and slices
 * allocated and whether an exclusive holder is there, plus the list of
 * allocations (owner key and what each holds) so that a release gives back
 * exactly what a commit took. Fixed-size arrays keep a node one flat value:
 * the allocator's filter path reads it without chasing pointers, and a
 * candidate placement is evaluated on a stack copy of the usage array only.
 *
 * Invariants after finalize: device indices and ids are unique; every link
 * joins two distinct devices of the node; link_weight is symmetric with a
 * zero diagonal; usage never exceeds capacity except where a caller
 * committed a placement that was computed against that usage (commit
 * re-checks, see fit.h).
 */
#ifndef VXPU_CORE_MODEL_H
#define VXPU_CORE_MODEL_H

#include "core/vendor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_NODE_NAME_MAX 254
#define VXPU_DEVICE_ID_MAX 96
#define VXPU_VENDOR_NAME_MAX 48
#define VXPU_MODEL_NAME_MAX 64
#define VXPU_NODE_MAX_DEVICES 32
#define VXPU_NODE_MAX_LINKS 512
#define VXPU_NODE_MAX_LINK_TYPES 8
#define VXPU_NODE_MAX_LABELS 8
#define VXPU_LABEL_MAX 64
#define VXPU_OWNER_MAX 128
#define VXPU_SCALING_MAX 100.0

struct vxpu_device {
	char id[VXPU_DEVICE_ID_MAX]; /* UUID or bus id: stable across restarts */
	uint32_t index;              /* vendor's device index (CUDA/NPU index) */
	char vendor[VXPU_VENDOR_NAME_MAX];
	char model[VXPU_MODEL_NAME_MAX];
	uint64_t memory_mib;    /* physical device memory */
	uint32_t compute_units; /* 0 = the profile's */
	uint32_t max_slices;    /* 0 = the profile's */
	int32_t numa;           /* NUMA node; -1 = unknown */
	bool healthy;
	bool cordoned;          /* taken out of new placements by an admin */
	double memory_scaling;  /* 0 = the node's */
	double compute_scaling; /* 0 = the node's */

	/* Derived by vxpu_node_finalize. */
	const struct vxpu_vendor_profile *profile;
	uint64_t memory_capacity_mib;
	uint32_t unit_count;       /* compute units of the whole device */
	uint32_t compute_capacity; /* units, scaled */
	uint32_t slice_capacity;
	/* Reciprocals of the capacities (0 for a zero capacity): utilization is
	 * computed for every device of every node a decision looks at, and
	 * multiplications are much cheaper than divisions there. */
	double inv_memory_capacity;
	double inv_compute_capacity;
	double inv_slice_capacity;
};

/* An undirected link between two devices (positions in devices[]). */
struct vxpu_link {
	uint8_t a;
	uint8_t b;
	uint8_t type;  /* index into link_types[] */
	uint8_t width; /* lanes or links; 1 when unknown */
};

struct vxpu_device_usage {
	uint64_t memory_mib;
	uint32_t compute_units;
	uint16_t slices;    /* allocations on the device */
	uint16_t exclusive; /* of which exclusive (at most 1) */
};

/* One committed placement: what it holds on each device (peak per device). */
struct vxpu_allocation {
	char owner[VXPU_OWNER_MAX];
	uint64_t cpu_milli;
	uint64_t memory_mib;
	uint32_t ndevices;
	uint8_t device[VXPU_NODE_MAX_DEVICES];
	struct vxpu_device_usage use[VXPU_NODE_MAX_DEVICES];
};

struct vxpu_label {
	char key[VXPU_LABEL_MAX];
	char value[VXPU_LABEL_MAX];
};

struct vxpu_node {
	char name[VXPU_NODE_NAME_MAX];
	uint32_t nlabels;
	struct vxpu_label labels[VXPU_NODE_MAX_LABELS];
	uint64_t cpu_milli;  /* allocatable host CPU; 0 = not tracked */
	uint64_t memory_mib; /* allocatable host memory; 0 = not tracked */
	double memory_scaling;
	double compute_scaling;

	uint32_t ndevices;
	struct vxpu_device devices[VXPU_NODE_MAX_DEVICES];
	uint32_t nlink_types;
	char link_types[VXPU_NODE_MAX_LINK_TYPES][VXPU_LINK_TYPE_MAX];
	uint32_t nlinks;
	struct vxpu_link links[VXPU_NODE_MAX_LINKS];

	/* Derived by vxpu_node_finalize: rank × width of the best link a-b. */
	bool finalized;
	uint16_t link_weight[VXPU_NODE_MAX_DEVICES][VXPU_NODE_MAX_DEVICES];

	/* Usage. */
	struct vxpu_device_usage usage[VXPU_NODE_MAX_DEVICES];
	uint64_t cpu_used_milli;
	uint64_t memory_used_mib;
	size_t nallocs;
	size_t alloc_cap;
	struct vxpu_allocation *allocs; /* heap; freed by vxpu_node_destroy */
};

/* Empty node named name: scaling 1, no devices, no usage. */
void vxpu_node_init(struct vxpu_node *n, const char *name);

/* Frees the allocation list; the node can be reused after vxpu_node_init. */
void vxpu_node_destroy(struct vxpu_node *n);

/* A device with defaults filled: healthy, numa -1, profile values. */
void vxpu_device_init(struct vxpu_device *d, uint32_t index, const char *id, const char *vendor,
                      const char *model, uint64_t memory_mib);

/*
 * Adds a copy of d. Refuses a full node, a duplicate index or id, an empty
 * id, zero memory, a bad NUMA id or scaling. Clears finalized.
 */
int vxpu_node_add_device(struct vxpu_node *n, const struct vxpu_device *d, char *err,
                         size_t errlen);

/* Adds a link between the devices with vendor indices ia and ib. */
int vxpu_node_add_link(struct vxpu_node *n, uint32_t ia, uint32_t ib, const char *type,
                       uint32_t width, char *err, size_t errlen);

int vxpu_node_set_label(struct vxpu_node *n, const char *key, const char *value, char *err,
                        size_t errlen);
/* The label's value, or NULL. */
const char *vxpu_node_label(const struct vxpu_node *n, const char *key);

/*
 * Resolves profiles and derives capacities and link weights. Fails, naming
 * the device, when a device has no profile or a scaling is out of range.
 * The vendor table must outlive the node (devices point into it).
 */
int vxpu_node_finalize(struct vxpu_node *n, const struct vxpu_vendor_table *vendors, char *err,
                       size_t errlen);

/* Position in devices[] of the device with this vendor index / id, or -1. */
int vxpu_node_device_by_index(const struct vxpu_node *n, uint32_t index);
int vxpu_node_device_by_id(const struct vxpu_node *n, const char *id);

/*
 * Utilization of a device in [0, 1]: the mean of its allocated memory,
 * compute and slice fractions (of capacity). Used by binpack and spread.
 */
double vxpu_device_utilization(const struct vxpu_device *d, const struct vxpu_device_usage *u);

/*
 * Free fraction of a device in [0, 1]: the smaller of its free memory and
 * free compute fractions; 0 when an exclusive holder is there. Slices are
 * not counted: memory left on a device whose slices are all taken is
 * stranded, which is exactly what the fragmentation measure must see.
 */
double vxpu_device_free_fraction(const struct vxpu_device *d, const struct vxpu_device_usage *u);

#endif
