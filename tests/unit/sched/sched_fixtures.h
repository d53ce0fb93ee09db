/*
 * sched_fixtures.h - Kubernetes objects for the scheduler tests, as the API
 * server would serialize them: Nodes carrying a vxpu.io/node-registration
 * annotation made by the core's encoder, Pods with device resources, and
 * readers that fail the running test when a step that must work does not.
 */
#ifndef VXPU_TEST_SCHED_FIXTURES_H
#define VXPU_TEST_SCHED_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/extender.h"
#include "core/extender_kube.h"
#include "core/extender_model.h"
#include "core/webhook.h"

#include <cjson/cJSON.h>

/* The built-in vendor table. */
const struct vxpu_vendor_table *sf_vendors(void);

/* A Node object (heap text) with ndev NVIDIA devices of memory_mib each. */
char *sf_node_json(const char *name, uint32_t ndev, const char *model, uint64_t memory_mib);

/*
 * A Pod object (heap text). resources: the JSON of one container's
 * "resources" value (e.g. {"limits":{"nvidia.com/gpu":"1"}}) or NULL;
 * node: spec.nodeName or NULL; annotations: JSON object text or NULL.
 */
char *sf_pod_json(const char *ns, const char *name, const char *uid, const char *node,
                  const char *resources, const char *annotations);

/* Parses text (asserting it is JSON) and reads it as a Node / Pod. */
void sf_node_read(const char *text, cJSON **doc, struct vxpu_kube_node *out);
struct vxpu_kube_pod *sf_pod_read(const char *text, cJSON **doc);

/* Applies a Node / Pod JSON text to the model. */
void sf_apply_node(struct vxpu_ext_model *m, const char *text);
int sf_apply_pod(struct vxpu_ext_model *m, const char *text);

/* Memory and compute used on a node's device pos. */
uint64_t sf_used_mib(const struct vxpu_ext_model *m, const char *node, uint32_t pos);
uint32_t sf_used_units(const struct vxpu_ext_model *m, const char *node, uint32_t pos);

/* A formatted heap string. */
char *sf_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
