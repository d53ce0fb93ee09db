/*
 * discover.h - what accelerators this machine has, from one of three
 * backends, in one vendor-neutral shape.
 *
 *   nvml       the NVIDIA management library, dlopen("libnvidia-ml.so.1")
 *   sim        the same NVML code path on vxpu's simulated driver
 *              (libnvidia-ml.so.1 from the simulator's library folder)
 *   inventory  a static JSON file, for vendors without a backend yet
 *   auto       nvml when the library loads and reports a device; otherwise
 *              an error that says how to try the simulator
 *
 * A discovery is a snapshot: identity and capacity (model, memory, UUID, PCI
 * bus id, NUMA node), live use (memory used, utilisation), health, and the
 * link between every pair of devices. Link types are strings because they
 * are vendor data (nvlink, pcie-switch, pcie-host, cross-cpu, hccs, ...);
 * the vendor profile in core gives them their rank.
 */
#ifndef VXPU_NODE_DISCOVER_H
#define VXPU_NODE_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_FOUND_MAX_DEVICES 32

enum vxpu_backend {
	VXPU_BACKEND_AUTO,
	VXPU_BACKEND_NVML,
	VXPU_BACKEND_SIM,
	VXPU_BACKEND_INVENTORY,
};

struct vxpu_found_device {
	unsigned index;
	char uuid[96];
	char model[96];
	char pci_bus_id[32];
	uint64_t memory_bytes;
	uint64_t memory_used_bytes; /* live, from the backend; 0 for inventory */
	unsigned utilization_pct;   /* live, from the backend; 0 for inventory */
	int numa_node;              /* -1 when unknown */
	bool healthy;
	char health_reason[96]; /* why not healthy, "" when healthy */
};

struct vxpu_found_link {
	char type[24];  /* "" = no link recorded */
	unsigned width; /* NVLink link count, 1 otherwise */
};

struct vxpu_discovery {
	enum vxpu_backend backend; /* the backend that answered */
	char vendor[32];           /* "nvidia", or the inventory's vendor */
	char driver_version[80];
	unsigned count;
	struct vxpu_found_device devices[VXPU_FOUND_MAX_DEVICES];
	struct vxpu_found_link links[VXPU_FOUND_MAX_DEVICES][VXPU_FOUND_MAX_DEVICES];
};

/* "auto", "nvml", "sim", "inventory" -> 0, else -1. */
int vxpu_backend_parse(const char *text, enum vxpu_backend *backend);
const char *vxpu_backend_name(enum vxpu_backend backend);

struct vxpu_discover_options {
	enum vxpu_backend backend;
	/* sim: folder holding the simulator's libnvidia-ml.so.1; NULL means
	 * $VXPU_SIM_LIB_DIR, else the "sim" folder beside the running binary. */
	const char *sim_lib_dir;
	/* inventory: the JSON file; NULL means $VXPU_INVENTORY. */
	const char *inventory_path;
};

/*
 * Fills *out. Returns 0, or -1 with a one-line reason in err. Loading a
 * management library more than once per process is cheap: the library
 * handle is kept open after the first success.
 */
int vxpu_discover(const struct vxpu_discover_options *opts, struct vxpu_discovery *out, char *err,
                  size_t errlen);

/*
 * The management library a backend reads: "libnvidia-ml.so.1" for nvml and
 * auto, the simulator's copy for sim. Fails for inventory (no library).
 */
int vxpu_discover_library_path(const struct vxpu_discover_options *opts, char *path, size_t cap,
                               char *err, size_t errlen);

/* Parses inventory JSON text (exposed for tests and fuzzing). origin names
 * the source in errors (a file path). */
int vxpu_inventory_parse(const char *json, const char *origin, struct vxpu_discovery *out,
                         char *err, size_t errlen);

#endif
