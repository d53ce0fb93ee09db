/*
 * region.h - the shared region of one container: its file layout (version 1)
 * and the functions that open, claim, read and repair it.
 *
 * One file per container (VXPU_REGION) is mapped MAP_SHARED by every process
 * of the container that uses the GPU, by `vxpu region show`, and by the node
 * agent. It holds:
 *   - a header (magic, layout version, sizes, readiness flag);
 *   - per container device (index i = the device the environment calls
 *     VXPU_MEMORY_LIMIT_<i>): the memory limit, the device UUID once known,
 *     and the compute limit and time budget (struct vxpu_region_compute);
 *   - fixed process slots that never move: pid, host pid, and per device the
 *     bytes the process has charged ("charge") and is about to charge
 *     ("reserve").
 *
 * Invariants (see docs/limiter.md for the byte layout):
 *   - Ownership of slot i is the kernel's: the owner holds an OFD write lock
 *     on byte `slot_offset + i * slot_size` of the file. The kernel drops it
 *     when the last descriptor of that open file description goes away, i.e.
 *     when the process dies (SIGKILL included) or execs (O_CLOEXEC). Whoever
 *     can take the lock knows the owner is gone; PID reuse cannot fool it.
 *   - Only the lock holder writes a slot's state, pid and counters (the
 *     owner, or a peer that took the lock of a dead owner to reclaim it). The
 *     slot state moves FREE -> LIVE -> FREE by compare-and-swap, so a reader
 *     never sees a half-claimed slot as live.
 *   - A slot's counters only hold what the owner added; reclaiming a dead
 *     slot is zeroing them, which is idempotent: a reclaimer that dies half
 *     way leaves work the next one finishes.
 *   - The container's usage of a device is the sum of its slots' counters;
 *     there is no separate total that a death between two stores could leave
 *     wrong (admission.h explains how a limit is enforced on that sum).
 *   - `slot_high` only grows: every slot ever claimed is below it, so a scan
 *     of [0, slot_high) sees every live slot.
 *   - A reader refuses a file whose magic, version or geometry it does not
 *     know; nothing is written to such a file.
 *   - No function here waits without a bound: the only wait (for another
 *     process initialising a fresh file) gives up after two seconds.
 *
 * Fields marked "compute" hold the compute budget and priority (budget.h
 * explains the model): header.priority, per device core_limit and the
 * `compute` bytes, overlaid by struct vxpu_region_compute, and per slot the
 * `compute` bytes, overlaid by struct vxpu_region_slot_compute. They were
 * reserved (zero) from the first version-1 file on and zero means "no
 * compute limit, no priority", so files written before the feature existed
 * read correctly and the layout version stays 1.
 */
#ifndef VXPU_LIMITER_REGION_H
#define VXPU_LIMITER_REGION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_REGION_MAGIC "VXPU-RGN" /* 8 bytes, no terminator in the file */
#define VXPU_REGION_VERSION 1u
#define VXPU_REGION_MAX_DEVICES 16u
#define VXPU_REGION_MAX_SLOTS 1024u
#define VXPU_REGION_HEADER_SIZE 4096u
#define VXPU_REGION_DEVICE_SIZE 512u
#define VXPU_REGION_SLOT_SIZE 512u
#define VXPU_REGION_DEVICE_OFFSET ((uint64_t)VXPU_REGION_HEADER_SIZE)
#define VXPU_REGION_SLOT_OFFSET                                                                    \
	(VXPU_REGION_DEVICE_OFFSET + (uint64_t)VXPU_REGION_MAX_DEVICES * VXPU_REGION_DEVICE_SIZE)
#define VXPU_REGION_FILE_SIZE                                                                      \
	(VXPU_REGION_SLOT_OFFSET + (uint64_t)VXPU_REGION_MAX_SLOTS * VXPU_REGION_SLOT_SIZE)

/* memory_limit value of a device without a limit. */
#define VXPU_REGION_UNLIMITED UINT64_MAX

/*
 * header.flags: the file was created by vxpu (`vxpu run`, the node agent)
 * with the container's limits; the limits then come from the file only and
 * a process's environment cannot change them.
 */
#define VXPU_REGION_FLAG_MANAGED 0x1u

/* header.ready once the file is fully initialised (written last). */
#define VXPU_REGION_READY 0x52454459u /* "READ" */

/* header.priority (0: the container takes no part in priority). */
enum vxpu_priority {
	VXPU_PRIORITY_UNSET = 0,
	VXPU_PRIORITY_HIGH = 1,
	VXPU_PRIORITY_NORMAL = 2,
	VXPU_PRIORITY_LOW = 3,
};

/* vxpu_region_compute.flags */
/* Completion timing is unavailable: every launch is synchronised (conservative mode). */
#define VXPU_COMPUTE_FLAG_UNMEASURED 0x1u
/* The management library's per-process utilisation is unavailable: event timing only. */
#define VXPU_COMPUTE_FLAG_NO_NVML 0x2u

