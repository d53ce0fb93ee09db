/*
 * timearg.c - report time bounds (see timearg.h). The calendar arithmetic
 * is done by hand (days are counted year by year from 1970) instead of with
 * timegm(), which silently normalises 2026-02-30 into March: a date that
 * does not exist has to be an error here, not a different date.
 */
#include "meter/timearg.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HINT                                                                                       \
	"want RFC 3339 (2026-03-01T12:30:00Z), a date (2026-03-01), \"now\" or a duration ago "    \
	"(-24h, 7d)"

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to year-month-day (all already validated). */
static int64_t days_since_epoch(int year, int month, int day)
{
	int64_t days = 0;
	for (int y = 1970; y < year; y++)
		days += is_leap(y) ? 366 : 365;
	for (int m = 1; m < month; m++)
		days += days_in_month(year, m);
	return days + day - 1;
}

/* Reads exactly n digits at *p into *value and advances *p. */
static bool digits(const char **p, int n, int *value)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*value = v;
	return true;
}

static int fail(char *err, size_t errlen, const char *text, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "invalid time \"%.64s\": %s", text, why);
	return -1;
}

static int parse_relative(const char *text, int64_t now_ms, int64_t *unix_ms, char *err,
                          size_t errlen)
{
	const char *p = text[0] == '-' ? text + 1 : text;
	int64_t count = 0;
	int n = 0;
	for (; p[n] >= '0' && p[n] <= '9'; n++) {
		if (n == 9)
			return fail(err, errlen, text, "a duration has at most 9 digits");
		count = count * 10 + (p[n] - '0');
	}
	if (n == 0)
		return fail(err, errlen, text, HINT);
	int64_t unit_ms;
	const char *unit = p + n;
	if (strcmp(unit, "s") == 0)
		unit_ms = 1000;
	else if (strcmp(unit, "m") == 0)
		unit_ms = INT64_C(60000);
	else if (strcmp(unit, "h") == 0)
		unit_ms = INT64_C(3600000);
	else if (strcmp(unit, "d") == 0)
		unit_ms = INT64_C(86400000);
	else if (strcmp(unit, "w") == 0)
		unit_ms = INT64_C(604800000);
	else if (unit[0] == '\0')
		return fail(err, errlen, text, "a duration needs a unit: s, m, h, d or w");
	else
		return fail(err, errlen, text, "unknown duration unit (want s, m, h, d or w)");
	/* count < 1e9 and unit_ms <= 6.048e8: the product fits in int64. */
	int64_t t = now_ms - count * unit_ms;
	if (t < 0)
		return fail(err, errlen, text, "that is before 1970-01-01T00:00:00Z");
	*unix_ms = t;
	return 0;
}

static int parse_absolute(const char *text, int64_t *unix_ms, char *err, size_t errlen)
{
	const char *p = text;
	int year, month, day, hour = 0, minute = 0, second = 0, ms = 0, offset_min = 0;
	if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &month) || *p++ != '-' ||
	    !digits(&p, 2, &day))
		return fail(err, errlen, text, HINT);
	char why[96];
	if (year < 1970)
		return fail(err, errlen, text, "years before 1970 are not supported");
	if (month < 1 || month > 12) {
		snprintf(why, sizeof(why), "month %02d does not exist", month);
		return fail(err, errlen, text, why);
	}
	if (day < 1 || day > days_in_month(year, month)) {
		snprintf(why, sizeof(why), "day %02d does not exist in %04d-%02d", day, year,
		         month);
		return fail(err, errlen, text, why);
	}
	if (*p != '\0') {
		if (*p++ != 'T' || !digits(&p, 2, &hour) || *p++ != ':' ||
		    !digits(&p, 2, &minute) || *p++ != ':' || !digits(&p, 2, &second))
			return fail(err, errlen, text, HINT);
		if (hour > 23 || minute > 59 || second > 59)
			return fail(err, errlen, text,
			            "hour, minute or second out of range (00..23, 00..59, 00..59)");
		if (*p == '.') {
			p++;
			int n = 0;
			for (; p[n] >= '0' && p[n] <= '9'; n++)
				if (n < 3)
					ms = ms * 10 + (p[n] - '0');
			if (n == 0 || n > 9)
				return fail(err, errlen, text,
				            "a fraction of a second has 1..9 digits");
			for (int k = n; k < 3; k++)
				ms *= 10;
			p += n;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			int oh, om;
			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
			    om > 59)
				return fail(err, errlen, text,
				            "invalid UTC offset (want Z or +HH:MM)");
			offset_min = sign * (oh * 60 + om);
		} else {
			return fail(err, errlen, text, "missing UTC offset (want Z or +HH:MM)");
		}
		if (*p != '\0')
			return fail(err, errlen, text, HINT);
	}
	int64_t seconds = days_since_epoch(year, month, day) * 86400 + (int64_t)hour * 3600 +
	                  (int64_t)minute * 60 + second - (int64_t)offset_min * 60;
	if (seconds < 0)
		return fail(err, errlen, text, "that is before 1970-01-01T00:00:00Z");
	*unix_ms = seconds * 1000 + ms;
	return 0;
}

int vxpu_time_arg_parse(const char *text, int64_t now_ms, int64_t *unix_ms, char *err,
                        size_t errlen)
{
	if (!text || !text[0])
		return fail(err, errlen, text ? text : "", HINT);
	if (strcmp(text, "now") == 0) {
		*unix_ms = now_ms;
		return 0;
	}
	/* A date starts with four digits and a '-'; a duration never does. */
	if (strlen(text) >= 5 && text[4] == '-' && text[0] >= '0' && text[0] <= '9')
		return parse_absolute(text, unix_ms, err, errlen);
	return parse_relative(text, now_ms, unix_ms, err, errlen);
}
