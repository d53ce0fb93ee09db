/*
 * cuda_internal.h - process-local state of the simulated libcuda.so.1,
 * shared by its cuda_*.c files (never installed, never seen by callers).
 *
 * Model: the machine-wide facts (memory per device, the kernel timeline,
 * faults) live in the shared state file (simstate.h); everything a real
 * driver keeps per process lives here: contexts and the per-thread context
 * stack, allocations (device pointers are real addresses in this process,
 * mapped MAP_NORESERVE so untouched memory costs nothing), streams, events,
 * modules, pools, VMM handles, arrays, graphs.
 *
 * Locking: one process-wide recursive mutex `sim.lock` guards every table
 * below. It is never held while sleeping (synchronisation waits drop it
 * first, from a depth of one), so the only blocking inside the driver is the
 * waiting a real GPU would impose.
 *
 * Handles given to the caller are pointers to heap objects that carry a
 * magic number and sit in a registry list; a handle is accepted only if it
 * is found in its registry, so a stale or foreign handle yields
 * CUDA_ERROR_INVALID_HANDLE (or _CONTEXT) instead of undefined behaviour.
 *
 * Internal calls never go through exported entry points: exported functions
 * are thin shells over static or sim_* functions. Together with -Bsymbolic
 * this keeps an interposing library (the limiter) from seeing, and counting,
 * the simulator's own internal work.
 */
#ifndef VXPU_SIM_CUDA_INTERNAL_H
#define VXPU_SIM_CUDA_INTERNAL_H

#include "cuda/cuda_abi.h"
#include "sim/simstate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_API __attribute__((visibility("default")))

/* Launch queue depth per stream, as on hardware: the 1025th pending launch
 * blocks the host until the oldest one completes. */
#define SIM_QUEUE_DEPTH 1024
/* Device time of a kernel that is neither `busy` nor `fill`. */
#define SIM_GENERIC_KERNEL_NS 5000ULL
/* Bandwidth at which `fill` writes device memory (bytes per second). */
#define SIM_FILL_BYTES_PER_SEC 1000000000000ULL
#define SIM_CTX_STACK_MAX 64

enum sim_kernel_kind { SIM_KERNEL_GENERIC, SIM_KERNEL_BUSY, SIM_KERNEL_FILL };

/* One kernel invocation with its decoded arguments (launches and graph nodes). */
struct sim_kernel_call {
	enum sim_kernel_kind kind;
	uint64_t busy_usec;
	CUdeviceptr fill_ptr;
	uint32_t fill_value;
	uint64_t fill_count;
};

struct sim_stream;

struct sim_ctx {
	uint32_t magic;
	int dev; /* physical device index */
	unsigned int flags;
	bool primary;
	uint64_t last_end;         /* end of the latest work submitted in this context */
	uint64_t charged;          /* context_memory charged for it */
	struct sim_stream *legacy; /* the NULL / CU_STREAM_LEGACY stream */
	struct sim_ctx *next;
};

struct sim_graph;

struct sim_stream {
	uint32_t magic;
	struct sim_ctx *ctx;
	unsigned int flags;
	int priority;
	bool per_thread;
	pthread_t owner; /* per-thread default streams only */
	uint64_t last_end;
	uint64_t pending[SIM_QUEUE_DEPTH]; /* end times of the latest launches */
	unsigned int pending_next;
	CUstreamCaptureStatus capture;
	struct sim_graph *capture_graph;
	struct sim_stream *next;
};

struct sim_event {
	uint32_t magic;
	struct sim_ctx *ctx;
	unsigned int flags;
	bool recorded;
	uint64_t time; /* completion time of the work before the record */
	struct sim_event *next;
};

enum sim_alloc_kind {
	SIM_ALLOC_DEVICE,     /* cuMemAlloc, cuMemAllocPitch */
	SIM_ALLOC_MANAGED,    /* cuMemAllocManaged */
	SIM_ALLOC_HOST,       /* cuMemAllocHost, cuMemHostAlloc */
	SIM_ALLOC_REGISTERED, /* cuMemHostRegister (memory owned by the caller) */
	SIM_ALLOC_POOL,       /* one block of a stream-ordered pool */
};

struct sim_pool;

struct sim_alloc {
	uintptr_t base;
	size_t size;      /* bytes addressable from base */
	size_t map_len;   /* bytes mapped (0 for registered host memory) */
	uint64_t charged; /* bytes charged to the device */
	int dev;
	enum sim_alloc_kind kind;
	struct sim_ctx *ctx;
	struct sim_pool *pool; /* SIM_ALLOC_POOL */
	bool in_use;           /* SIM_ALLOC_POOL: handed out (else kept by the pool) */
	size_t user_size;      /* SIM_ALLOC_POOL: bytes the caller asked for */
};