enum vxpu_region_slot_state {
	VXPU_REGION_SLOT_FREE = 0,
	VXPU_REGION_SLOT_LIVE = 1,
};

enum vxpu_region_device_uuid_state {
	VXPU_REGION_UUID_UNSET = 0,
	VXPU_REGION_UUID_WRITING = 1,
	VXPU_REGION_UUID_SET = 2,
};

struct vxpu_region_header {
	char magic[8];                      /* VXPU_REGION_MAGIC */
	uint32_t version;                   /* VXPU_REGION_VERSION */
	uint32_t header_size;               /* VXPU_REGION_HEADER_SIZE */
	uint32_t device_max;                /* VXPU_REGION_MAX_DEVICES */
	uint32_t device_size;               /* VXPU_REGION_DEVICE_SIZE */
	uint32_t slot_max;                  /* VXPU_REGION_MAX_SLOTS */
	uint32_t slot_size;                 /* VXPU_REGION_SLOT_SIZE */
	uint64_t device_offset;             /* VXPU_REGION_DEVICE_OFFSET */
	uint64_t slot_offset;               /* VXPU_REGION_SLOT_OFFSET */
	uint64_t file_size;                 /* VXPU_REGION_FILE_SIZE */
	_Atomic uint32_t ready;             /* VXPU_REGION_READY when usable */
	_Atomic uint32_t slot_high;         /* one past the highest slot ever claimed */
	uint64_t created_unix_ms;           /* wall clock at initialisation */
	_Atomic uint64_t limits_generation; /* bumped by every limit change */
	_Atomic uint32_t priority;          /* compute: container priority, 0 = unset */
	uint32_t flags;                     /* VXPU_REGION_FLAG_* */
	uint8_t reserved[VXPU_REGION_HEADER_SIZE - 88];
};

struct vxpu_region_device {
	_Atomic uint64_t memory_limit; /* bytes, or VXPU_REGION_UNLIMITED */
	_Atomic uint32_t uuid_state;   /* enum vxpu_region_device_uuid_state */
	uint32_t pad0;
	uint8_t uuid[16];            /* the device's UUID bytes (cuDeviceGetUuid) */
	_Atomic uint32_t core_limit; /* compute: percent of the device, 0 = unset */
	uint32_t pad1;
	uint8_t compute[256]; /* compute: the container's time budget */
	uint8_t reserved[VXPU_REGION_DEVICE_SIZE - 296];
};

/* One process's counters for one device. */
struct vxpu_region_slot_memory {
	_Atomic uint64_t reserve; /* bytes being admitted right now */
	_Atomic uint64_t charge;  /* bytes admitted and held */
};

struct vxpu_region_slot {
	_Atomic uint32_t state;      /* enum vxpu_region_slot_state */
	_Atomic uint32_t generation; /* bumped by every claim */
	_Atomic int32_t pid;         /* pid in the workload's namespace */
	uint32_t pad0;
	/* (generation << 32) | host pid; written by the node agent, 0 pid = unknown */
	_Atomic uint64_t host;
	_Atomic uint64_t claimed_unix_ms;
	uint8_t reserved0[32];
	struct vxpu_region_slot_memory memory[VXPU_REGION_MAX_DEVICES];
	uint8_t compute[128]; /* compute: per-device device time used */
	uint8_t reserved[VXPU_REGION_SLOT_SIZE - 64 - 256 - 128];
};

/*
 * The container's compute budget on one device (overlays
 * vxpu_region_device.compute). vtime_ns is the budget itself (budget.h): the
 * CLOCK_MONOTONIC instant up to which the container's charged device time,
 * spread at its share, has used the device. Launches wait while it lies in
 * the future. Every other field is statistics or signalling.
 */
struct vxpu_region_compute {
	_Atomic uint64_t vtime_ns;        /* budget clock (ns); 0 = never charged */
	_Atomic uint32_t wake;            /* futex word: bumped when a limit changes */
	_Atomic uint32_t flags;           /* VXPU_COMPUTE_FLAG_* */
	_Atomic uint64_t charged_ns;      /* device time charged, all processes, in total */
	_Atomic uint64_t held_ns;         /* time launches waited for the budget, in total */
	_Atomic uint64_t launches;        /* launches under a limit or priority */
	_Atomic uint64_t held_launches;   /* of which waited */
	_Atomic uint32_t effective_limit; /* percent last applied (priority floor included) */
	uint32_t pad;
	uint8_t reserved[256 - 56];
};

/* One process's device time per device (overlays vxpu_region_slot.compute). */
struct vxpu_region_slot_compute {
	_Atomic uint64_t used_ns[VXPU_REGION_MAX_DEVICES];
};

