/*
 * simconfig.h - the simulated machine's description: devices, links and the
 * versions the simulated driver reports.
 *
 * The description comes from the JSON file named by VXPU_SIM_CONFIG, or is
 * the built-in default (two "VXPU-SIM 16GB" devices of 16 GiB and 80 SMs)
 * when the variable is unset. Parsing is strict: unknown fields, duplicate
 * fields, wrong types, bad sizes, duplicate UUIDs or bus ids, links to
 * missing devices are all refused with one message that names the file, the
 * field and the problem; a refused file yields no configuration at all.
 *
 * The configuration is identified by a 64-bit FNV-1a hash of the file's
 * bytes (or of a fixed tag for the default), which keys the default path of
 * the shared state file: every process given the same file shares one
 * simulated machine. The format is documented in docs/sim.md.
 */
#ifndef VXPU_SIM_SIMCONFIG_H
#define VXPU_SIM_SIMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VXPU_SIM_MAX_DEVICES 16
#define VXPU_SIM_MAX_LINKS 128
#define VXPU_SIM_NAME_LEN 96
#define VXPU_SIM_UUID_LEN 48 /* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
#define VXPU_SIM_PCI_LEN 24  /* "00000000:00:00.0" + NUL */
#define VXPU_SIM_VERSION_LEN 32

enum vxpu_sim_link_type {
	VXPU_SIM_LINK_NVLINK,      /* direct NVLink connection with `count` links */
	VXPU_SIM_LINK_PCIE_SWITCH, /* behind one PCIe switch (NVML: SINGLE) */
	VXPU_SIM_LINK_PCIE_HOST,   /* through a CPU host bridge (NVML: HOSTBRIDGE) */
	VXPU_SIM_LINK_CROSS_CPU,   /* across the CPU interconnect (NVML: SYSTEM) */
};

struct vxpu_sim_device_config {
	char name[VXPU_SIM_NAME_LEN];
	char uuid[VXPU_SIM_UUID_LEN]; /* "GPU-" + 8-4-4-4-12 lower-case hex */
	uint8_t uuid_bytes[16];
	uint64_t memory;         /* bytes */
	uint64_t context_memory; /* bytes charged per context (default 0) */
	int sm_count;
	int cc_major, cc_minor;
	unsigned int pci_domain, pci_bus, pci_device;
	unsigned int pci_device_id; /* 16-bit PCI device id; vendor is always 0x10DE */
	int numa_node;              /* -1 when the machine has no NUMA */
};

struct vxpu_sim_link_config {
	int a, b;
	enum vxpu_sim_link_type type;
	int count; /* NVLink lane count; 0 for the PCIe kinds */
};

struct vxpu_sim_config {
	int device_count;
	struct vxpu_sim_device_config devices[VXPU_SIM_MAX_DEVICES];
	int link_count;
	struct vxpu_sim_link_config links[VXPU_SIM_MAX_LINKS];
	char driver_version[VXPU_SIM_VERSION_LEN]; /* NVML driver version string */
	int cuda_version;                          /* e.g. 13000 for CUDA 13.0 */
	uint64_t hash;                             /* identity of the configuration */
	char source[256];                          /* file path, or "(default)" */
};

/* Fills cfg with the built-in default machine. */
void vxpu_sim_config_default(struct vxpu_sim_config *cfg);

/*
 * Parses JSON text. `source` names the file in messages. Returns 0, or -1
 * with "SOURCE: FIELD: PROBLEM" in err; cfg is only written on success.
 */
int vxpu_sim_config_parse(const char *text, size_t len, const char *source,
                          struct vxpu_sim_config *cfg, char *err, size_t errlen);

/* Reads and parses the file at path (same contract as _parse). */
int vxpu_sim_config_load(const char *path, struct vxpu_sim_config *cfg, char *err, size_t errlen);

/* The configuration named by VXPU_SIM_CONFIG, or the default when unset. */
int vxpu_sim_config_from_env(struct vxpu_sim_config *cfg, char *err, size_t errlen);

/* Formats "DDDDDDDD:BB:DD.0" (width 8 for NVML, 4 for the legacy/CUDA form). */
void vxpu_sim_format_bus_id(const struct vxpu_sim_device_config *dev, int domain_digits, char *buf,
                            size_t buflen);

/*
 * Parses "[DDDD|DDDDDDDD]:BB:DD.F" (hex, any case; domain optional). Returns
 * 0 and the parts, or -1.
 */
int vxpu_sim_parse_bus_id(const char *text, unsigned int *domain, unsigned int *bus,
                          unsigned int *device, unsigned int *function);

#endif
