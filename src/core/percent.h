/*
 * percent.h - strict parsing of whole percentages.
 *
 * Grammar: DIGITS ["%"], value 1..100 inclusive. Leading zeros are decimal.
 * No sign, no fraction, no whitespace. Used for compute shares
 * (--gpu-cores, VXPU_CORE_LIMIT, nvidia.com/gpucores) and memory percentages.
 */
#ifndef VXPU_CORE_PERCENT_H
#define VXPU_CORE_PERCENT_H

#include <stddef.h>

/* Returns 0 and sets *pct, or -1 with a reason in err (may be NULL). */
int vxpu_percent_parse(const char *text, int *pct, char *err, size_t errlen);

#endif
