/*
 * visible.h - CUDA_VISIBLE_DEVICES as the driver reads it, to find which
 * container device a process's CUDA ordinal is.
 *
 * The driver takes a comma-separated list of device indices or UUIDs
 * ("GPU-..." / "MIG-...", possibly shortened) and exposes, in list order,
 * the devices named up to the first entry it cannot read; an invalid entry
 * hides itself and everything after it. Ordinal k of the process is entry k.
 * Container device i is the device the driver shows as ordinal i when the
 * variable is unset; the limits VXPU_MEMORY_LIMIT_<i> are indexed that way.
 *
 * So: unset -> ordinal k is container device k; an index entry n -> device
 * n; a UUID entry -> the device with that UUID (the limiter looks it up in
 * the region, then in NVML). Parsing never fails: like the driver, it stops.
 */
#ifndef VXPU_LIMITER_VISIBLE_H
#define VXPU_LIMITER_VISIBLE_H

#include <stdbool.h>

#define VXPU_VISIBLE_MAX 64

enum vxpu_visible_kind {
	VXPU_VISIBLE_ALL,   /* variable unset: ordinal k is device k */
	VXPU_VISIBLE_INDEX, /* entry is a device index */
	VXPU_VISIBLE_UUID,  /* entry names a UUID */
	VXPU_VISIBLE_NONE,  /* no such ordinal */
};

struct vxpu_visible {
	bool set;
	unsigned count; /* usable entries */
	struct {
		bool is_uuid;
		unsigned index;
	} entries[VXPU_VISIBLE_MAX];
};

/* text may be NULL (unset). */
void vxpu_visible_parse(const char *text, struct vxpu_visible *v);

/* What ordinal is; *index receives the device index for ALL and INDEX. */
enum vxpu_visible_kind vxpu_visible_ordinal(const struct vxpu_visible *v, unsigned ordinal,
                                            unsigned *index);

#endif
