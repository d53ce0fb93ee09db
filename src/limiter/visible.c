/*
 * visible.c - reading CUDA_VISIBLE_DEVICES the way the driver does (see
 * visible.h). Indices are decimal without sign; a UUID entry starts with
 * "GPU-" or "MIG-" followed by at least one hex digit or dash. Anything
 * else ends the list, as do repeated indices (the driver refuses those).
 */
#include "limiter/visible.h"

#include <string.h>

static bool uuid_entry(const char *s, size_t n)
{
	if (n < 5 || (strncmp(s, "GPU-", 4) != 0 && strncmp(s, "MIG-", 4) != 0))
		return false;
	for (size_t i = 4; i < n; i++) {
		char c = s[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		          (c >= 'A' && c <= 'F') || c == '-' || c == '/';
		if (!ok)
			return false;
	}
	return true;
}

void vxpu_visible_parse(const char *text, struct vxpu_visible *v)
{
	memset(v, 0, sizeof(*v));
	if (!text)
		return;
	v->set = true;
	const char *p = text;
	while (*p && v->count < VXPU_VISIBLE_MAX) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0)
			break;
		if (p[0] >= '0' && p[0] <= '9') {
			unsigned index = 0;
			size_t i = 0;
			for (; i < n && p[i] >= '0' && p[i] <= '9' && index < 100000; i++)
				index = index * 10 + (unsigned)(p[i] - '0');
			if (i != n)
				break;
			bool repeated = false;
			for (unsigned k = 0; k < v->count; k++)
				if (!v->entries[k].is_uuid && v->entries[k].index == index)
					repeated = true;
			if (repeated)
				break;
			v->entries[v->count].is_uuid = false;
			v->entries[v->count].index = index;
		} else if (uuid_entry(p, n)) {
			v->entries[v->count].is_uuid = true;
		} else {
			break;
		}
		v->count++;
		if (!end)
			break;
		p = end + 1;
	}
}

enum vxpu_visible_kind vxpu_visible_ordinal(const struct vxpu_visible *v, unsigned ordinal,
                                            unsigned *index)
{
	if (!v->set) {
		*index = ordinal;
		return VXPU_VISIBLE_ALL;
	}
	if (ordinal >= v->count)
		return VXPU_VISIBLE_NONE;
	if (v->entries[ordinal].is_uuid)
		return VXPU_VISIBLE_UUID;
	*index = v->entries[ordinal].index;
	return VXPU_VISIBLE_INDEX;
}
