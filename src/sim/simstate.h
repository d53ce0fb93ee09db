/*
 * simstate.h - the shared state of one simulated machine (library
 * vxpu_simstate), used by the simulated libcuda/libnvidia-ml, by
 * `vxpu sim`, and by tests of other modules that want to read the
 * simulator's own accounting (memory used and peak per device).
 *
 * One file (VXPU_SIM_STATE, default /dev/shm/vxpu-sim-<confighash>.state)
 * mapped MAP_SHARED by every process of the machine holds:
 *   - per device: memory used and peak (bytes), the kernel timeline (tail and
 *     a ring of busy intervals tagged with the pid), fault state (lost flag,
 *     ECC counters);
 *   - process slots: pid, and per device the bytes and contexts it holds;
 *   - an event ring (XID and ECC events) with a futex sequence word.
 *
 * Invariants:
 *   - device.used == sum over live slots of slot.used[device]; both change
 *     together under the device's robust mutex, and a process that dies
 *     inside that critical section is repaired by the next locker
 *     (EOWNERDEAD: used is recomputed from the slots).
 *   - used <= capacity at every instant; peak >= every value used has had
 *     since the last reset.
 *   - a slot is owned by exactly one live process: the owner holds an OFD
 *     write lock on the slot's byte in the file. Any process that can take
 *     that lock knows the owner is dead (even by SIGKILL; PID reuse cannot
 *     fool it) and reclaims the slot's memory and contexts (reaping).
 *   - kernels of all processes run one at a time per device, in launch
 *     order: a launch reserves [start, end) with start = max(now, tail,
 *     not_before) and moves tail to end under the timeline mutex.
 *
 * All times are CLOCK_MONOTONIC nanoseconds. Functions return 0 on success
 * and -1 on failure unless said otherwise; they never block for longer than
 * a mutex hold (a few instructions) except the documented waits.
 */
#ifndef VXPU_SIM_SIMSTATE_H
#define VXPU_SIM_SIMSTATE_H

#include "sim/simconfig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VXPU_SIM_STATE_VERSION 1
#define VXPU_SIM_MAX_SLOTS 1024
#define VXPU_SIM_TIMELINE_RING 16384
#define VXPU_SIM_EVENT_RING 256

/* cuMemAlloc-family charges are rounded up to this many bytes. */
#define VXPU_SIM_ALLOC_ALIGN ((uint64_t)512)
/* Granularity of VMM handles and of stream-ordered pool reservations. */
#define VXPU_SIM_GRANULARITY ((uint64_t)2 * 1024 * 1024)

struct vxpu_sim_shared; /* the mapped file; layout private to simstate.c */

/* One process's view of the machine. */
struct vxpu_sim_state {
	struct vxpu_sim_config config;
	char path[256];
	int fd;
	struct vxpu_sim_shared *shared;
	size_t map_len;
	int slot;  /* this process's slot, or -1 when it has none */
	pid_t pid; /* the pid the slot was claimed for */
};

/* Event kinds in the shared event ring (NVML event type bits). */
enum vxpu_sim_event_kind {
	VXPU_SIM_EVENT_ECC_SINGLE = 0x1, /* nvmlEventTypeSingleBitEccError */
	VXPU_SIM_EVENT_ECC_DOUBLE = 0x2, /* nvmlEventTypeDoubleBitEccError */
	VXPU_SIM_EVENT_XID = 0x8,        /* nvmlEventTypeXidCriticalError */
};

struct vxpu_sim_event {
	uint64_t seq; /* 1, 2, ... in order of injection */
	int device;
	uint64_t kind; /* enum vxpu_sim_event_kind */
	uint64_t data; /* XID code for XID events, 0 otherwise */
};

struct vxpu_sim_proc {
	pid_t pid;
	uint64_t used;     /* bytes on the device */
	uint32_t contexts; /* contexts on the device */
};

struct vxpu_sim_busy {
	pid_t pid;
	uint64_t busy_ns; /* kernel time inside the queried window */
};

/* ---- opening ------------------------------------------------------------ */

/*
 * The state file path for cfg: $VXPU_SIM_STATE if set, else the default
 * under /dev/shm keyed by cfg->hash.
 */
void vxpu_sim_state_path(const struct vxpu_sim_config *cfg, char *buf, size_t buflen);

/*
 * Opens (creating and initialising if needed) the state file at path for
 * cfg. Refuses a file made for another configuration or another layout
 * version. No slot is claimed. On failure err holds one line.
 */
int vxpu_sim_open(struct vxpu_sim_state *st, const struct vxpu_sim_config *cfg, const char *path,
                  char *err, size_t errlen);

/* Config from VXPU_SIM_CONFIG (or the default) + path from vxpu_sim_state_path. */
int vxpu_sim_open_env(struct vxpu_sim_state *st, char *err, size_t errlen);

/* Releases the slot (if any, giving back its memory and contexts) and unmaps. */
void vxpu_sim_close(struct vxpu_sim_state *st);

