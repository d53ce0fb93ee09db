/* sched_fixtures.c - see sched_fixtures.h. */
#include "sched_fixtures.h"

#include "core/annotation.h"
#include "core/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct vxpu_vendor_table *sf_vendors(void)
{
	static struct vxpu_vendor_table table;
	static bool ready;
	if (!ready) {
		vxpu_vendor_table_builtin(&table);
		ready = true;
	}
	return &table;
}

char *sf_format(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	assert_non_null(s);
	return s;
}

char *sf_node_json(const char *name, uint32_t ndev, const char *model, uint64_t memory_mib)
{
	struct vxpu_node *n = malloc(sizeof(*n));
	assert_non_null(n);
	vxpu_node_init(n, name);
	char err[256];
	for (uint32_t i = 0; i < ndev; i++) {
		struct vxpu_device d;
		char id[96];
		snprintf(id, sizeof(id), "GPU-%s-%u", name, i);
		vxpu_device_init(&d, i, id, "nvidia", model, memory_mib);
		d.numa = (int32_t)(i * 2 / (ndev ? ndev : 1));
		if (vxpu_node_add_device(n, &d, err, sizeof(err)) < 0)
			fail_msg("add device: %s", err);
	}
	char *reg = vxpu_node_registration_encode(n, 1795866469123LL);
	assert_non_null(reg);
	vxpu_node_destroy(n);
	free(n);
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "apiVersion", "v1");
	cJSON_AddStringToObject(doc, "kind", "Node");
	cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "resourceVersion", "17");
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
	cJSON_AddStringToObject(labels, "kubernetes.io/hostname", name);
	cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
	cJSON_AddStringToObject(ann, "vxpu.io/node-registration", reg);
	cJSON *spec = cJSON_AddObjectToObject(doc, "spec");
	cJSON_AddStringToObject(spec, "podCIDR", "10.0.0.0/24");
	cJSON *status = cJSON_AddObjectToObject(doc, "status");
	cJSON *cap = cJSON_AddObjectToObject(status, "capacity");
	cJSON_AddStringToObject(cap, "cpu", "64");
	vxpu_annotation_free(reg);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	assert_non_null(text);
	return text;
}

char *sf_pod_json(const char *ns, const char *name, const char *uid, const char *node,
                  const char *resources, const char *annotations)
{
	char nodefield[300] = "";
	if (node)
		snprintf(nodefield, sizeof(nodefield), "\"nodeName\":\"%s\",", node);
	return sf_format(
	        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
	        "\"namespace\":\"%s\",\"uid\":\"%s\",\"resourceVersion\":\"5\","
	        "\"labels\":{\"app\":\"t\"},\"annotations\":%s},"
	        "\"spec\":{%s\"schedulerName\":\"vxpu-scheduler\",\"containers\":["
	        "{\"name\":\"sidecar\",\"image\":\"busybox\",\"resources\":{\"limits\":{\"cpu\":"
	        "\"100m\"}}},"
	        "{\"name\":\"main\",\"image\":\"cuda\",\"resources\":%s}]},"
	        "\"status\":{\"phase\":\"%s\"}}",
	        name, ns, uid, annotations ? annotations : "{}", nodefield,
	        resources ? resources : "{}", node ? "Running" : "Pending");
}

void sf_node_read(const char *text, cJSON **doc, struct vxpu_kube_node *out)
{
	*doc = cJSON_Parse(text);
	assert_non_null(*doc);
	char err[320];
	if (vxpu_kube_node_read(*doc, "", out, err, sizeof(err)) < 0)
		fail_msg("node read: %s", err);
}

struct vxpu_kube_pod *sf_pod_read(const char *text, cJSON **doc)
{
	*doc = cJSON_Parse(text);
	assert_non_null(*doc);
	struct vxpu_kube_pod *p = malloc(sizeof(*p));
	assert_non_null(p);
	char err[320];
	if (vxpu_kube_pod_read(*doc, "", sf_vendors(), p, err, sizeof(err)) < 0)
		fail_msg("pod read: %s", err);
	return p;
}

void sf_apply_node(struct vxpu_ext_model *m, const char *text)
{
	cJSON *doc;
	struct vxpu_kube_node kn;
	sf_node_read(text, &doc, &kn);
	assert_true(vxpu_ext_model_node_update(m, &kn) >= 0);
	cJSON_Delete(doc);
}

int sf_apply_pod(struct vxpu_ext_model *m, const char *text)
{
	cJSON *doc;
	struct vxpu_kube_pod *p = sf_pod_read(text, &doc);
	int rc = vxpu_ext_model_pod_update(m, p);
	free(p);
	cJSON_Delete(doc);
	return rc;
}

uint64_t sf_used_mib(const struct vxpu_ext_model *m, const char *node, uint32_t pos)
{
	const struct vxpu_ext_node *n = vxpu_ext_model_node(m, node);
	assert_non_null(n);
	return n->node.usage[pos].memory_mib;
}

uint32_t sf_used_units(const struct vxpu_ext_model *m, const char *node, uint32_t pos)
{
	const struct vxpu_ext_node *n = vxpu_ext_model_node(m, node);
	assert_non_null(n);
	return n->node.usage[pos].compute_units;
}
