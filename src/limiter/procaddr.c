/*
 * procaddr.c - the cuGetProcAddress version rules over the limiter's table
 * (see procaddr.h). A linear scan: the table has a few dozen entries and the
 * runtime asks a few hundred times, once, at start-up.
 */
#include "limiter/procaddr.h"

#include <string.h>

int vxpu_procaddr_pick(const void *entries, size_t count, size_t stride, const char *base,
                       int version, bool per_thread)
{
	int best = -1;
	const struct vxpu_procaddr_entry *chosen = NULL;
	for (size_t i = 0; i < count; i++) {
		const struct vxpu_procaddr_entry *e =
		        (const struct vxpu_procaddr_entry *)((const char *)entries + i * stride);
		if (!e->usable || !e->base || strcmp(e->base, base) != 0 || e->since > version ||
		    (e->ptsz && !per_thread))
			continue;
		bool better = !chosen || (e->ptsz && !chosen->ptsz) ||
		              (e->ptsz == chosen->ptsz && e->since > chosen->since);
		if (better) {
			chosen = e;
			best = (int)i;
		}
	}
	return best;
}
