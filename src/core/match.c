/*
 * match.c - case-insensitive name comparison and comma-list selectors (see
 * match.h). Hand-written instead of strcasecmp/strcasestr so that the result
 * never depends on the process locale: the allocator must decide the same way
 * in every process that runs it.
 */
#include "core/match.h"

#include <string.h>

static char fold(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool vxpu_name_equal(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (fold(*a) != fold(*b))
			return false;
	return *a == '\0' && *b == '\0';
}

/* Compares n bytes case-insensitively; both ranges are known to be readable. */
static bool prefix_equal(const char *text, const char *needle, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fold(text[i]) != fold(needle[i]))
			return false;
	return true;
}

static bool contains_n(const char *haystack, const char *needle, size_t n)
{
	if (n == 0)
		return true;
	size_t hlen = strlen(haystack);
	for (size_t i = 0; i + n <= hlen; i++)
		if (prefix_equal(haystack + i, needle, n))
			return true;
	return false;
}

bool vxpu_name_contains(const char *haystack, const char *needle)
{
	return contains_n(haystack, needle, strlen(needle));
}

/*
 * Walks the items of a comma list. Calls test(item, len, text) for each
 * non-empty trimmed item and returns true at the first hit.
 */
static bool list_any(const char *list, const char *text,
                     bool (*test)(const char *item, size_t len, const char *text))
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *b = p;
		const char *e = end;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b && test(b, (size_t)(e - b), text))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static bool item_substring(const char *item, size_t len, const char *text)
{
	return contains_n(text, item, len);
}

static bool item_equal(const char *item, size_t len, const char *text)
{
	return strlen(text) == len && prefix_equal(text, item, len);
}

static bool item_exists(const char *item, size_t len, const char *text)
{
	(void)item;
	(void)text;
	return len > 0;
}

bool vxpu_list_any_substring(const char *list, const char *text)
{
	return list_any(list, text, item_substring);
}

bool vxpu_list_any_equal(const char *list, const char *text)
{
	return list_any(list, text, item_equal);
}

bool vxpu_list_nonempty(const char *list)
{
	return list_any(list, "", item_exists);
}

int vxpu_copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}
