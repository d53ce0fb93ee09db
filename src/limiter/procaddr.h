/*
 * procaddr.h - which entry a cuGetProcAddress request means, by the rules
 * of cuda.h, for the limiter's own table of wrappers.
 *
 * cuGetProcAddress(base, version, flags) names an entry point by its base
 * name ("cuMemAlloc") and the CUDA version the caller was written for. The
 * entry meant is the variant with the highest introduction version not
 * above the requested one; with CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
 * a per-thread-default-stream (_ptsz) variant at or below that version wins
 * over the plain ones. The limiter asks the real driver first and swaps the
 * address it returns for its wrapper of the same entry; this choice is the
 * fallback for a driver that hands out addresses other than its exported
 * symbols, so that the swap happens anyway.
 */
#ifndef VXPU_LIMITER_PROCADDR_H
#define VXPU_LIMITER_PROCADDR_H

#include <stdbool.h>
#include <stddef.h>

struct vxpu_procaddr_entry {
	const char *base; /* cuGetProcAddress name; NULL: not reachable that way */
	int since;        /* CUDA version (1000 x major + 10 x minor) that introduced it */
	bool ptsz;        /* the per-thread default stream variant */
	bool usable;      /* the real driver has it */
};

/*
 * Index of the entry meant, among `count` entries laid out `stride` bytes
 * apart (each starting with a struct vxpu_procaddr_entry), or -1 when none
 * is usable for that base name and version.
 */
int vxpu_procaddr_pick(const void *entries, size_t count, size_t stride, const char *base,
                       int version, bool per_thread);

#endif
