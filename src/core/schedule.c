/*
 * schedule.c - the placement decision over a set of nodes (see schedule.h).
 * Two placements live on the stack: the best so far and the candidate; the
 * candidate is copied over the best only when it wins.
 */
#include "core/schedule.h"

#include <stdio.h>
#include <string.h>

void vxpu_sched_resolve(const struct vxpu_sched_config *cfg, const struct vxpu_pod_request *pod,
                        enum vxpu_policy *node_policy, enum vxpu_policy *device_policy)
{
	enum vxpu_policy np = pod->node_policy;
	enum vxpu_policy dp = pod->device_policy;
	if (np == VXPU_POLICY_DEFAULT)
		np = cfg ? cfg->node_policy : VXPU_POLICY_DEFAULT;
	if (dp == VXPU_POLICY_DEFAULT)
		dp = cfg ? cfg->device_policy : VXPU_POLICY_DEFAULT;
	*node_policy = np == VXPU_POLICY_DEFAULT ? VXPU_POLICY_BINPACK : np;
	*device_policy = dp == VXPU_POLICY_DEFAULT ? VXPU_POLICY_SPREAD : dp;
}

int vxpu_schedule(const struct vxpu_node *const *nodes, size_t count,
                  const struct vxpu_pod_request *pod, const struct vxpu_sched_config *cfg,
                  const struct vxpu_quota_table *quota, const struct vxpu_shape_stats *shapes,
                  struct vxpu_decision *out)
{
	out->node = -1;
	out->nodes_fit = 0;
	out->why[0] = '\0';
	vxpu_sched_resolve(cfg, pod, &out->node_policy, &out->device_policy);
	/* One memo of resolved shapes for the whole decision. */
	struct vxpu_frag_cache frag;
	vxpu_frag_cache_init(&frag, shapes);
	struct vxpu_fit_options opt = {.device_policy = out->device_policy,
	                               .quota = quota,
	                               .shapes = shapes,
	                               .frag_cache = &frag};
	size_t reasons[VXPU_REASON_COUNT] = {0};
	struct vxpu_placement cand;
	struct vxpu_refusal why;
	for (size_t i = 0; i < count; i++) {
		const struct vxpu_node *n = nodes[i];
		if (!vxpu_fit_node(n, pod, &opt, &cand, &why)) {
			reasons[vxpu_refusal_main_reason(&why)]++;
			continue;
		}
		out->nodes_fit++;
		struct vxpu_score s =
		        vxpu_score_placement(n, &cand, out->node_policy, shapes ? &frag : NULL);
		int cmp = out->node < 0 ? 1 : vxpu_score_compare(s, out->score);
		if (cmp > 0 || (cmp == 0 && strcmp(n->name, nodes[out->node]->name) < 0)) {
			out->node = (int)i;
			out->score = s;
			out->placement = cand;
		}
	}
	if (out->node >= 0)
		return out->node;
	size_t len = (size_t)snprintf(out->why, sizeof(out->why), "0/%zu nodes fit", count);
	const char *sep = ": ";
	for (int r = VXPU_REASON_OK; r < VXPU_REASON_COUNT && len < sizeof(out->why); r++) {
		if (!reasons[r])
			continue;
		int k = snprintf(out->why + len, sizeof(out->why) - len, "%s%zu %s", sep,
		                 reasons[r], vxpu_reason_text((enum vxpu_reason)r));
		if (k < 0)
			break;
		len += (size_t)k;
		sep = ", ";
	}
	return -1;
}
