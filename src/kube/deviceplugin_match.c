/*
 * deviceplugin_match.c - the container matching of Allocate (see
 * deviceplugin_match.h). Pure: it decides from what it is given and the
 * answers it gave before, kept in a ring of the last VXPU_DP_REMEMBERED.
 */
#include "kube/deviceplugin_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vxpu_dp_matcher_init(struct vxpu_dp_matcher *m)
{
	memset(m, 0, sizeof(*m));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int vxpu_dp_request_key(const char *const *ids, size_t n, char *key, size_t cap, char *err,
                        size_t errlen)
{
	if (n == 0) {
		snprintf(err, errlen, "the container request names no devices");
		return -1;
	}
	const char **sorted = malloc(n * sizeof(*sorted));
	if (!sorted) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	size_t len = 0;
	key[0] = '\0';
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int w = snprintf(key + len, cap - len, "%s%s", i ? "," : "", sorted[i]);
		if (w < 0 || (size_t)w >= cap - len)
			rc = -1;
		else
			len += (size_t)w;
	}
	free(sorted);
	if (rc != 0)
		snprintf(err, errlen, "the container request names too many devices");
	return rc;
}

const struct vxpu_dp_remembered *vxpu_dp_matcher_retry(const struct vxpu_dp_matcher *m,
                                                       const char *key, const char *holder_uid)
{
	bool leased = holder_uid && holder_uid[0];
	for (unsigned back = 1; back <= m->nremembered; back++) {
		unsigned i = (m->next_slot + VXPU_DP_REMEMBERED - back) % VXPU_DP_REMEMBERED;
		const struct vxpu_dp_remembered *r = &m->remembered[i];
		if (strcmp(r->key, key) == 0 && (!leased || strcmp(r->uid, holder_uid) == 0))
			return r;
	}
	return NULL;
}

/* Whether every device of container c is on one of the plugin's cards. */
static bool served(const struct vxpu_pod_allocation *a, unsigned c, const char *const *cards,
                   size_t ncards)
{
	if (!cards)
		return true;
	const struct vxpu_alloc_container *ct = &a->containers[c];
	for (uint32_t i = 0; i < ct->count; i++) {
		bool found = false;
		for (size_t k = 0; k < ncards && !found; k++)
			found = strcmp(a->devices[ct->first + i].id, cards[k]) == 0;
		if (!found)
			return false;
	}
	return true;
}

int vxpu_dp_matcher_pick(struct vxpu_dp_matcher *m, const char *uid, const char *pod,
                         const struct vxpu_pod_allocation *a, const char *key, size_t n,
                         const char *const *cards, size_t ncards, unsigned *container,
                         bool *consumed, char *err, size_t errlen)
{
	if (strcmp(uid, m->uid) != 0) { /* a new pod is being admitted */
		snprintf(m->uid, sizeof(m->uid), "%s", uid);
		m->answered = 0;
	}
	int pick = -1;
	for (int pass = 0; pass < 2 && pick < 0; pass++) {
		enum vxpu_container_kind kind =
		        pass == 0 ? VXPU_CONTAINER_INIT : VXPU_CONTAINER_APP;
		for (unsigned c = 0; c < a->ncontainers && pick < 0; c++)
			if (a->containers[c].kind == kind && !(m->answered & (1u << c)) &&
			    a->containers[c].count == n && served(a, c, cards, ncards))
				pick = (int)c;
	}
	if (pick < 0) {
		snprintf(err, errlen, "pod %s has no container left to allocate with %zu device%s",
		         pod, n, n == 1 ? "" : "s");
		return -1;
	}
	m->answered |= 1u << pick;
	struct vxpu_dp_remembered *r = &m->remembered[m->next_slot];
	m->next_slot = (m->next_slot + 1) % VXPU_DP_REMEMBERED;
	if (m->nremembered < VXPU_DP_REMEMBERED)
		m->nremembered++;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->uid, sizeof(r->uid), "%s", uid);
	snprintf(r->pod, sizeof(r->pod), "%s", pod);
	r->container = (unsigned)pick;
	*container = (unsigned)pick;
	bool all = true;
	for (unsigned c = 0; c < a->ncontainers; c++)
		all = all && (m->answered & (1u << c));
	*consumed = all;
	if (all) { /* the next pod starts afresh */
		m->uid[0] = '\0';
		m->answered = 0;
	}
	return 0;
}