/*
 * Forgets the mapping without touching shared state: for a forked child,
 * which must not act on the parent's slot. Closes the fd so the lock stays
 * the parent's alone.
 */
void vxpu_sim_forget(struct vxpu_sim_state *st);

/* ---- process slots -------------------------------------------------------- */

/* Claims a slot for the calling process (st->slot). -1 when all are taken. */
int vxpu_sim_slot_claim(struct vxpu_sim_state *st);

/*
 * Reclaims the slots of dead processes: their memory and contexts are given
 * back. Returns the number of slots reclaimed. Cheap: one fcntl per live
 * slot.
 */
int vxpu_sim_reap(struct vxpu_sim_state *st);

/* Processes holding contexts or memory on a device (after reaping). Returns the count. */
int vxpu_sim_procs(struct vxpu_sim_state *st, int dev, struct vxpu_sim_proc *out, int max);

/* ---- memory -------------------------------------------------------------- */

/*
 * Charges bytes of physical memory on dev to the caller's slot. Fails (-1)
 * when the card does not have them free, after reaping dead processes once.
 */
int vxpu_sim_mem_charge(struct vxpu_sim_state *st, int dev, uint64_t bytes);
void vxpu_sim_mem_uncharge(struct vxpu_sim_state *st, int dev, uint64_t bytes);

uint64_t vxpu_sim_mem_total(const struct vxpu_sim_state *st, int dev);
uint64_t vxpu_sim_mem_used(const struct vxpu_sim_state *st, int dev);
/* The highest value used has had since the file was created or the peak reset. */
uint64_t vxpu_sim_mem_peak(const struct vxpu_sim_state *st, int dev);
/* Sets the peak to the current use. */
void vxpu_sim_mem_peak_reset(struct vxpu_sim_state *st, int dev);

/* Context count of the caller's slot on dev (+1 / -1). */
void vxpu_sim_ctx_add(struct vxpu_sim_state *st, int dev, int delta);

/* ---- kernel timeline ------------------------------------------------------ */

uint64_t vxpu_sim_now_ns(void);

/*
 * Reserves duration_ns of device time for a kernel of the caller, not before
 * not_before_ns. Writes the interval. Never fails.
 */
void vxpu_sim_timeline_reserve(struct vxpu_sim_state *st, int dev, uint64_t not_before_ns,
                               uint64_t duration_ns, uint64_t *start_ns, uint64_t *end_ns);

/* Kernel time on dev inside [from_ns, to_ns), all processes together. */
uint64_t vxpu_sim_busy_total(struct vxpu_sim_state *st, int dev, uint64_t from_ns, uint64_t to_ns);

/* Kernel time on dev inside [from_ns, to_ns) per pid. Returns the number of pids. */
int vxpu_sim_busy_by_pid(struct vxpu_sim_state *st, int dev, uint64_t from_ns, uint64_t to_ns,
                         struct vxpu_sim_busy *out, int max);

/* Total kernel time ever reserved on dev by the caller's slot (ns). */
uint64_t vxpu_sim_busy_reserved_self(const struct vxpu_sim_state *st, int dev);

/* ---- faults and events ------------------------------------------------------ */

void vxpu_sim_inject_xid(struct vxpu_sim_state *st, int dev, uint64_t code);
/* Single-bit: corrected counters + event. Double-bit: uncorrected + event + XID 48. */
void vxpu_sim_inject_ecc(struct vxpu_sim_state *st, int dev, bool double_bit);
/* Marks the device lost (XID 79 is delivered). */
void vxpu_sim_set_lost(struct vxpu_sim_state *st, int dev);
/* Clears the lost flag and the volatile ECC counters. */
void vxpu_sim_clear(struct vxpu_sim_state *st, int dev);
bool vxpu_sim_is_lost(const struct vxpu_sim_state *st, int dev);
/* corrected: single-bit; volatile: since the last clear (else since creation). */
uint64_t vxpu_sim_ecc_count(const struct vxpu_sim_state *st, int dev, bool corrected,
                            bool volatile_counter);

/* The sequence number of the newest event (0 when none yet). */
uint64_t vxpu_sim_event_head(const struct vxpu_sim_state *st);

/*
 * The oldest event after *cursor whose device bit is set in device_mask and
 * whose kind is in kind_mask[device]; advances *cursor past what it
 * examined. Returns 1 with *ev, or 0 when there is none yet.
 */
int vxpu_sim_event_next(const struct vxpu_sim_state *st, uint64_t *cursor, uint32_t device_mask,
                        const uint64_t kind_mask[VXPU_SIM_MAX_DEVICES], struct vxpu_sim_event *ev);

/* Waits until the event head moves past seen, or timeout_ms passes (futex). */
void vxpu_sim_event_wait(const struct vxpu_sim_state *st, uint64_t seen, unsigned int timeout_ms);

#endif
