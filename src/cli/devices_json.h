/*
 * devices_json.h - the JSON document that describes this machine's
 * devices: what `vxpu devices --json` prints and what GET /api/v1/devices
 * of `vxpu serve` answers, built in one place so the two never differ.
 *
 *   {"backend": "sim", "vendor": "nvidia", "driver_version": "...",
 *    "devices": [{"index": 0, "uuid": "GPU-...", "model": "...",
 *                 "pci_bus_id": "...", "memory_mib": 16384,
 *                 "used_memory_mib": 0, "utilization_percent": 0,
 *                 "numa_node": 0 | null, "healthy": true,
 *                 "allocated_memory_mib": 4096, "allocated_compute_percent": 30,
 *                 "allocations": 1,   (these three only with the local view)
 *                 ["health_reason": "..." when not healthy,]
 *                 "links": [{"peer": 1, "type": "nvlink", "width": 4}]}]}
 */
#ifndef VXPU_CLI_DEVICES_JSON_H
#define VXPU_CLI_DEVICES_JSON_H

#include "cli/local.h"
#include "node/discover.h"

struct cJSON;

/* The document for discovery d, with what `vxpu run` allocated on each
 * device when l (the local view, whose discovery d is) is not NULL. NULL
 * when out of memory. Free with cJSON_Delete. */
struct cJSON *vxpu_devices_json(const struct vxpu_discovery *d, const struct vxpu_local *l);

/* What `vxpu run` holds on the device with this index, from the view. */
struct vxpu_device_allocated {
	uint64_t memory_mib;
	unsigned compute_percent;
	unsigned allocations;
};
void vxpu_device_allocated(const struct vxpu_local *l, unsigned index,
                           struct vxpu_device_allocated *out);

#endif
