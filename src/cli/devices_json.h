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
 *                 ["health_reason": "..." when not healthy,]
 *                 "links": [{"peer": 1, "type": "nvlink", "width": 4}]}]}
 */
#ifndef VXPU_CLI_DEVICES_JSON_H
#define VXPU_CLI_DEVICES_JSON_H

#include "node/discover.h"

struct cJSON;

/* The document for discovery d; NULL when out of memory. Free with cJSON_Delete. */
struct cJSON *vxpu_devices_json(const struct vxpu_discovery *d);

#endif
