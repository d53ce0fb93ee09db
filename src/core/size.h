/*
 * size.h - strict parsing and printing of memory sizes.
 *
 * One grammar for every size vxpu reads (flags, environment, config files,
 * annotations):  NUMBER [UNIT]
 *   NUMBER  decimal digits, optionally with a fractional part ("1.5");
 *           a leading zero is decimal ("010g" is 10 GiB), never octal;
 *           no sign, no whitespace, no exponent.
 *   UNIT    B | K KB KiB k | M MB MiB m | G GB GiB g | T TB TiB t
 *           All units are binary (K = 1024). "KB"/"MB"/... are accepted as
 *           binary too because GPU tooling uses them that way.
 * A bare NUMBER is interpreted in the caller's chosen unit (bytes or MiB),
 * see enum vxpu_size_bare. The result must be a whole number of bytes and
 * fit in uint64_t; anything else is rejected with a message that names the
 * input and the problem.
 */
#ifndef VXPU_CORE_SIZE_H
#define VXPU_CORE_SIZE_H

#include <stddef.h>
#include <stdint.h>

#define VXPU_KIB ((uint64_t)1024)
#define VXPU_MIB (VXPU_KIB * 1024)
#define VXPU_GIB (VXPU_MIB * 1024)
#define VXPU_TIB (VXPU_GIB * 1024)

/* How a number without a unit is read. */
enum vxpu_size_bare {
	VXPU_SIZE_BARE_BYTES, /* "1073741824" = 1 GiB */
	VXPU_SIZE_BARE_MIB,   /* "4096" = 4 GiB (Kubernetes gpumem, HAMi) */
};

/*
 * Parses text into bytes. Returns 0 on success. On failure returns -1,
 * leaves *bytes untouched and writes a one-line reason into err (which may
 * be NULL) such as: invalid size "12abc": unknown unit "abc".
 */
int vxpu_size_parse(const char *text, enum vxpu_size_bare bare, uint64_t *bytes, char *err,
                    size_t errlen);

/*
 * Formats bytes with the largest binary unit that keeps it exact
 * ("16GiB", "1536MiB", "100B"). Returns the snprintf-style length.
 */
int vxpu_size_format(uint64_t bytes, char *buf, size_t buflen);

#endif
