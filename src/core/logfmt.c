/*
 * logfmt.c - log line formatting (see logfmt.h). Pure: the caller supplies
 * the time, so the output is deterministic and testable. The calendar
 * conversion is done here (days-from-civil inverse) rather than with
 * gmtime_r so that core stays free of libc time-zone state.
 */
#include "core/logfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"off", "error", "warn", "info", "debug"};

int vxpu_log_level_parse(const char *text, enum vxpu_log_level *level)
{
	if (!text)
		return -1;
	for (int i = 0; i <= (int)VXPU_LOG_DEBUG; i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*level = (enum vxpu_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *vxpu_log_level_name(enum vxpu_log_level level)
{
	if ((int)level < 0 || level > VXPU_LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

static void put_char(char *buf, size_t cap, size_t *len, char c)
{
	if (*len + 1 < cap) {
		buf[*len] = c;
		(*len)++;
		buf[*len] = '\0';
	}
}

static void put_str(char *buf, size_t cap, size_t *len, const char *s)
{
	for (; *s; s++)
		put_char(buf, cap, len, *s);
}

static bool needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return true;
	}
	return false;
}

static void put_value(char *buf, size_t cap, size_t *len, const char *v)
{
	if (!v)
		v = "";
	if (!needs_quotes(v)) {
		put_str(buf, cap, len, v);
		return;
	}
	put_char(buf, cap, len, '"');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\') {
			put_char(buf, cap, len, '\\');
			put_char(buf, cap, len, (char)c);
		} else if (c == '\n') {
			put_str(buf, cap, len, "\\n");
		} else if (c == '\t') {
			put_str(buf, cap, len, "\\t");
		} else if (c < ' ' || c == 0x7f) {
			char hex[5];
			snprintf(hex, sizeof(hex), "\\x%02x", c);
			put_str(buf, cap, len, hex);
		} else {
			put_char(buf, cap, len, (char)c);
		}
	}
	put_char(buf, cap, len, '"');
}

void vxpu_logfmt_field(char *buf, size_t cap, size_t *len, const char *key, const char *value)
{
	if (cap == 0)
		return;
	put_char(buf, cap, len, ' ');
	put_str(buf, cap, len, key);
	put_char(buf, cap, len, '=');
	put_value(buf, cap, len, value);
}

void vxpu_format_rfc3339_ms(int64_t unix_ms, char *buf, size_t cap)
{
	int64_t ms = unix_ms % 1000;
	int64_t secs = unix_ms / 1000;
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	int64_t days = secs / 86400;
	int64_t rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	/* Civil-from-days (proleptic Gregorian), era-based. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y += 1;
	snprintf(buf, cap, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", (long long)y,
	         (long long)m, (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60),
	         (long long)(rem % 60), (long long)ms);
}

size_t vxpu_logfmt_begin(char *buf, size_t cap, int64_t unix_ms, enum vxpu_log_level level,
                         const char *msg)
{
	size_t len = 0;
	if (cap == 0)
		return 0;
	buf[0] = '\0';
	char ts[40];
	vxpu_format_rfc3339_ms(unix_ms, ts, sizeof(ts));
	put_str(buf, cap, &len, "ts=");
	put_str(buf, cap, &len, ts);
	vxpu_logfmt_field(buf, cap, &len, "level", vxpu_log_level_name(level));
	vxpu_logfmt_field(buf, cap, &len, "msg", msg);
	return len;
}
