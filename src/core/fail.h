/*
 * fail.h - the error convention of vxpu's C code: a function that can fail
 * takes (char *err, size_t errlen), and on failure writes a one-line
 * reason there and returns -1. vxpu_fail does both in one statement:
 *
 *   if (n < 1)
 *           return vxpu_fail(err, errlen, "invalid count %d: must be >= 1", n);
 *
 * err may be NULL (or errlen 0) when the caller wants no reason.
 */
#ifndef VXPU_CORE_FAIL_H
#define VXPU_CORE_FAIL_H

#include <stddef.h>

int vxpu_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
