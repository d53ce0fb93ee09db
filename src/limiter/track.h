/*
 * track.h - what one process holds: fixed-capacity, lock-free maps from a
 * driver handle or device pointer to what it was charged (bytes, device)
 * and, for virtual memory, its mapping state.
 *
 * The limiter must know, when memory is freed, how much to give back and on
 * which device; the driver does not say. These maps answer that without a
 * lock and without touching the heap on the allocation path: the storage is
 * one anonymous mapping made at initialisation (pages are touched only as
 * they fill), and entries are claimed and released by compare-and-swap on
 * their state word.
 *
 * Invariants:
 *   - An entry's state goes EMPTY -> BUSY -> FULL -> BUSY -> TOMB -> BUSY ->
 *     FULL ...; it never returns to EMPTY, so a lookup may stop at the first
 *     EMPTY entry of the key's probe window.
 *   - A key is looked for only within a window of VXPU_TRACK_PROBE entries
 *     from its hash; a put that finds no free entry there fails (the caller
 *     refuses the allocation rather than lose track of it).
 *   - Keys are unique among FULL entries because the driver never hands out
 *     a live pointer or handle twice; take removes an entry before the
 *     caller frees the memory, so an address the driver reuses afterwards
 *     cannot meet a stale entry.
 */
#ifndef VXPU_LIMITER_TRACK_H
#define VXPU_LIMITER_TRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VXPU_TRACK_PROBE 64u

struct vxpu_track_entry {
	_Atomic uint32_t state;
	uint32_t pad;
	_Atomic uint64_t key;
	_Atomic uint64_t bytes;
	_Atomic uint64_t device;
	_Atomic uint64_t aux; /* meaning depends on the map (e.g. mapping count) */
};

struct vxpu_track {
	struct vxpu_track_entry *entries;
	uint64_t mask; /* capacity - 1 */
};

/* Maps 2^log2_capacity entries. 0 or -1 (mmap failed). */
int vxpu_track_init(struct vxpu_track *t, unsigned log2_capacity);
void vxpu_track_fini(struct vxpu_track *t);

/* Adds key. 0, or -1 when the key's window is full. */
int vxpu_track_put(struct vxpu_track *t, uint64_t key, uint64_t bytes, uint64_t device,
                   uint64_t aux);

/* Removes key and returns its values; false when absent. */
bool vxpu_track_take(struct vxpu_track *t, uint64_t key, uint64_t *bytes, uint64_t *device,
                     uint64_t *aux);

/*
 * The entry holding key (for in-place updates of aux), or NULL. Valid until
 * the key is taken, which only the key's owner does.
 */
struct vxpu_track_entry *vxpu_track_find(struct vxpu_track *t, uint64_t key);

/*
 * The entry for key, added (bytes 0, the given device) if absent. For maps
 * whose keys are never taken (interned): concurrent calls for one key agree
 * on one entry without a lock - two callers meeting on the same free entry
 * see each other's key once it is written (a few instructions). NULL when
 * the key's window is full.
 */
struct vxpu_track_entry *vxpu_track_intern(struct vxpu_track *t, uint64_t key, uint64_t device);

/* Calls fn for every entry present (no concurrent puts or takes). */
void vxpu_track_each(struct vxpu_track *t, void (*fn)(struct vxpu_track_entry *e, void *ctx),
                     void *ctx);

#endif
