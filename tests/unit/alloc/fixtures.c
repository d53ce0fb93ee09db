/* fixtures.c - see fixtures.h. */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct vxpu_vendor_table *fx_vendors(void)
{
	static struct vxpu_vendor_table table;
	static bool ready;
	if (!ready) {
		vxpu_vendor_table_builtin(&table);
		ready = true;
	}
	return &table;
}

struct vxpu_node *fx_node(const char *name, uint32_t ndev, const char *vendor, const char *model,
                          uint64_t memory_mib)
{
	struct vxpu_node *n = malloc(sizeof(*n));
	assert_non_null(n);
	vxpu_node_init(n, name);
	char err[256];
	for (uint32_t i = 0; i < ndev; i++) {
		struct vxpu_device d;
		char id[64];
		snprintf(id, sizeof(id), "%s-gpu%u", name, i);
		vxpu_device_init(&d, i, id, vendor, model, memory_mib);
		d.numa = 0;
		if (vxpu_node_add_device(n, &d, err, sizeof(err)) < 0)
			fail_msg("add device: %s", err);
	}
	return n;
}

void fx_finalize(struct vxpu_node *n)
{
	char err[256];
	if (vxpu_node_finalize(n, fx_vendors(), err, sizeof(err)) < 0)
		fail_msg("finalize: %s", err);
}

void fx_free(struct vxpu_node *n)
{
	vxpu_node_destroy(n);
	free(n);
}

struct vxpu_pod_request *fx_pod(const char *name, uint32_t count, uint64_t memory_mib,
                                uint32_t memory_percent, uint32_t compute_percent)
{
	struct vxpu_pod_request *r = malloc(sizeof(*r));
	assert_non_null(r);
	vxpu_pod_request_init(r, "default", name);
	struct vxpu_container_request *c =
	        vxpu_pod_request_add_container(r, "main", VXPU_CONTAINER_APP);
	c->count = count;
	c->memory_mib = memory_mib;
	c->memory_percent = memory_percent;
	c->compute_percent = compute_percent;
	return r;
}

void fx_normalize(struct vxpu_pod_request *pod)
{
	char err[256];
	if (vxpu_pod_request_normalize(pod, err, sizeof(err)) < 0)
		fail_msg("normalize: %s", err);
}

bool fx_fit(const struct vxpu_node *n, const struct vxpu_pod_request *pod,
            enum vxpu_policy device_policy, struct vxpu_placement *p, struct vxpu_refusal *why)
{
	struct vxpu_fit_options opt = {.device_policy = device_policy};
	return vxpu_fit_node(n, pod, &opt, p, why);
}

void fx_place(struct vxpu_node *n, const struct vxpu_pod_request *pod,
              enum vxpu_policy device_policy, const char *owner, struct vxpu_placement *p)
{
	struct vxpu_refusal why;
	if (!fx_fit(n, pod, device_policy, p, &why))
		fail_msg("fit %s: %s", owner, fx_refusal(&why));
	char err[256];
	if (vxpu_node_commit(n, p, owner, err, sizeof(err)) < 0)
		fail_msg("commit %s: %s", owner, err);
}

void fx_use(struct vxpu_node *n, uint32_t pos, uint64_t memory_mib, uint32_t compute_units,
            const char *owner)
{
	struct vxpu_placement p;
	memset(&p, 0, sizeof(p));
	p.nshares = 1;
	p.shares[0] = (struct vxpu_share){.device = (uint8_t)pos,
	                                  .template_index = -1,
	                                  .memory_mib = memory_mib,
	                                  .compute_units = compute_units};
	char err[256];
	if (vxpu_placement_finish(n, &p, err, sizeof(err)) < 0 ||
	    vxpu_node_commit(n, &p, owner, err, sizeof(err)) < 0)
		fail_msg("use %s: %s", owner, err);
}

const char *fx_refusal(const struct vxpu_refusal *why)
{
	static char line[512];
	vxpu_refusal_format(why, line, sizeof(line));
	return line;
}
