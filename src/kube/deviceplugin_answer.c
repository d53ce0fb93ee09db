/*
 * deviceplugin_answer.c - the Allocate answer for one container (see
 * deviceplugin_answer.h). Every string is built with bounds checks; a value
 * that does not fit is an error, never a truncated path or list.
 */
#include "kube/deviceplugin_answer.h"

#include "core/fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

void vxpu_dp_config_default(struct vxpu_dp_config *c)
{
	memset(c, 0, sizeof(*c));
	set(c->library_host_path, sizeof(c->library_host_path), "/var/lib/vxpu/lib/libvxpu.so");
	set(c->library_container_path, sizeof(c->library_container_path),
	    "/usr/local/vxpu/libvxpu.so");
	set(c->preload_host_path, sizeof(c->preload_host_path), "/var/lib/vxpu/lib/ld.so.preload");
	set(c->region_root, sizeof(c->region_root), "/var/lib/vxpu/containers");
	set(c->region_container_dir, sizeof(c->region_container_dir), "/var/run/vxpu");
	set(c->device_dir_host, sizeof(c->device_dir_host), "/var/lib/vxpu/devices");
	set(c->device_dir_container, sizeof(c->device_dir_container), "/var/run/vxpu-devices");
}

int vxpu_dp_region_dir(const struct vxpu_dp_config *c, const struct vxpu_pod_allocation *a,
                       unsigned container, char *buf, size_t cap)
{
	if (container >= a->ncontainers)
		return -1;
	int n = snprintf(buf, cap, "%s/%s_%s_%s", c->region_root, a->ns, a->pod,
	                 a->containers[container].name);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int add_env(struct vxpu_dp_answer *out, const char *name, const char *value, char *err,
                   size_t errlen)
{
	if (out->nenv == VXPU_DP_MAX_ENV)
		return vxpu_fail(err, errlen, "too many environment variables");
	struct vxpu_dp_env *e = &out->env[out->nenv++];
	if ((size_t)snprintf(e->name, sizeof(e->name), "%s", name) >= sizeof(e->name) ||
	    (size_t)snprintf(e->value, sizeof(e->value), "%s", value) >= sizeof(e->value))
		return vxpu_fail(err, errlen, "environment variable %s: value too long", name);
	return 0;
}

static int add_mount(struct vxpu_dp_answer *out, const char *container_path, const char *host_path,
                     bool read_only, char *err, size_t errlen)
{
	struct vxpu_dp_mount *m = &out->mounts[out->nmounts++];
	m->read_only = read_only;
	if ((size_t)snprintf(m->container_path, sizeof(m->container_path), "%s", container_path) >=
	            sizeof(m->container_path) ||
	    (size_t)snprintf(m->host_path, sizeof(m->host_path), "%s", host_path) >=
	            sizeof(m->host_path))
		return vxpu_fail(err, errlen, "mount %s: path too long", container_path);
	return 0;
}

static void add_device(struct vxpu_dp_answer *out, const char *path)
{
	for (unsigned i = 0; i < out->ndevices; i++)
		if (strcmp(out->devices[i].host_path, path) == 0)
			return; /* a card listed twice needs its node once */
	struct vxpu_dp_device_node *d = &out->devices[out->ndevices++];
	set(d->container_path, sizeof(d->container_path), path);
	set(d->host_path, sizeof(d->host_path), path);
	set(d->permissions, sizeof(d->permissions), "rw");
}

static int cmp_env(const void *a, const void *b)
{
	return strcmp(((const struct vxpu_dp_env *)a)->name, ((const struct vxpu_dp_env *)b)->name);
}

static int cmp_mount(const void *a, const void *b)
{
	return strcmp(((const struct vxpu_dp_mount *)a)->container_path,
	              ((const struct vxpu_dp_mount *)b)->container_path);
}

static int cmp_device(const void *a, const void *b)
{
	return strcmp(((const struct vxpu_dp_device_node *)a)->container_path,
	              ((const struct vxpu_dp_device_node *)b)->container_path);
}

int vxpu_dp_answer(const struct vxpu_dp_config *c, const struct vxpu_pod_allocation *a,
                   unsigned container, struct vxpu_dp_answer *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (container >= a->ncontainers)
		return vxpu_fail(err, errlen, "allocation of %s/%s has no container number %u",
		                 a->ns, a->pod, container);
	const struct vxpu_alloc_container *ct = &a->containers[container];
	if (ct->count == 0 || ct->first + ct->count > a->ndevices)
		return vxpu_fail(err, errlen,
		                 "container \"%s\" of %s/%s has no devices in its allocation",
		                 ct->name, a->ns, a->pod);
	if (vxpu_dp_region_dir(c, a, container, out->region_host_dir,
	                       sizeof(out->region_host_dir)) != 0)
		return vxpu_fail(err, errlen, "region directory of container \"%s\": path too long",
		                 ct->name);

	char visible[sizeof(out->env[0].value)];
	size_t vlen = 0;
	bool nvidia = true;
	for (uint32_t i = 0; i < ct->count; i++) {
		const struct vxpu_alloc_device *d = &a->devices[ct->first + i];
		int n = snprintf(visible + vlen, sizeof(visible) - vlen, "%s%s", i ? "," : "",
		                 d->id);
		if (n < 0 || (size_t)n >= sizeof(visible) - vlen)
			return vxpu_fail(err, errlen, "container \"%s\": too many devices to list",
			                 ct->name);
		vlen += (size_t)n;
		char name[48], value[32];
		snprintf(name, sizeof(name), "VXPU_MEMORY_LIMIT_%u", (unsigned)i);
		snprintf(value, sizeof(value), "%lluMiB", (unsigned long long)d->memory_mib);
		if (add_env(out, name, value, err, errlen) != 0)
			return -1;
		if (d->compute_percent > 0) {
			snprintf(name, sizeof(name), "VXPU_CORE_LIMIT_%u", (unsigned)i);
			snprintf(value, sizeof(value), "%u", (unsigned)d->compute_percent);
			if (add_env(out, name, value, err, errlen) != 0)
				return -1;
		}
		nvidia = nvidia && strcmp(d->vendor, "nvidia") == 0;
	}
	char region[VXPU_DP_PATH_MAX + 16];
	snprintf(region, sizeof(region), "%s/region", c->region_container_dir);
	if (add_env(out, "NVIDIA_VISIBLE_DEVICES", visible, err, errlen) != 0 ||
	    add_env(out, "CUDA_VISIBLE_DEVICES", visible, err, errlen) != 0 ||
	    add_env(out, "VXPU_PRIORITY", ct->priority == 0 ? "high" : "low", err, errlen) != 0 ||
	    add_env(out, "VXPU_REGION", region, err, errlen) != 0 ||
	    add_env(out, "VXPU_DEVICE_DIR", c->device_dir_container, err, errlen) != 0)
		return -1;

	if (add_mount(out, c->library_container_path, c->library_host_path, true, err, errlen) !=
	            0 ||
	    add_mount(out, "/etc/ld.so.preload", c->preload_host_path, true, err, errlen) != 0 ||
	    add_mount(out, c->region_container_dir, out->region_host_dir, false, err, errlen) !=
	            0 ||
	    add_mount(out, c->device_dir_container, c->device_dir_host, false, err, errlen) != 0)
		return -1;

	if (nvidia) {
		add_device(out, "/dev/nvidiactl");
		add_device(out, "/dev/nvidia-uvm");
		add_device(out, "/dev/nvidia-uvm-tools");
		for (uint32_t i = 0; i < ct->count; i++) {
			char path[32];
			snprintf(path, sizeof(path), "/dev/nvidia%u",
			         (unsigned)a->devices[ct->first + i].index);
			add_device(out, path);
		}
	}
	qsort(out->env, out->nenv, sizeof(out->env[0]), cmp_env);
	qsort(out->mounts, out->nmounts, sizeof(out->mounts[0]), cmp_mount);
	qsort(out->devices, out->ndevices, sizeof(out->devices[0]), cmp_device);
	return 0;
}

int vxpu_dp_virtual_id(const char *card, unsigned k, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s::%u", card, k);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

int vxpu_dp_parse_virtual_id(const char *id, char *card, size_t cap, unsigned *k)
{
	const char *sep = strstr(id, "::");
	if (!sep || sep == id || strstr(sep + 2, "::"))
		return -1;
	const char *s = sep + 2;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	unsigned v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= 1024)
			return -1;
	}
	size_t len = (size_t)(sep - id);
	if (len >= cap)
		return -1;
	memcpy(card, id, len);
	card[len] = '\0';
	*k = v;
	return 0;
}