struct sim_driver {
	pthread_mutex_t lock;
	int init; /* 0 not yet, 1 done, -1 failed (init_error) */
	CUresult init_error;
	struct vxpu_sim_state st;
	int visible_count;
	int visible[VXPU_SIM_MAX_DEVICES]; /* CUdevice ordinal -> physical index */
	struct sim_ctx primary[VXPU_SIM_MAX_DEVICES];
	int primary_refs[VXPU_SIM_MAX_DEVICES];
	struct sim_pool *current_pool[VXPU_SIM_MAX_DEVICES];
	struct sim_ctx *contexts; /* created contexts (not the primaries) */
	struct sim_stream *streams;
	struct sim_event *events;
	struct sim_alloc *allocs; /* sorted by base */
	size_t alloc_count, alloc_cap;
};

extern struct sim_driver sim;

/* ---- cuda_core.c ---- */
void sim_lock(void);
void sim_unlock(void);
/* CUDA_SUCCESS once cuInit succeeded; its error otherwise. */
CUresult sim_check_init(void);
/* Ordinal -> physical index, or -1. */
int sim_device_index(CUdevice ordinal);
int sim_device_ordinal(int phys);
const struct vxpu_sim_device_config *sim_device_config(int phys);
/* Sleeps until CLOCK_MONOTONIC reaches t_ns. */
void sim_wait_until(uint64_t t_ns);
uint64_t sim_round_up(uint64_t v, uint64_t align);

/* ---- cuda_ctx.c (caller holds sim.lock where noted) ---- */
/* The calling thread's current context; CUDA_ERROR_INVALID_CONTEXT if none. */
CUresult sim_current_ctx(struct sim_ctx **out);
bool sim_ctx_valid(const struct sim_ctx *ctx);
CUresult sim_ctx_usable(const struct sim_ctx *ctx); /* lost device -> error */
/* Waits for every stream of ctx; then releases pool memory above thresholds. */
CUresult sim_ctx_synchronize(struct sim_ctx *ctx);
/* Clears the calling thread's context stack (fork child). */
void sim_ctx_forget_thread(void);

/* ---- cuda_mem.c (sim.lock held) ---- */
struct sim_alloc *sim_alloc_find(uintptr_t p);  /* allocation containing p */
struct sim_alloc *sim_alloc_at(uintptr_t base); /* allocation starting at base */
int sim_alloc_insert(const struct sim_alloc *a);
void sim_alloc_remove(struct sim_alloc *a);
/* Device-accessible range check (allocations and VMM mappings). */
bool sim_range_ok(uintptr_t p, size_t n);
void *sim_map_anon(size_t len);
/* Frees every allocation made in ctx (context destruction). */
void sim_free_ctx_allocations(struct sim_ctx *ctx);

/* ---- cuda_pool.c (sim.lock held) ---- */
CUresult sim_pool_free(struct sim_alloc *a);
/* Releases free blocks above each pool's release threshold on dev. */
void sim_pools_release_idle(int dev);
void sim_pools_reset(void);

/* ---- cuda_vmm.c (sim.lock held) ---- */
bool sim_vmm_range_ok(uintptr_t p, size_t n);
void sim_vmm_reset(void);

/* ---- cuda_array.c ---- */
void sim_arrays_reset(void);

/* ---- cuda_exec.c ---- */
/* The *_reset functions free a forked child's copies of the parent's objects. */
/* Resolves a stream handle for the calling thread (ptsz: NULL means the
 * per-thread default stream). Caller holds sim.lock. */
CUresult sim_stream_resolve(CUstream h, bool ptsz, struct sim_stream **out);
/* Runs (or, while capturing, records) one kernel. Caller holds sim.lock. */
CUresult sim_launch(struct sim_stream *s, const struct sim_kernel_call *call);
/* Waits until s's submitted work completed. Takes and drops sim.lock. */
CUresult sim_stream_wait(struct sim_stream *s);
void sim_streams_destroy_ctx(struct sim_ctx *ctx);
void sim_modules_reset(void);

/* ---- cuda_graph.c (sim.lock held) ---- */
struct sim_graph *sim_graph_new(struct sim_ctx *ctx);
CUresult sim_graph_append(struct sim_graph *g, const struct sim_kernel_call *call);
void sim_graphs_reset(void);

#endif
