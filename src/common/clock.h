/*
 * clock.h - the wall clock as vxpu's daemons and CLI record it: Unix
 * milliseconds (UTC), the unit of the ledger, of Kubernetes timestamps and
 * of the local allocation state. Monotonic durations are measured where
 * they are needed; this is only for times that are stored or shown.
 */
#ifndef VXPU_COMMON_CLOCK_H
#define VXPU_COMMON_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch, from CLOCK_REALTIME. */
int64_t vxpu_wall_ms(void);

#endif
