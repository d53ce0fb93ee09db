/*
 * percent.c - whole percentages 1..100 (see percent.h). Zero is refused on
 * purpose: a 0 % share is never a meaningful request, and accepting it would
 * make "unset" and "nothing" indistinguishable.
 */
#include "core/percent.h"

#include <stdio.h>

static int percent_fail(char *err, size_t errlen, const char *text, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "invalid percentage \"%s\": %s", text, why);
	return -1;
}

int vxpu_percent_parse(const char *text, int *pct, char *err, size_t errlen)
{
	if (!text)
		text = "";
	const char *p = text;
	if (*p == '\0')
		return percent_fail(err, errlen, text, "empty");
	int value = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		value = value * 10 + (*p - '0');
		if (value > 100)
			return percent_fail(err, errlen, text, "must be between 1 and 100");
		digits++;
	}
	if (digits == 0)
		return percent_fail(err, errlen, text, "expected a whole number between 1 and 100");
	if (*p == '%')
		p++;
	if (*p != '\0')
		return percent_fail(err, errlen, text, "expected a whole number between 1 and 100");
	if (value < 1)
		return percent_fail(err, errlen, text, "must be between 1 and 100");
	*pct = value;
	return 0;
}
