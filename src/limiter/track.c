/*
 * track.c - lock-free open addressing over one anonymous mapping (see
 * track.h). Hashing is Fibonacci hashing of the 64-bit key; pointers and
 * handles are aligned, so the multiply spreads their high-entropy middle
 * bits into the index.
 */
#include "limiter/track.h"

#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>

enum {
	TRACK_EMPTY = 0,
	TRACK_BUSY = 1,
	TRACK_FULL = 2,
	TRACK_TOMB = 3,
};

int vxpu_track_init(struct vxpu_track *t, unsigned log2_capacity)
{
	uint64_t capacity = (uint64_t)1 << log2_capacity;
	void *map = mmap(NULL, capacity * sizeof(struct vxpu_track_entry), PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		t->entries = NULL;
		t->mask = 0;
		return -1;
	}
	t->entries = map;
	t->mask = capacity - 1;
	return 0;
}

void vxpu_track_fini(struct vxpu_track *t)
{
	if (t->entries)
		munmap(t->entries, (t->mask + 1) * sizeof(struct vxpu_track_entry));
	t->entries = NULL;
	t->mask = 0;
}

static uint64_t track_home(const struct vxpu_track *t, uint64_t key)
{
	return (key * 0x9E3779B97F4A7C15ULL >> 20) & t->mask;
}

int vxpu_track_put(struct vxpu_track *t, uint64_t key, uint64_t bytes, uint64_t device,
                   uint64_t aux)
{
	uint64_t home = track_home(t, key);
	for (uint64_t i = 0; i < VXPU_TRACK_PROBE; i++) {
		struct vxpu_track_entry *e = &t->entries[(home + i) & t->mask];
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s != TRACK_EMPTY && s != TRACK_TOMB)
			continue;
		if (!atomic_compare_exchange_strong(&e->state, &s, TRACK_BUSY))
			continue;
		atomic_store_explicit(&e->key, key, memory_order_relaxed);
		atomic_store_explicit(&e->bytes, bytes, memory_order_relaxed);
		atomic_store_explicit(&e->device, device, memory_order_relaxed);
		atomic_store_explicit(&e->aux, aux, memory_order_relaxed);
		atomic_store_explicit(&e->state, TRACK_FULL, memory_order_release);
		return 0;
	}
	return -1;
}

struct vxpu_track_entry *vxpu_track_find(struct vxpu_track *t, uint64_t key)
{
	uint64_t home = track_home(t, key);
	for (uint64_t i = 0; i < VXPU_TRACK_PROBE; i++) {
		struct vxpu_track_entry *e = &t->entries[(home + i) & t->mask];
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s == TRACK_EMPTY)
			return NULL;
		if (s == TRACK_FULL && atomic_load_explicit(&e->key, memory_order_relaxed) == key)
			return e;
	}
	return NULL;
}

bool vxpu_track_take(struct vxpu_track *t, uint64_t key, uint64_t *bytes, uint64_t *device,
                     uint64_t *aux)
{
	uint64_t home = track_home(t, key);
	for (uint64_t i = 0; i < VXPU_TRACK_PROBE; i++) {
		struct vxpu_track_entry *e = &t->entries[(home + i) & t->mask];
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s == TRACK_EMPTY)
			return false;
		if (s != TRACK_FULL || atomic_load_explicit(&e->key, memory_order_relaxed) != key)
			continue;
		if (!atomic_compare_exchange_strong(&e->state, &s, TRACK_BUSY))
			continue;
		if (atomic_load_explicit(&e->key, memory_order_relaxed) != key) {
			/* Reused for another key between the check and the claim. */
			atomic_store_explicit(&e->state, TRACK_FULL, memory_order_release);
			continue;
		}
		if (bytes)
			*bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);
		if (device)
			*device = atomic_load_explicit(&e->device, memory_order_relaxed);
		if (aux)
			*aux = atomic_load_explicit(&e->aux, memory_order_relaxed);
		atomic_store_explicit(&e->state, TRACK_TOMB, memory_order_release);
		return true;
	}
	return false;
}

struct vxpu_track_entry *vxpu_track_intern(struct vxpu_track *t, uint64_t key, uint64_t device)
{
	uint64_t home = track_home(t, key);
	for (uint64_t i = 0; i < VXPU_TRACK_PROBE; i++) {
		struct vxpu_track_entry *e = &t->entries[(home + i) & t->mask];
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s == TRACK_EMPTY) {
			if (atomic_compare_exchange_strong(&e->state, &s, TRACK_BUSY)) {
				atomic_store_explicit(&e->key, key, memory_order_relaxed);
				atomic_store_explicit(&e->bytes, 0, memory_order_relaxed);
				atomic_store_explicit(&e->device, device, memory_order_relaxed);
				atomic_store_explicit(&e->aux, 0, memory_order_relaxed);
				atomic_store_explicit(&e->state, TRACK_FULL, memory_order_release);
				return e;
			}
		}
		/* Another thread is writing this entry: its key is a moment away. */
		while (s == TRACK_BUSY) {
			sched_yield();
			s = atomic_load_explicit(&e->state, memory_order_acquire);
		}
		if (s == TRACK_FULL && atomic_load_explicit(&e->key, memory_order_relaxed) == key)
			return e;
	}
	return NULL;
}

void vxpu_track_each(struct vxpu_track *t, void (*fn)(struct vxpu_track_entry *e, void *ctx),
                     void *ctx)
{
	if (!t->entries)
		return;
	for (uint64_t i = 0; i <= t->mask; i++) {
		struct vxpu_track_entry *e = &t->entries[i];
		if (atomic_load_explicit(&e->state, memory_order_acquire) == TRACK_FULL)
			fn(e, ctx);
	}
}
