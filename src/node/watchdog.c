/*
 * watchdog.c - the bypass watchdog's state machine (see watchdog.h).
 *
 * States live in one array kept sorted by (key, gpu, kind), so a pass
 * finds each share by binary search and status listings come out in a
 * stable order. A pass builds the next array from the observations (a
 * state carried over keeps its episode and counters, a new one starts
 * under) and replaces the old one only when it is complete: a pass that
 * runs out of memory leaves the previous state untouched and emits
 * nothing, so no event is ever reported twice or lost half way.
 */
#include "node/watchdog.h"

#include <stdlib.h>
#include <string.h>

struct share_state {
	char key[VXPU_WATCHDOG_KEY_MAX];
	unsigned gpu;
	enum vxpu_watchdog_kind kind;
	bool over;         /* the last pass saw the excess */
	uint64_t since_ns; /* first pass of the present excess */
	bool flagged;
	uint64_t violations;
	uint64_t kills;
};

struct vxpu_watchdog {
	struct vxpu_watchdog_policy policy;
	struct share_state *states;
	size_t count;
};

void vxpu_watchdog_policy_default(struct vxpu_watchdog_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->memory_margin_pct = VXPU_WATCHDOG_MEMORY_MARGIN_PCT;
	p->memory_window_ns = VXPU_WATCHDOG_MEMORY_WINDOW_NS;
	p->compute_margin_pct = VXPU_WATCHDOG_COMPUTE_MARGIN_PCT;
	p->compute_window_ns = VXPU_WATCHDOG_COMPUTE_WINDOW_NS;
	p->enforce = false;
}

const char *vxpu_watchdog_kind_name(enum vxpu_watchdog_kind kind)
{
	return kind == VXPU_WATCHDOG_MEMORY ? "memory" : "compute";
}

int vxpu_watchdog_new(struct vxpu_watchdog **out, const struct vxpu_watchdog_policy *p)
{
	struct vxpu_watchdog *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->policy = *p;
	*out = w;
	return 0;
}

void vxpu_watchdog_free(struct vxpu_watchdog *w)
{
	if (!w)
		return;
	free(w->states);
	free(w);
}

static int compare_ids(const char *key_a, unsigned gpu_a, enum vxpu_watchdog_kind kind_a,
                       const char *key_b, unsigned gpu_b, enum vxpu_watchdog_kind kind_b)
{
	int c = strcmp(key_a, key_b);
	if (c != 0)
		return c;
	if (gpu_a != gpu_b)
		return gpu_a < gpu_b ? -1 : 1;
	if (kind_a != kind_b)
		return kind_a < kind_b ? -1 : 1;
	return 0;
}

static int compare_states(const void *a, const void *b)
{
	const struct share_state *x = a, *y = b;
	return compare_ids(x->key, x->gpu, x->kind, y->key, y->gpu, y->kind);
}

