/*
 * devices_json.c - the devices document (see devices_json.h). Every
 * number is a JSON number (MiB, percent); a device's links list only the
 * peers the discovery recorded a link to, in peer order.
 */
#include "cli/devices_json.h"

#include <cjson/cJSON.h>

void vxpu_device_allocated(const struct vxpu_local *l, unsigned index,
                           struct vxpu_device_allocated *out)
{
	out->memory_mib = 0;
	out->compute_percent = 0;
	out->allocations = 0;
	int pos = vxpu_local_device_pos(l, (int)index);
	if (pos < 0)
		return;
	const struct vxpu_device_usage *u = &l->node.usage[pos];
	uint32_t units = l->node.devices[pos].unit_count ? l->node.devices[pos].unit_count : 100;
	out->memory_mib = u->memory_mib;
	out->compute_percent = (unsigned)((uint64_t)u->compute_units * 100 / units);
	out->allocations = u->slices;
}

static cJSON *device_json(const struct vxpu_discovery *d, const struct vxpu_local *l, unsigned i)
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
	if (l) {
		struct vxpu_device_allocated a;
		vxpu_device_allocated(l, dev->index, &a);
		cJSON_AddNumberToObject(o, "allocated_memory_mib", (double)a.memory_mib);
		cJSON_AddNumberToObject(o, "allocated_compute_percent", a.compute_percent);
		cJSON_AddNumberToObject(o, "allocations", a.allocations);
	}
	cJSON *links = cJSON_AddArrayToObject(o, "links");
	for (unsigned j = 0; links && j < d->count; j++) {
		if (j == i || !d->links[i][j].type[0])
			continue;
		cJSON *link = cJSON_CreateObject();
		if (!link)
			break;
		cJSON_AddNumberToObject(link, "peer", j);
		cJSON_AddStringToObject(link, "type", d->links[i][j].type);
		cJSON_AddNumberToObject(link, "width", d->links[i][j].width);
		cJSON_AddItemToArray(links, link);
	}
	return o;
}

cJSON *vxpu_devices_json(const struct vxpu_discovery *d, const struct vxpu_local *l)
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
		cJSON *o = device_json(d, l, i);
		if (!o) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}
