/*
 * size.c - the one size grammar of vxpu (see size.h).
 *
 * The parser works in exact integer arithmetic: the integer part and up to
 * 18 fractional digits are kept as integers and the product with the unit is
 * checked for overflow at every step, so "99999999999TiB" is refused rather
 * than wrapped, and "1.5GiB" is exactly 1610612736 bytes. A fraction that
 * does not come to a whole number of bytes ("1.3B") is refused instead of
 * rounded: silent rounding of a limit is a limit nobody asked for.
 */
#include "core/size.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct size_unit {
	const char *name;
	uint64_t factor;
};

static const struct size_unit size_units[] = {
        {"B", 1},        {"K", VXPU_KIB}, {"KB", VXPU_KIB}, {"KiB", VXPU_KIB},
        {"k", VXPU_KIB}, {"M", VXPU_MIB}, {"MB", VXPU_MIB}, {"MiB", VXPU_MIB},
        {"m", VXPU_MIB}, {"G", VXPU_GIB}, {"GB", VXPU_GIB}, {"GiB", VXPU_GIB},
        {"g", VXPU_GIB}, {"T", VXPU_TIB}, {"TB", VXPU_TIB}, {"TiB", VXPU_TIB},
        {"t", VXPU_TIB},
};

static int size_fail(char *err, size_t errlen, const char *text, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "invalid size \"%s\": %s", text, why);
	return -1;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int vxpu_size_parse(const char *text, enum vxpu_size_bare bare, uint64_t *bytes, char *err,
                    size_t errlen)
{
	if (!text)
		text = "";
	const char *p = text;
	if (*p == '\0')
		return size_fail(err, errlen, text, "empty");
	if (*p == '-')
		return size_fail(err, errlen, text, "negative");
	if (!is_digit(*p))
		return size_fail(err, errlen, text, "expected a number");

	uint64_t whole = 0;
	for (; is_digit(*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (whole > (UINT64_MAX - d) / 10)
			return size_fail(err, errlen, text, "too large");
		whole = whole * 10 + d;
	}

	uint64_t frac = 0, frac_scale = 1;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return size_fail(err, errlen, text, "expected digits after '.'");
		for (; is_digit(*p); p++) {
			if (frac_scale >= (uint64_t)1000000000000000000ULL)
				return size_fail(err, errlen, text, "too many fractional digits");
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_scale *= 10;
		}
	}

	uint64_t factor;
	if (*p == '\0') {
		factor = bare == VXPU_SIZE_BARE_MIB ? VXPU_MIB : 1;
	} else {
		factor = 0;
		for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
			if (strcmp(p, size_units[i].name) == 0) {
				factor = size_units[i].factor;
				break;
			}
		}
		if (factor == 0) {
			char why[128];
			snprintf(why, sizeof(why),
			         "unknown unit \"%.40s\" (use B, KiB, MiB, GiB, TiB or k, m, g, t)",
			         p);
			return size_fail(err, errlen, text, why);
		}
	}

	if (whole != 0 && factor > UINT64_MAX / whole)
		return size_fail(err, errlen, text, "too large");
	uint64_t total = whole * factor;

	if (frac != 0) {
		/* frac/frac_scale * factor must be a whole number of bytes:
		 * cancel common factors, then the denominator must be gone. */
		uint64_t num = frac, den = frac_scale, f = factor;
		uint64_t g = gcd_u64(num, den);
		num /= g;
		den /= g;
		g = gcd_u64(f, den);
		f /= g;
		den /= g;
		if (den != 1)
			return size_fail(err, errlen, text, "not a whole number of bytes");
		if (f != 0 && num > UINT64_MAX / f)
			return size_fail(err, errlen, text, "too large");
		uint64_t part = num * f;
		if (total > UINT64_MAX - part)
			return size_fail(err, errlen, text, "too large");
		total += part;
	}

	*bytes = total;
	return 0;
}

int vxpu_size_format(uint64_t bytes, char *buf, size_t buflen)
{
	static const struct size_unit print_units[] = {
	        {"TiB", VXPU_TIB},
	        {"GiB", VXPU_GIB},
	        {"MiB", VXPU_MIB},
	        {"KiB", VXPU_KIB},
	};
	if (bytes != 0) {
		for (size_t i = 0; i < sizeof(print_units) / sizeof(print_units[0]); i++) {
			if (bytes % print_units[i].factor == 0)
				return snprintf(buf, buflen, "%llu%s",
				                (unsigned long long)(bytes / print_units[i].factor),
				                print_units[i].name);
		}
	}
	return snprintf(buf, buflen, "%lluB", (unsigned long long)bytes);
}