static const struct share_state *find_state(const struct vxpu_watchdog *w, const char *key,
                                            unsigned gpu, enum vxpu_watchdog_kind kind)
{
	size_t lo = 0, hi = w->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct share_state *s = &w->states[mid];
		int c = compare_ids(key, gpu, kind, s->key, s->gpu, s->kind);
		if (c == 0)
			return s;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Whether observation o is over its limit for kind; fills the figures. */
static bool is_over(const struct vxpu_watchdog_policy *p, const struct vxpu_watchdog_observation *o,
                    enum vxpu_watchdog_kind kind, bool *checked, double *used, double *limit,
                    double *threshold)
{
	*checked = false;
	*used = *limit = *threshold = 0;
	if (kind == VXPU_WATCHDOG_MEMORY) {
		if (o->memory_limit == UINT64_MAX)
			return false;
		*checked = true;
		*used = (double)o->memory_used;
		*limit = (double)o->memory_limit;
		*threshold = *limit * (100.0 + p->memory_margin_pct) / 100.0;
		return o->memory_used_known && *used > *threshold;
	}
	if (o->core_limit == 0)
		return false;
	*checked = true;
	*used = o->utilization;
	*limit = o->core_limit;
	*threshold = *limit + p->compute_margin_pct;
	return o->utilization_known && *used > *threshold;
}

int vxpu_watchdog_observe(struct vxpu_watchdog *w, uint64_t now_ns,
                          const struct vxpu_watchdog_observation *obs, size_t n,
                          vxpu_watchdog_emit_fn emit, void *ctx)
{
	/* The next state table: one entry per checked (share, kind). */
	struct share_state *next = n ? calloc(n * 2, sizeof(*next)) : NULL;
	if (n && !next)
		return -1;
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		for (int k = VXPU_WATCHDOG_MEMORY; k <= VXPU_WATCHDOG_COMPUTE; k++) {
			enum vxpu_watchdog_kind kind = (enum vxpu_watchdog_kind)k;
			bool checked;
			double used, limit, threshold;
			is_over(&w->policy, &obs[i], kind, &checked, &used, &limit, &threshold);
			if (!checked || !obs[i].key)
				continue;
			struct share_state *s = &next[count++];
			const struct share_state *old = find_state(w, obs[i].key, obs[i].gpu, kind);
			if (old) {
				*s = *old;
			} else {
				size_t len = strlen(obs[i].key);
				if (len >= sizeof(s->key))
					len = sizeof(s->key) - 1;
				memcpy(s->key, obs[i].key, len);
				s->key[len] = '\0';
				s->gpu = obs[i].gpu;
				s->kind = kind;
			}
		}
	}
	/* Apply, in observation order, now that nothing can fail. The entries
	 * were appended in that order, so walk them again before sorting. */
	size_t e = 0;
	for (size_t i = 0; i < n; i++) {
		for (int k = VXPU_WATCHDOG_MEMORY; k <= VXPU_WATCHDOG_COMPUTE; k++) {
			enum vxpu_watchdog_kind kind = (enum vxpu_watchdog_kind)k;
			bool checked;
			double used, limit, threshold;
			bool over = is_over(&w->policy, &obs[i], kind, &checked, &used, &limit,
			                    &threshold);
			if (!checked || !obs[i].key)
				continue;
			struct share_state *s = &next[e++];
			uint64_t window = kind == VXPU_WATCHDOG_MEMORY
			                          ? w->policy.memory_window_ns
			                          : w->policy.compute_window_ns;
			struct vxpu_watchdog_event ev = {
			        .kind = kind,
			        .observation = i,
			        .key = obs[i].key,
			        .gpu = obs[i].gpu,
			        .used = used,
			        .limit = limit,
			        .threshold = threshold,
			};
			if (!over) {
				if (s->flagged && emit) {
					ev.type = VXPU_WATCHDOG_CLEARED;
					ev.over_ns =
					        now_ns > s->since_ns ? now_ns - s->since_ns : 0;
					emit(ctx, &ev);
				}
				s->over = false;
				s->flagged = false;
				s->since_ns = 0;
				continue;
			}
			if (!s->over) {
				s->over = true;
				s->since_ns = now_ns;
			}
			ev.over_ns = now_ns > s->since_ns ? now_ns - s->since_ns : 0;
			if (!s->flagged && ev.over_ns > window) {
				s->flagged = true;
				s->violations++;
				ev.type = VXPU_WATCHDOG_FLAGGED;
				if (emit)
					emit(ctx, &ev);
			}
			if (s->flagged && w->policy.enforce) {
				ev.type = VXPU_WATCHDOG_ENFORCE;
				if (emit)
					s->kills += emit(ctx, &ev);
			}
		}
	}
	if (count > 1)
		qsort(next, count, sizeof(*next), compare_states);
	free(w->states);
	w->states = next;
	w->count = count;
	return 0;
}

size_t vxpu_watchdog_status(const struct vxpu_watchdog *w, struct vxpu_watchdog_status *out,
                            size_t cap)
{
	size_t total = 0;
	for (size_t i = 0; i < w->count; i++) {
		const struct share_state *s = &w->states[i];
		if (s->violations == 0)
			continue;
		if (total < cap) {
			struct vxpu_watchdog_status *st = &out[total];
			memcpy(st->key, s->key, sizeof(st->key));
			st->gpu = s->gpu;
			st->kind = s->kind;
			st->flagged = s->flagged;
			st->violations = s->violations;
			st->kills = s->kills;
		}
		total++;
	}
	return total;
}
