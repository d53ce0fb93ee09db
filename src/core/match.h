/*
 * match.h - the name matching rules of the allocator, in one place.
 *
 * Device selection by type and by UUID, vendor profile lookup and resource
 * names all compare short ASCII names. The rules are:
 *   - vendor and model names compare case-insensitively ("A100" matches
 *     "NVIDIA A100-SXM4-80GB"; "Huawei" equals "huawei");
 *   - a selector list is comma-separated; surrounding spaces of each item are
 *     ignored and empty items are skipped ("A100, H100" = {"A100","H100"});
 *   - type selectors match by substring, UUID selectors by whole value.
 * Only ASCII letters are folded; the functions never allocate and never read
 * past a NUL.
 */
#ifndef VXPU_CORE_MATCH_H
#define VXPU_CORE_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* ASCII case-insensitive equality. */
bool vxpu_name_equal(const char *a, const char *b);

/* ASCII case-insensitive "needle occurs in haystack"; "" occurs everywhere. */
bool vxpu_name_contains(const char *haystack, const char *needle);

/* True when any item of the comma-separated list occurs in text (substring). */
bool vxpu_list_any_substring(const char *list, const char *text);

/* True when any item of the comma-separated list equals text. */
bool vxpu_list_any_equal(const char *list, const char *text);

/* True when the list holds at least one non-empty item. */
bool vxpu_list_nonempty(const char *list);

/*
 * Copies src into dst (capacity cap) if it fits with its NUL. Returns 0, or
 * -1 when it does not fit (dst is then left unchanged).
 */
int vxpu_copy_name(char *dst, size_t cap, const char *src);

#endif
