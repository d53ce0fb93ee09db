/*
 * timearg.h - strict parsing of the time bounds a user gives to reports
 * (`vxpu report --since/--until`, the JSON API's since/until).
 *
 * Accepted forms, nothing else:
 *   2026-03-01T12:30:00Z          RFC 3339 date-time, upper-case T and Z;
 *   2026-03-01T12:30:00.250+02:00 with 1..9 fraction digits (kept to the
 *                                 millisecond, further digits dropped) and
 *                                 a numeric offset, converted to UTC;
 *   2026-03-01                    a date: 00:00:00 UTC of that day;
 *   now                           the reference time;
 *   -24h  24h  7d  90m  3600s  2w a duration before the reference time,
 *                                 with or without the leading '-'; units
 *                                 s, m, h, d (24 h), w (7 d); 1..9 digits.
 * Seconds run 0..59 (no leap seconds); years 1970..9999; the result must
 * not be before 1970-01-01T00:00:00Z.
 */
#ifndef VXPU_METER_TIMEARG_H
#define VXPU_METER_TIMEARG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses text relative to now_ms (milliseconds since the epoch). Returns 0
 * and sets *unix_ms, or -1 leaving it untouched with a reason in err such as
 *   invalid time "2026-02-30": day 30 does not exist in 2026-02
 */
int vxpu_time_arg_parse(const char *text, int64_t now_ms, int64_t *unix_ms, char *err,
                        size_t errlen);

#endif
