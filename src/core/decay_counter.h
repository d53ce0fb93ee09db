/*
 * decay_counter.h - an exponentially decayed count of fixed-size keys: how
 * much of the recent stream of observations each key accounts for.
 *
 * Both learned distributions of request shapes (frag.h for the trace
 * simulator, shapes.h for the allocator) count with it; the key is the
 * caller's shape struct, the counter never looks inside it except to compare.
 *
 * Decay: an observation made half_life observations ago weighs half as
 * much as one made now (half_life 0: never forget). It is applied lazily:
 * the weight added per observation grows by 2^(1/half_life) each time
 * instead of every stored weight shrinking, and all weights are rescaled
 * together before the increment could overflow. Only ratios of weights mean
 * anything; use shares (weight / total), never a weight on its own.
 *
 * Storage is the caller's: `slots` (struct vxpu_decay_slot[capacity]) and
 * `keys` (capacity keys of key_size bytes each), passed to every call, so a
 * counter can sit in a fixed array inside a struct that is copied by value
 * (no pointers into itself) or on the heap. Entries 0..len-1 are in use.
 *
 * Keys are matched with memcmp, so callers must build them deterministically:
 * zero the whole key (padding included) before setting its fields, and
 * canonicalise fields that do not matter. The key order (a caller
 * comparator, or memcmp when none) must be a total order on distinct keys.
 *
 * When all slots are in use a new key replaces the lightest entry; among
 * equally light ones the one greatest in key order, i.e. the entry that
 * would rank last. Ranking is by weight, heaviest first, ties in key order.
 * So the same sequence of observations always gives the same state.
 *
 * Drift: a snapshot remembers each entry's share; the drift is the total
 * variation distance (0..1) between the shares now and at the snapshot (1
 * before the first). An entry evicted since takes its old share with it,
 * which can only understate the drift.
 *
 * Pure: no I/O, no globals, no allocation.
 */
#ifndef VXPU_CORE_DECAY_COUNTER_H
#define VXPU_CORE_DECAY_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Smallest half-life accepted: each observation then outweighs all earlier
 * ones together by a factor of about 2^64 ("only the latest counts"). */
#define VXPU_DECAY_MIN_HALF_LIFE (1.0 / 64.0)

struct vxpu_decay_slot {
	double weight;         /* > 0 while in use (may underflow to 0 when very old) */
	double snapshot_share; /* its share of the total at the last snapshot */
};

/* Total order on keys: < 0, 0 or > 0 like memcmp. */
typedef int (*vxpu_decay_key_order)(const void *a, const void *b);

struct vxpu_decay_counter {
	size_t key_size;
	size_t capacity;
	size_t len;       /* entries in use */
	double increment; /* weight of the next observation */
	double growth;    /* increment multiplier per observation */
	uint64_t observations;
	vxpu_decay_key_order order; /* NULL: memcmp */
	bool snapshot_taken;
};

/* An empty counter. Returns -1 when key_size or capacity is 0 or half_life
 * is neither 0 nor at least VXPU_DECAY_MIN_HALF_LIFE (NaN included). */
int vxpu_decay_counter_init(struct vxpu_decay_counter *c, size_t key_size, size_t capacity,
                            double half_life, vxpu_decay_key_order order);

/* Counts one observation of *key (copied into storage when new, evicting
 * as described above when full). Returns the key's entry index. */
size_t vxpu_decay_counter_add(struct vxpu_decay_counter *c, struct vxpu_decay_slot *slots,
                              void *keys, const void *key);

/* Sum of the weights, in entry order. */
double vxpu_decay_counter_total(const struct vxpu_decay_counter *c,
                                const struct vxpu_decay_slot *slots);

/* Fills order[0..len) with the entry indices, heaviest first, ties in key
 * order. */
void vxpu_decay_counter_rank(const struct vxpu_decay_counter *c,
                             const struct vxpu_decay_slot *slots, const void *keys, size_t *order);

/* Ranks into order[0..len) like vxpu_decay_counter_rank(), remembers every
 * entry's share for vxpu_decay_counter_drift() and returns the total, summed
 * in rank order (heaviest first). */
double vxpu_decay_counter_snapshot(struct vxpu_decay_counter *c, struct vxpu_decay_slot *slots,
                                   const void *keys, size_t *order);

/* Total variation distance between the shares now and at the last snapshot;
 * 1 before the first snapshot, 0 when nothing is counted. */
double vxpu_decay_counter_drift(const struct vxpu_decay_counter *c,
                                const struct vxpu_decay_slot *slots);

#endif