int vxpu_dp_plan_plugins(const struct vxpu_node *node, const char *override, unsigned slices,
                         struct vxpu_dp_plugin_plan *plans, unsigned cap, char *err, size_t errlen)
{
	unsigned nplans = 0;
	for (uint32_t i = 0; i < node->ndevices; i++) {
		const struct vxpu_device *d = &node->devices[i];
		const char *res = d->profile ? d->profile->resources[VXPU_RESOURCE_COUNT] : NULL;
		if (!res || !res[0]) {
			snprintf(
			        err, errlen,
			        "device %u (%s, vendor \"%s\", model \"%s\") has no vendor profile "
			        "naming a device resource",
			        d->index, d->id, d->vendor, d->model);
			return -1;
		}
		const char *first =
		        node->devices[0].profile
		                ? node->devices[0].profile->resources[VXPU_RESOURCE_COUNT]
		                : "";
		if (override && strcmp(res, first) != 0) {
			snprintf(err, errlen,
			         "--resource %s cannot name the devices of two resources (%s, %s)",
			         override, first, res);
			return -1;
		}
		const char *name = override ? override : res;
		unsigned p = 0;
		while (p < nplans && strcmp(plans[p].resource, name) != 0)
			p++;
		if (p == nplans) {
			if (nplans == cap || strlen(name) >= sizeof(plans[p].resource)) {
				snprintf(err, errlen, "too many device resources on this node");
				return -1;
			}
			memset(&plans[p], 0, sizeof(plans[p]));
			snprintf(plans[p].resource, sizeof(plans[p].resource), "%s", name);
			int w = snprintf(plans[p].endpoint, sizeof(plans[p].endpoint),
			                 "vxpu-%s.sock", name);
			if (w < 0 || (size_t)w >= sizeof(plans[p].endpoint)) {
				snprintf(err, errlen, "resource name %s too long", name);
				return -1;
			}
			for (char *c = plans[p].endpoint; *c; c++)
				if (*c == '/')
					*c = '-';
			nplans++;
		}
		struct vxpu_dp_plugin_plan *pl = &plans[p];
		pl->cards[pl->ncards] = i;
		unsigned s = slices ? slices : d->slice_capacity;
		pl->slices[pl->ncards] = s ? s : 1;
		pl->ncards++;
	}
	return (int)nplans;
}
