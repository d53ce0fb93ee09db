/*
 * strbuf.c - growable text buffer (see strbuf.h). Capacity doubles, so n
 * appends cost O(total length).
 */
#include "meter/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct vxpu_strbuf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1) {
		if (cap > ((size_t)-1) / 2) {
			b->failed = true;
			return false;
		}
		cap *= 2;
	}
	char *data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

void vxpu_strbuf_append(struct vxpu_strbuf *b, const char *text, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->data + b->len, text, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void vxpu_strbuf_puts(struct vxpu_strbuf *b, const char *text)
{
	vxpu_strbuf_append(b, text, strlen(text));
}

void vxpu_strbuf_putc(struct vxpu_strbuf *b, char c)
{
	vxpu_strbuf_append(b, &c, 1);
}

void vxpu_strbuf_printf(struct vxpu_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void vxpu_strbuf_pad(struct vxpu_strbuf *b, const char *text, size_t width, bool left)
{
	size_t n = strlen(text);
	if (!left)
		for (size_t i = n; i < width; i++)
			vxpu_strbuf_putc(b, ' ');
	vxpu_strbuf_append(b, text, n);
	if (left)
		for (size_t i = n; i < width; i++)
			vxpu_strbuf_putc(b, ' ');
}

char *vxpu_strbuf_take(struct vxpu_strbuf *b)
{
	if (b->failed) {
		vxpu_strbuf_free(b);
		return NULL;
	}
	char *text = b->data ? b->data : strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return text;
}

void vxpu_strbuf_free(struct vxpu_strbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}
