/*
 * utf8.h - well-formedness of UTF-8 text (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Used wherever text leaves vxpu in a
 * format that requires UTF-8 (ledger text, Prometheus label values).
 */
#ifndef VXPU_METER_UTF8_H
#define VXPU_METER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool vxpu_utf8_valid(const char *text, size_t len);

#endif
