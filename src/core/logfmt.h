/*
 * logfmt.h - the one log line format of vxpu, as a pure function.
 *
 *   ts=2026-11-28T11:47:49.123Z level=warn msg="device lost" dev=0 uuid=GPU-...
 *
 * One event is one line. Values that are empty or contain a space, '"',
 * '=', '\\' or a control character are quoted, with '"' and '\\' escaped and
 * control characters written as \n, \t or \xHH, so a line can always be split
 * back into its fields. The writer (src/common/log.c) adds the clock and the
 * destination; this file does no I/O.
 */
#ifndef VXPU_CORE_LOGFMT_H
#define VXPU_CORE_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

enum vxpu_log_level {
	VXPU_LOG_OFF = 0,
	VXPU_LOG_ERROR = 1,
	VXPU_LOG_WARN = 2,
	VXPU_LOG_INFO = 3,
	VXPU_LOG_DEBUG = 4,
};

/* "off", "error", "warn", "info", "debug" (case-sensitive). 0 or -1. */
int vxpu_log_level_parse(const char *text, enum vxpu_log_level *level);
const char *vxpu_log_level_name(enum vxpu_log_level level);

/*
 * Appends one field " key=value" (quoted as needed) to buf, which holds a
 * NUL-terminated string of length *len. Truncates safely: the line always
 * stays NUL-terminated and *len never exceeds cap - 1.
 */
void vxpu_logfmt_field(char *buf, size_t cap, size_t *len, const char *key, const char *value);

/*
 * Starts a line "ts=... level=... msg=..." for a time in milliseconds since
 * the epoch (UTC). Returns the length written.
 */
size_t vxpu_logfmt_begin(char *buf, size_t cap, int64_t unix_ms, enum vxpu_log_level level,
                         const char *msg);

/* Formats unix_ms as RFC 3339 UTC with milliseconds: 2026-11-28T11:47:49.123Z */
void vxpu_format_rfc3339_ms(int64_t unix_ms, char *buf, size_t cap);

#endif
