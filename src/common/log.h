/*
 * log.h - structured logging to stderr for vxpu's programs.
 *
 *   vxpu_log(VXPU_LOG_WARN, "device lost", "dev", "0", "uuid", uuid, NULL);
 *
 * Arguments after msg are key/value string pairs closed by NULL. The level
 * threshold comes from VXPU_LOG (off|error|warn|info|debug, default warn),
 * read once on first use; an invalid VXPU_LOG is reported once and the
 * default is kept. Each event is written with a single write(2), so lines of
 * concurrent processes never interleave (up to PIPE_BUF-sized lines).
 */
#ifndef VXPU_COMMON_LOG_H
#define VXPU_COMMON_LOG_H

#include "core/logfmt.h"

#include <stdbool.h>

bool vxpu_log_enabled(enum vxpu_log_level level);
void vxpu_log(enum vxpu_log_level level, const char *msg, ...) __attribute__((sentinel));
/* Overrides VXPU_LOG (e.g. for -v flags). */
void vxpu_log_set_level(enum vxpu_log_level level);

#endif
