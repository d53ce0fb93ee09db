/*
 * log.c - the stderr writer behind vxpu_log (see log.h). The line is built
 * by core/logfmt into a stack buffer and written in one write(2). The level
 * is process state, kept in an atomic so that threads may log freely.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LOG_LEVEL_UNSET (-1)
static _Atomic int log_threshold = LOG_LEVEL_UNSET;

static void log_write(enum vxpu_log_level level, const char *msg, va_list ap);

static int log_threshold_get(void)
{
	int t = atomic_load_explicit(&log_threshold, memory_order_relaxed);
	if (t != LOG_LEVEL_UNSET)
		return t;
	enum vxpu_log_level lvl = VXPU_LOG_WARN;
	const char *env = getenv("VXPU_LOG");
	int bad = env && *env && vxpu_log_level_parse(env, &lvl) != 0;
	int expected = LOG_LEVEL_UNSET;
	atomic_compare_exchange_strong(&log_threshold, &expected, (int)lvl);
	if (bad) {
		/* The threshold is set now, so this goes through the normal path. */
		vxpu_log(VXPU_LOG_WARN, "invalid VXPU_LOG, using warn", "value", env, "expected",
		         "off|error|warn|info|debug", NULL);
	}
	return atomic_load(&log_threshold);
}

bool vxpu_log_enabled(enum vxpu_log_level level)
{
	return level != VXPU_LOG_OFF && (int)level <= log_threshold_get();
}

void vxpu_log_set_level(enum vxpu_log_level level)
{
	atomic_store(&log_threshold, (int)level);
}

void vxpu_log(enum vxpu_log_level level, const char *msg, ...)
{
	if (!vxpu_log_enabled(level))
		return;
	va_list ap;
	va_start(ap, msg);
	log_write(level, msg, ap);
	va_end(ap);
}

static void log_write(enum vxpu_log_level level, const char *msg, va_list ap)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	char line[4096];
	size_t len = vxpu_logfmt_begin(line, sizeof(line) - 1, ms, level, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		vxpu_logfmt_field(line, sizeof(line) - 1, &len, key, value);
	}
	line[len++] = '\n';
	ssize_t off = 0;
	while (off < (ssize_t)len) {
		ssize_t n = write(STDERR_FILENO, line + off, len - (size_t)off);
		if (n <= 0)
			break;
		off += n;
	}
}