_Static_assert(sizeof(struct vxpu_region_compute) ==
                       sizeof(((struct vxpu_region_device *)0)->compute),
               "compute overlay size");
_Static_assert(sizeof(struct vxpu_region_slot_compute) ==
                       sizeof(((struct vxpu_region_slot *)0)->compute),
               "slot compute overlay size");
_Static_assert(sizeof(struct vxpu_region_header) == VXPU_REGION_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct vxpu_region_device) == VXPU_REGION_DEVICE_SIZE, "device size");
_Static_assert(sizeof(struct vxpu_region_slot) == VXPU_REGION_SLOT_SIZE, "slot size");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free in shared memory");

/* An open region (caller-allocated; no heap). */
struct vxpu_region {
	int fd;
	bool writable;
	bool anonymous; /* process-private (see vxpu_region_open_anonymous) */
	struct vxpu_region_header *header;
	struct vxpu_region_device *devices;
	struct vxpu_region_slot *slots;
	/*
	 * Optional: asked before a dead slot's charge on a device is given
	 * back. Returns true while the driver still holds memory for that
	 * process (the charge then stays until the driver lets go), so the
	 * container never appears to have room the device does not have.
	 */
	bool (*driver_still_holds)(void *ctx, int32_t pid, int32_t host_pid, unsigned device);
	void *driver_ctx;
};

enum vxpu_region_mode {
	VXPU_REGION_OPEN_READ,   /* existing file, read-only (inspection) */
	VXPU_REGION_OPEN_WRITE,  /* existing file, read-write */
	VXPU_REGION_OPEN_CREATE, /* read-write; create and initialise if new */
};

/* What a fresh file starts with. */
struct vxpu_region_init {
	bool managed;                                   /* sets VXPU_REGION_FLAG_MANAGED */
	uint64_t memory_limit[VXPU_REGION_MAX_DEVICES]; /* VXPU_REGION_UNLIMITED for none */
	bool uuid_set[VXPU_REGION_MAX_DEVICES];
	uint8_t uuid[VXPU_REGION_MAX_DEVICES][16];
	uint32_t core_limit[VXPU_REGION_MAX_DEVICES]; /* percent, 0 = none */
	uint32_t priority;                            /* enum vxpu_priority */
};

/* Every device unlimited, no UUIDs. */
void vxpu_region_init_default(struct vxpu_region_init *init);

/*
 * Opens path. CREATE initialises a new (or empty, or never-finished) file
 * from init (which may be NULL for the default); an existing initialised
 * file keeps its content: the file, not the caller, is the authority on
 * limits. The file is created with mode 0666 minus the umask. On failure
 * returns -1 with one line in err naming the file and the problem; r is then
 * unusable (fd -1).
 */
int vxpu_region_open(struct vxpu_region *r, const char *path, enum vxpu_region_mode mode,
                     const struct vxpu_region_init *init, char *err, size_t errlen);
void vxpu_region_close(struct vxpu_region *r);

/*
 * A region in anonymous shared memory, for a process that has no limit and
 * no region file: it is shared with forked children only, slots are not
 * locked (only this process tree sees them) and dead owners are never
 * reclaimed. 0 or -1 (mmap failed).
 */
int vxpu_region_open_anonymous(struct vxpu_region *r, const struct vxpu_region_init *init);

/*
 * Checks that a mapped header describes a layout this build reads
 * (magic, version, geometry, readiness, file size). 0, or -1 with err.
 */
int vxpu_region_check_header(const struct vxpu_region_header *h, uint64_t file_size, char *err,
                             size_t errlen);

/* ---- slots ----------------------------------------------------------------- */

/*
 * Claims a free slot (or the slot of a dead owner, after reclaiming it) for
 * pid. Returns the slot index, or -1 when every slot is held by a live
 * process. *generation receives the claim's generation.
 */
int vxpu_region_claim(struct vxpu_region *r, int32_t pid, uint32_t *generation);

/*
 * Gives a slot back: zeroes its counters, marks it free, drops the lock. For
 * a process that ends its use of the GPU while still running.
 */
void vxpu_region_release(struct vxpu_region *r, unsigned slot);

/*
 * True when slot's owner is alive (someone else holds the slot lock). A
 * process must not ask about its own slot: its own lock never conflicts
 * with itself, so the answer would be false.
 */
bool vxpu_region_slot_alive(const struct vxpu_region *r, unsigned slot);

/*
 * Reclaims every LIVE slot whose owner is dead (except `self`, which may be
 * -1): zeroes its counters (device by device, each only once the driver no
 * longer holds that memory, see driver_still_holds) and frees it once all
 * are zero. Returns the number of slots freed. Never blocks: a slot whose
 * lock is held is alive by definition.
 */
int vxpu_region_reclaim_dead(struct vxpu_region *r, int self);

