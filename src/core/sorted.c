/*
 * sorted.c - see sorted.h.
 */
#include "core/sorted.h"

size_t vxpu_sorted_find(const void *items, size_t n, const void *key, vxpu_sorted_cmp_fn cmp,
                        bool *found)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(items, mid, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}
