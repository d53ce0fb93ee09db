/*
 * decay_counter.c - decayed key counts (see decay_counter.h).
 *
 * Entries are searched linearly: the callers track tens to a few thousand
 * distinct shapes and capacity bounds the worst case. Ranking is a heap sort
 * of entry indices: no allocation, O(n log n), and since the rank order is
 * total on distinct keys its result is the one any correct sort would give.
 *
 * The increment is rescaled back to 1 once it passes RESCALE_ABOVE. With
 * growth at most 2^64 per observation (the smallest half-life) the largest
 * increment and any total stay far below DBL_MAX.
 */
#include "core/decay_counter.h"

#include <math.h>
#include <string.h>

#define RESCALE_ABOVE 1e200

int vxpu_decay_counter_init(struct vxpu_decay_counter *c, size_t key_size, size_t capacity,
                            double half_life, vxpu_decay_key_order order)
{
	if (key_size == 0 || capacity == 0 ||
	    !(half_life == 0.0 || half_life >= VXPU_DECAY_MIN_HALF_LIFE))
		return -1;
	*c = (struct vxpu_decay_counter){
	        .key_size = key_size,
	        .capacity = capacity,
	        .increment = 1.0,
	        .growth = half_life > 0.0 ? exp2(1.0 / half_life) : 1.0,
	        .order = order,
	};
	return 0;
}

static const unsigned char *key_at(const struct vxpu_decay_counter *c, const void *keys, size_t i)
{
	return (const unsigned char *)keys + i * c->key_size;
}

static int key_order(const struct vxpu_decay_counter *c, const void *a, const void *b)
{
	return c->order ? c->order(a, b) : memcmp(a, b, c->key_size);
}

/* Whether entry a ranks before entry b: heavier, or as heavy and less in key order. */
static bool ranks_before(const struct vxpu_decay_counter *c, const struct vxpu_decay_slot *slots,
                         const void *keys, size_t a, size_t b)
{
	if (slots[a].weight != slots[b].weight)
		return slots[a].weight > slots[b].weight;
	return key_order(c, key_at(c, keys, a), key_at(c, keys, b)) < 0;
}

/* Keeps weights finite under lazy decay: rescale everything together. */
static void rescale(struct vxpu_decay_counter *c, struct vxpu_decay_slot *slots)
{
	const double scale = 1.0 / c->increment;
	for (size_t i = 0; i < c->len; i++)
		slots[i].weight *= scale;
	c->increment = 1.0;
}

size_t vxpu_decay_counter_add(struct vxpu_decay_counter *c, struct vxpu_decay_slot *slots,
                              void *keys, const void *key)
{
	size_t at = c->len;
	for (size_t i = 0; i < c->len; i++) {
		if (memcmp(key_at(c, keys, i), key, c->key_size) == 0) {
			at = i;
			break;
		}
	}
	if (at == c->len) {
		if (c->len < c->capacity) {
			c->len++;
		} else {
			/* The lightest; among equals the one that would rank last. */
			at = 0;
			for (size_t i = 1; i < c->len; i++)
				if (ranks_before(c, slots, keys, at, i))
					at = i;
		}
		memcpy((unsigned char *)keys + at * c->key_size, key, c->key_size);
		slots[at] = (struct vxpu_decay_slot){0.0, 0.0};
	}
	slots[at].weight += c->increment;
	c->observations++;
	c->increment *= c->growth;
	if (c->increment > RESCALE_ABOVE)
		rescale(c, slots);
	return at;
}

double vxpu_decay_counter_total(const struct vxpu_decay_counter *c,
                                const struct vxpu_decay_slot *slots)
{
	double total = 0.0;
	for (size_t i = 0; i < c->len; i++)
		total += slots[i].weight;
	return total;
}

/* Restores the heap property below `root` of order[0..n): a parent ranks
 * after its children, so the root is the entry that ranks last. */
static void sift_down(const struct vxpu_decay_counter *c, const struct vxpu_decay_slot *slots,
                      const void *keys, size_t *order, size_t root, size_t n)
{
	for (;;) {
		size_t last = root, child = 2 * root + 1;
		if (child < n && ranks_before(c, slots, keys, order[last], order[child]))
			last = child;
		if (child + 1 < n && ranks_before(c, slots, keys, order[last], order[child + 1]))
			last = child + 1;
		if (last == root)
			return;
		const size_t swap = order[root];
		order[root] = order[last];
		order[last] = swap;
		root = last;
	}
}

void vxpu_decay_counter_rank(const struct vxpu_decay_counter *c,
                             const struct vxpu_decay_slot *slots, const void *keys, size_t *order)
{
	const size_t n = c->len;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(c, slots, keys, order, i, n);
	for (size_t end = n; end > 1; end--) {
		const size_t swap = order[0];
		order[0] = order[end - 1];
		order[end - 1] = swap;
		sift_down(c, slots, keys, order, 0, end - 1);
	}
}

double vxpu_decay_counter_snapshot(struct vxpu_decay_counter *c, struct vxpu_decay_slot *slots,
                                   const void *keys, size_t *order)
{
	vxpu_decay_counter_rank(c, slots, keys, order);
	double total = 0.0;
	for (size_t i = 0; i < c->len; i++)
		total += slots[order[i]].weight;
	for (size_t i = 0; i < c->len; i++)
		slots[i].snapshot_share = total > 0.0 ? slots[i].weight / total : 0.0;
	c->snapshot_taken = true;
	return total;
}

double vxpu_decay_counter_drift(const struct vxpu_decay_counter *c,
                                const struct vxpu_decay_slot *slots)
{
	if (!c->snapshot_taken)
		return 1.0;
	const double total = vxpu_decay_counter_total(c, slots);
	if (!(total > 0.0))
		return 0.0;
	double moved = 0.0;
	for (size_t i = 0; i < c->len; i++)
		moved += fabs(slots[i].weight / total - slots[i].snapshot_share);
	return moved / 2.0;
}
