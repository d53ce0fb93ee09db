/*
 * devcoord.h - the per-device coordination file: how containers sharing one
 * device tell each other about priority.
 *
 * One file per physical device, VXPU_DEVICE_DIR/<UUID>.coord (the node
 * agent, or `vxpu run`, gives every container that uses the device the same
 * directory). It is created on demand by the first process that needs it;
 * concurrent creators serialise on an OFD lock of byte 0 while one of them
 * sizes and formats it, and a file whose header does not match is refused.
 *
 * Layout (version 1, little endian, 4096 + 64 * 128 bytes):
 *   header (4096 bytes): magic "VXPU-DEV", version, sizes, ready word, and
 *     the high-priority summary of the device:
 *       high_last_ns   CLOCK_MONOTONIC time of the latest launch by a
 *                      high-priority container (a plain store per launch)
 *       high_period_ns moving average of the time between its launches
 *       high_busy_ns   moving average of the device time per launch
 *       high_seq       futex word, bumped by a high launch when waiters > 0
 *       waiters        held launches sleeping on high_seq
 *   entries (64 x 128 bytes): one per process that takes part, with its
 *     pid, priority, region path hash, last launch time and whether it is
 *     held right now. The owner holds an OFD write lock on the entry's first
 *     byte, so a dead owner's entry is recognised (the lock is free) and
 *     reused, exactly as region slots are.
 *
 * Invariants: the summary only ever moves forward (high_last_ns by
 * compare-and-swap to the maximum); a dead high container stops counting as
 * active VXPU_BUDGET_HIGH_WINDOW_NS after its last launch without anyone
 * cleaning up; nobody blocks on the file except a held launch, and that
 * wait has a timeout derived from high_last_ns.
 */
#ifndef VXPU_LIMITER_DEVCOORD_H
#define VXPU_LIMITER_DEVCOORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_DEVCOORD_MAGIC "VXPU-DEV"
#define VXPU_DEVCOORD_VERSION 1u
#define VXPU_DEVCOORD_HEADER_SIZE 4096u
#define VXPU_DEVCOORD_ENTRY_SIZE 128u
#define VXPU_DEVCOORD_MAX_ENTRIES 64u
#define VXPU_DEVCOORD_FILE_SIZE                                                                    \
	((uint64_t)VXPU_DEVCOORD_HEADER_SIZE +                                                     \
	 (uint64_t)VXPU_DEVCOORD_MAX_ENTRIES * VXPU_DEVCOORD_ENTRY_SIZE)
#define VXPU_DEVCOORD_READY 0x59444552u

struct vxpu_devcoord_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t entry_size;
	uint32_t entry_max;
	_Atomic uint32_t ready;
	uint32_t pad0;
	_Atomic uint64_t high_last_ns;
	_Atomic uint64_t high_period_ns;
	_Atomic uint64_t high_busy_ns;
	_Atomic uint32_t high_seq;
	_Atomic uint32_t waiters;
	uint8_t reserved[VXPU_DEVCOORD_HEADER_SIZE - 64];
};

struct vxpu_devcoord_entry {
	_Atomic uint32_t state; /* 0 free, 1 live */
	_Atomic uint32_t priority;
	_Atomic int32_t pid;
	_Atomic uint32_t held; /* 1 while a launch of this process waits */
	_Atomic uint64_t region_hash;
	_Atomic uint64_t last_launch_ns;
	_Atomic uint64_t launches;
	uint8_t reserved[VXPU_DEVCOORD_ENTRY_SIZE - 40];
};

_Static_assert(sizeof(struct vxpu_devcoord_header) == VXPU_DEVCOORD_HEADER_SIZE, "header");
_Static_assert(sizeof(struct vxpu_devcoord_entry) == VXPU_DEVCOORD_ENTRY_SIZE, "entry");

struct vxpu_devcoord {
	int fd;
	struct vxpu_devcoord_header *header;
	struct vxpu_devcoord_entry *entries;
	int entry; /* ours, -1 when none could be claimed */
};

/*
 * Opens (creating the directory and the file if needed) DIR/NAME.coord and
 * claims an entry for pid at priority. 0, or -1 with err.
 */
int vxpu_devcoord_open(struct vxpu_devcoord *c, const char *dir, const char *name, int32_t pid,
                       uint32_t priority, uint64_t region_hash, char *err, size_t errlen);
void vxpu_devcoord_close(struct vxpu_devcoord *c);

/*
 * A high container is about to launch at now; its previous launch was at
 * prev_ns (0: none) and its launches take busy_ns of device time: updates
 * the summary, so that held containers see it active from now on.
 */
void vxpu_devcoord_high_mark(struct vxpu_devcoord *c, uint64_t now, uint64_t prev_ns,
                             uint64_t busy_ns);

/*
 * After that launch reached the driver: wakes held launches if any sleep.
 * Waking them only now puts their kernels behind the high one's, never in
 * front of it.
 */
void vxpu_devcoord_high_wake(struct vxpu_devcoord *c);

/*
 * Sleeps until a high launch, a wake, or until deadline_ns (CLOCK_MONOTONIC),
 * whichever comes first. seq is the high_seq value read before deciding to
 * wait (so a launch in between is not missed).
 */
void vxpu_devcoord_wait(struct vxpu_devcoord *c, uint32_t seq, uint64_t now, uint64_t deadline_ns);

/* Entries of live processes (for display): fills out up to max, returns the count. */
int vxpu_devcoord_live(const struct vxpu_devcoord *c, struct vxpu_devcoord_entry *out, int max);

#endif
