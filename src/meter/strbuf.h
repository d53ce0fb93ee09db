/*
 * strbuf.h - a growable text buffer for the meter's writers (report
 * tables and CSV, Prometheus exposition). Allocation failure is sticky:
 * after it, appends do nothing and vxpu_strbuf_take returns NULL, so
 * writers check once at the end instead of after every append.
 */
#ifndef VXPU_METER_STRBUF_H
#define VXPU_METER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct vxpu_strbuf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	bool failed;
};

#define VXPU_STRBUF_INIT                                                                           \
	{                                                                                          \
		NULL, 0, 0, false                                                                  \
	}

void vxpu_strbuf_append(struct vxpu_strbuf *b, const char *text, size_t len);
void vxpu_strbuf_puts(struct vxpu_strbuf *b, const char *text);
void vxpu_strbuf_putc(struct vxpu_strbuf *b, char c);
void vxpu_strbuf_printf(struct vxpu_strbuf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Pads with spaces to width (left-aligned text when left is true). */
void vxpu_strbuf_pad(struct vxpu_strbuf *b, const char *text, size_t width, bool left);

/* Hands the text to the caller (free it), or NULL after a failure. The
 * buffer is empty afterwards. An empty buffer yields "". */
char *vxpu_strbuf_take(struct vxpu_strbuf *b);
void vxpu_strbuf_free(struct vxpu_strbuf *b);

#endif