/*
 * Reclaims the dead slots that carry pid (other than self): earlier images
 * of the calling process, which exec replaced. Their memory went with the
 * image, so the driver is not asked (it would see the same pid still
 * holding the new image's memory). Returns the number freed.
 */
int vxpu_region_reclaim_pid(struct vxpu_region *r, int32_t pid, int self);

/*
 * The node agent's write: records host_pid for slot if the slot still has
 * generation (compare-and-swap on the packed word). 0, or -1 when the slot
 * was claimed again meanwhile (re-read and retry).
 */
int vxpu_region_set_host_pid(struct vxpu_region *r, unsigned slot, uint32_t generation,
                             int32_t host_pid);

/* host_pid of slot if recorded for its current generation, else 0. */
int32_t vxpu_region_host_pid(const struct vxpu_region *r, unsigned slot);

/* ---- devices ----------------------------------------------------------------- */

/* Sets a device's memory limit (VXPU_REGION_UNLIMITED to lift it). */
void vxpu_region_set_limit(struct vxpu_region *r, unsigned device, uint64_t bytes);

/*
 * Sets a device's compute limit (percent 1..100, 0 to lift it) and wakes
 * every launch waiting on the device's budget so the new share applies at
 * once.
 */
void vxpu_region_set_core_limit(struct vxpu_region *r, unsigned device, uint32_t percent);

/* Sets the container's priority (enum vxpu_priority). */
void vxpu_region_set_priority(struct vxpu_region *r, uint32_t priority);

/* The compute overlays (see struct vxpu_region_compute). */
static inline struct vxpu_region_compute *vxpu_region_compute(const struct vxpu_region *r,
                                                              unsigned device)
{
	return (struct vxpu_region_compute *)(void *)r->devices[device].compute;
}

static inline struct vxpu_region_slot_compute *vxpu_region_slot_compute(const struct vxpu_region *r,
                                                                        unsigned slot)
{
	return (struct vxpu_region_slot_compute *)(void *)r->slots[slot].compute;
}

/* "high", "normal", "low" or "none". */
const char *vxpu_priority_name(uint32_t priority);

/*
 * Records a device's UUID if none is recorded yet. Returns 0 when the
 * device now has this UUID, -1 when it has a different one.
 */
int vxpu_region_set_uuid(struct vxpu_region *r, unsigned device, const uint8_t uuid[16]);

/* True and the bytes when the device's UUID is recorded. */
bool vxpu_region_uuid(const struct vxpu_region *r, unsigned device, uint8_t uuid[16]);

/* The device whose recorded UUID is uuid, or -1. */
int vxpu_region_find_uuid(const struct vxpu_region *r, const uint8_t uuid[16]);

/* ---- reading --------------------------------------------------------------- */

struct vxpu_region_process {
	unsigned slot;
	uint32_t generation;
	int32_t pid;
	int32_t host_pid; /* 0 when not recorded */
	bool alive;       /* false: the owner died and the slot awaits reclaiming */
	uint64_t claimed_unix_ms;
	uint64_t used[VXPU_REGION_MAX_DEVICES];       /* charge + reserve */
	uint64_t compute_ns[VXPU_REGION_MAX_DEVICES]; /* device time used */
};

struct vxpu_region_device_view {
	uint64_t memory_limit;
	bool uuid_set;
	uint8_t uuid[16];
	uint64_t used;            /* sum over live processes */
	uint64_t used_dead;       /* held by dead processes not yet reclaimed */
	uint32_t core_limit;      /* percent, 0 = none */
	uint32_t effective_limit; /* percent last applied by a launch, 0 = none yet */
	uint32_t compute_flags;   /* VXPU_COMPUTE_FLAG_* */
	uint64_t charged_ns;
	uint64_t held_ns;
	uint64_t launches;
	uint64_t held_launches;
};

struct vxpu_region_view {
	uint32_t version;
	uint64_t created_unix_ms;
	uint64_t limits_generation;
	uint32_t priority; /* enum vxpu_priority */
	/* Devices with a UUID or with memory in use; when none has either yet,
	 * the devices with a limit. */
	unsigned device_count;
	struct vxpu_region_device_view devices[VXPU_REGION_MAX_DEVICES];
	unsigned process_count;
	struct vxpu_region_process processes[VXPU_REGION_MAX_SLOTS];
};

/* A consistent-enough copy for display (counters are read one by one). */
void vxpu_region_read(const struct vxpu_region *r, struct vxpu_region_view *view);

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" for 16 bytes; buf >= 41. */
void vxpu_region_format_uuid(const uint8_t uuid[16], char *buf, size_t buflen);

/* Parses that form (the "GPU-" prefix is optional). 0 or -1. */
int vxpu_region_parse_uuid(const char *text, uint8_t uuid[16]);

#endif
