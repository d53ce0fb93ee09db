/*
 * devices_json.c - the devices document (see devices_json.h). Every
 * number is a JSON number (MiB, percent); a device's links list only the
 * peers the discovery recorded a link to, in peer order.
 */
#include "cli/devices_json.h"

#include <cjson/cJSON.h>

static cJSON *device_json(const struct vxpu_discovery *d, unsigned i)
{
	const struct vxpu_found_device *dev = &d->devices[i];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "index", dev->index);
	cJSON_AddStringToObject(o, "uuid", dev->uuid);
	cJSON_AddStringToObject(o, "model", dev->model);
	cJSON_AddStringToObject(o, "pci_bus_id", dev->pci_bus_id);
	cJSON_AddNumberToObject(o, "memory_mib", (double)(dev->memory_bytes >> 20));
	cJSON_AddNumberToObject(o, "used_memory_mib", (double)(dev->memory_used_bytes >> 20));
	cJSON_AddNumberToObject(o, "utilization_percent", dev->utilization_pct);
	if (dev->numa_node >= 0)
		cJSON_AddNumberToObject(o, "numa_node", dev->numa_node);
	else
		cJSON_AddNullToObject(o, "numa_node");
	cJSON_AddBoolToObject(o, "healthy", dev->healthy);
	if (!dev->healthy)
		cJSON_AddStringToObject(o, "health_reason", dev->health_reason);
	cJSON *links = cJSON_AddArrayToObject(o, "links");
	for (unsigned j = 0; links && j < d->count; j++) {
		if (j == i || !d->links[i][j].type[0])
			continue;
		cJSON *l = cJSON_CreateObject();
		if (!l)
			break;
		cJSON_AddNumberToObject(l, "peer", j);
		cJSON_AddStringToObject(l, "type", d->links[i][j].type);
		cJSON_AddNumberToObject(l, "width", d->links[i][j].width);
		cJSON_AddItemToArray(links, l);
	}
	return o;
}

cJSON *vxpu_devices_json(const struct vxpu_discovery *d)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "backend", vxpu_backend_name(d->backend));
	cJSON_AddStringToObject(root, "vendor", d->vendor);
	cJSON_AddStringToObject(root, "driver_version", d->driver_version);
	cJSON *arr = cJSON_AddArrayToObject(root, "devices");
	if (!arr) {
		cJSON_Delete(root);
		return NULL;
	}
	for (unsigned i = 0; i < d->count; i++) {
		cJSON *o = device_json(d, i);
		if (!o) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}
