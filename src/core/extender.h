/*
 * extender.h - kube-scheduler's scheduler-extender protocol (the JSON of
 * k8s.io/kube-scheduler/extender/v1) over the cluster model.
 *
 *   POST /filter      ExtenderArgs        -> ExtenderFilterResult
 *   POST /prioritize  ExtenderArgs        -> HostPriorityList
 *   POST /bind        ExtenderBindingArgs -> ExtenderBindingResult
 *
 * ExtenderArgs is {"Pod": Pod, "Nodes": NodeList | null, "NodeNames":
 * [string] | null}: kube-scheduler sends node names when the extender is
 * configured nodeCacheCapable (vxpu keeps its own node cache from the
 * watches) and whole Node objects otherwise. Both are read; exactly one of
 * them must be given. The answer mirrors the question: NodeNames for names,
 * Nodes (the feasible objects, as received) for objects.
 *
 * Parsing is strict: the body is one JSON object with no trailing bytes, no
 * duplicate keys and only the fields above; every field read has its
 * Kubernetes type; node names are 1..253 bytes and unique. A refusal names
 * the field and the value, and the server answers 400 with it.
 *
 * Filter and prioritize only read the model: no reservation, no learning,
 * nothing changes (the decision with side effects is bind's). A pod that
 * asks for no vendor resource passes through: every node is feasible and
 * every score 0. Otherwise filter fits the pod on every node given and
 * reports each failed node with the core's aggregated reason
 * ("2/8 insufficient memory, 6/8 type mismatch"); nodes that preemption
 * cannot help (not registered, no devices, wrong type or UUID, unhealthy,
 * cordoned, no template) go to FailedAndUnresolvableNodes. A request the
 * core refuses (gpumem and gpumem-percentage together, ...) fails every
 * node with that message in Error.
 *
 * Prioritize scores the nodes that fit under the pod's node policy (its
 * annotation, else the configured default): the single best placement (by
 * score, ties by the smaller node name) gets 10 (MaxExtenderPriority), the
 * others 0..9 linearly in the policy's primary score between the worst and
 * the best, so the extender's ranking is total and deterministic; nodes
 * that do not fit get 0. kube-scheduler adds other plugins' scores, so the
 * extender's weight decides how binding the ranking is (docs/kubernetes.md).
 */
#ifndef VXPU_CORE_EXTENDER_H
#define VXPU_CORE_EXTENDER_H

#include "core/extender_kube.h"
#include "core/extender_model.h"
#include "core/policy.h"

#include <cjson/cJSON.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_EXTENDER_MAX_PRIORITY 10

struct vxpu_extender_args {
	cJSON *doc;
	struct vxpu_kube_pod *pod; /* heap */
	bool node_objects;         /* Nodes given (nodeCacheCapable false) */
	size_t count;
	const char **names;    /* count node names, into doc */
	const cJSON **objects; /* count Node objects when node_objects */
};

/*
 * Parses an ExtenderArgs body of len bytes (need not be NUL-terminated; a
 * NUL inside is refused). Returns 0, or -1 with the message in err and
 * nothing to free.
 */
int vxpu_extender_args_parse(const char *body, size_t len, const struct vxpu_vendor_table *vendors,
                             struct vxpu_extender_args *out, char *err, size_t errlen);
void vxpu_extender_args_free(struct vxpu_extender_args *a);

/* What a filter call decided, for logs and metrics. */
struct vxpu_extender_outcome {
	bool passthrough; /* the pod asks for no vendor resource */
	bool error;       /* the pod's request was refused (Error set) */
	size_t feasible;
	size_t failed;
};

/* The ExtenderFilterResult JSON (free with cJSON_free), NULL on no memory. */
char *vxpu_extender_filter(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                           struct vxpu_extender_outcome *outcome);

/* The HostPriorityList JSON (free with cJSON_free), NULL on no memory. */
char *vxpu_extender_prioritize(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a);

/*
 * The same scores as numbers: scores[i] for a->names[i] (0..10). Returns
 * -1 on no memory. For tests and benchmarks.
 */
int vxpu_extender_scores(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                         int *scores);

/*
 * A filter's per-node results kept for the prioritize call that follows
 * it. kube-scheduler asks prioritize for the nodes filter found feasible,
 * for the same pod, usually before the model changed: with a memo of the
 * fit and score of every node filter looked at, prioritize only parses and
 * answers. A memo belongs to one pod version (uid and resourceVersion) and
 * one model generation; any change makes it unusable, never wrong.
 */
struct vxpu_extender_memo_node {
	const char *name; /* into names */
	bool fit;
	struct vxpu_score score;
};

struct vxpu_extender_memo {
	bool valid;
	char uid[VXPU_UID_MAX];
	char resource_version[VXPU_RESOURCE_VERSION_MAX];
	uint64_t generation;
	bool no_scores;                        /* passthrough or refused request: all 0 */
	size_t count;                          /* nodes, sorted by name */
	struct vxpu_extender_memo_node *nodes; /* heap */
	char *names;                           /* heap */
};

void vxpu_extender_memo_free(struct vxpu_extender_memo *memo);

/*
 * vxpu_extender_filter that also fills *memo (freed first) with every
 * node's fit and score, when the pod has a uid and a resourceVersion
 * (otherwise memo->valid is false). The answer is the same.
 */
char *vxpu_extender_filter_memo(const struct vxpu_ext_model *m, const struct vxpu_extender_args *a,
                                struct vxpu_extender_outcome *outcome,
                                struct vxpu_extender_memo *memo);

/* True when memo answers prioritize for a on m: same pod version, same
 * model generation, and every node of a in it. */
bool vxpu_extender_memo_matches(const struct vxpu_extender_memo *memo,
                                const struct vxpu_ext_model *m, const struct vxpu_extender_args *a);

/* The HostPriorityList JSON from a matching memo (the same answer as
 * vxpu_extender_prioritize), NULL on no memory. */
char *vxpu_extender_prioritize_memo(const struct vxpu_extender_memo *memo,
                                    const struct vxpu_extender_args *a);

struct vxpu_extender_binding {
	char ns[VXPU_NAMESPACE_MAX];
	char name[VXPU_POD_NAME_MAX];
	char uid[VXPU_UID_MAX];
	char node[VXPU_NODE_NAME_MAX];
};

/* Parses ExtenderBindingArgs {"PodName","PodNamespace","PodUID","Node"}. */
int vxpu_extender_binding_parse(const char *body, size_t len, struct vxpu_extender_binding *out,
                                char *err, size_t errlen);

/* ExtenderBindingResult {"Error": error or ""} (free with cJSON_free). */
char *vxpu_extender_binding_result(const char *error);

/*
 * Checks an HTTP body of len bytes for NUL bytes and copies it NUL-terminated
 * (free with free). NULL with err set when it holds a NUL or on no memory.
 */
char *vxpu_extender_body_text(const char *body, size_t len, char *err, size_t errlen);

#endif
