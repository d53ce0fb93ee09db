/*
 * sorted.h - binary search in an array kept in ascending order, the lookup
 * of every sorted table in vxpu (the extender's nodes, pods and quota
 * sources, the scheduler ledger's running set). The caller compares one
 * element with the key, so one search serves arrays of structs and arrays
 * of pointers, and keys of one field or several.
 */
#ifndef VXPU_CORE_SORTED_H
#define VXPU_CORE_SORTED_H

#include <stdbool.h>
#include <stddef.h>

/* items[i] against key: < 0, 0 or > 0, in the order the array is kept. */
typedef int (*vxpu_sorted_cmp_fn)(const void *items, size_t i, const void *key);

/*
 * The position of key among the n items: *found is true and it is the
 * matching element's index, or *found is false and it is where key would
 * be inserted to keep the order.
 */
size_t vxpu_sorted_find(const void *items, size_t n, const void *key, vxpu_sorted_cmp_fn cmp,
                        bool *found);

#endif
