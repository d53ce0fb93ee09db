/* The strict JSON reader's grammar check: what RFC 8259 allows passes, what
 * cJSON would also take ("+1", "01", ".5", "1.", raw control characters,
 * trailing text, malformed UTF-8) is refused at the right byte, nesting is
 * bounded, and every strict document reader (vxpu_json_parse_object)
 * refuses the same things with the offset in its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsonstrict.h"

static void test_grammar_accepts_rfc8259(void **state)
{
	(void)state;
	/* One document per line. */
	/* clang-format off */
	static const char *const good[] = {
	        "{}",
	        " \t\r\n{ } \n",
	        "[]",
	        "0",
	        "-0",
	        "-0.5e+3",
	        "1E-7",
	        "12345678901234567890",
	        "\"\"",
	        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"",
	        "\"\\u0000\"",
	        "\"\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
	        "true",
	        "false",
	        "null",
	        "{\"a\":[1,2.5,{\"b\":null}],\"c\":\"\xc3\xa9\"}",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t at = 99;
		if (vxpu_json_check_grammar(good[i], strlen(good[i]), &at) != 0)
			fail_msg("refused %s at byte %zu", good[i], at);
		assert_int_equal(at, strlen(good[i]));
	}
}

static void test_grammar_refuses_what_cjson_takes(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t at; /* the first byte that breaks the grammar */
	} bad[] = {
	        {"", 0},
	        {"   ", 3},
	        {"{\"a\":+1}", 5},
	        {"{\"a\":01}", 6},
	        {"{\"a\":.5}", 5},
	        {"{\"a\":1.}", 5},
	        {"{\"a\":1e}", 5},
	        {"{\"a\":-}", 5},
	        {"{\"a\":\"x\ty\"}", 7},
	        {"{\"a\":\"\\x\"}", 7},
	        {"{\"a\":\"\\u12G4\"}", 10},
	        {"{\"a\":\"open}", 11},
	        {"{\"a\":1,}", 7},
	        {"[1,]", 3},
	        {"{'a':1}", 1},
	        {"{\"a\" 1}", 5},
	        {"{\"a\":1} x", 8},
	        {"{\"a\":1}{}", 7},
	        {"{a:1}", 1},
	        {"tru", 0},
	        {"nul", 0},
	        {"{\"a\":NaN}", 5},
	        {"\"\\uDC00\"", 6},          /* a lone low surrogate */
	        {"\"\\uD83D\"", 6},          /* a high one with no low one */
	        {"\"\\uD83D\\u0041\"", 12},  /* ... or another escape after it */
	        {"\"\xc3\"", 2},             /* UTF-8: a sequence cut short */
	        {"\"\x80\"", 1},             /* a continuation byte alone */
	        {"\"\xc0\xaf\"", 1},         /* an overlong two-byte form */
	        {"\"\xe0\x80\xaf\"", 2},     /* an overlong three-byte form */
	        {"\"\xed\xa0\x80\"", 2},     /* an encoded surrogate */
	        {"\"\xf4\x90\x80\x80\"", 2}, /* above U+10FFFF */
	        {"\"\xff\"", 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t at = 99;
		if (vxpu_json_check_grammar(bad[i].text, strlen(bad[i].text), &at) != -1)
			fail_msg("case %zu accepted: %s", i, bad[i].text);
		if (at != bad[i].at)
			fail_msg("case %zu (%s): byte %zu, want %zu", i, bad[i].text, at,
			         bad[i].at);
	}
	/* A NUL inside the length is a byte like any other: not JSON, also
	 * not as the character after a backslash. */
	const char nul[] = "{\"a\":1}\0";
	size_t at = 0;
	assert_int_equal(vxpu_json_check_grammar(nul, sizeof(nul) - 1, &at), -1);
	assert_int_equal(at, 7);
	const char escaped_nul[] = "\"\\\0\"";
	assert_int_equal(vxpu_json_check_grammar(escaped_nul, sizeof(escaped_nul) - 1, &at), -1);
	assert_int_equal(at, 2);
}

/* depth levels of arrays around a 1. */
static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 2);
	assert_non_null(s);
	memset(s, '[', (size_t)depth);
	s[depth] = '1';
	memset(s + depth + 1, ']', (size_t)depth);
	s[2 * depth + 1] = '\0';
	return s;
}

static void test_grammar_bounds_nesting(void **state)
{
	(void)state;
	char *ok = nested(VXPU_JSON_MAX_DEPTH), *deep = nested(VXPU_JSON_MAX_DEPTH + 1);
	size_t at = 0;
	assert_int_equal(vxpu_json_check_grammar(ok, strlen(ok), &at), 0);
	assert_int_equal(vxpu_json_check_grammar(deep, strlen(deep), &at), -2);
	assert_int_equal(at, VXPU_JSON_MAX_DEPTH); /* the bracket one level too deep */
	free(ok);
	free(deep);
}

static void test_documents_are_refused_with_the_offset(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
	        {"{\"count\":01}", "pod: invalid JSON at byte 10 near \"1}\""},
	        {"{\"count\":+1}", "pod: invalid JSON at byte 9 near \"+1}\""},
	        /* Bytes outside printable ASCII are shown escaped. */
	        {"{\"name\":\"a\tb\"}", "pod: invalid JSON at byte 10 near \"\\x09b\"}\""},
	        {"{\"name\":\"\xC0\xAF\"}", "pod: invalid JSON at byte 9 near \"\\xC0\\xAF\"}\""},
	        {"{\"count\":1} trailing", "pod: invalid JSON at byte 12 near \"trailing\""},
	        {"{\"count\":1} 123456789012345678901234",
	         "pod: invalid JSON at byte 12 near \"12345678901234567890\""},
	        {"{\"count\":",
	         "pod: invalid JSON at byte 9 (the text ends before the value does)"},
	        {"\xEF\xBB\xBF{\"count\":1}",
	         "pod: a UTF-8 byte-order mark at byte 0 (JSON text must not start with one)"},
	        {"", "pod: empty document"},
	        {"[1]", "pod: expected a JSON object, got [1]"},
	        {"{\"a\":1,\"a\":2}", "pod: field \"a\" appears twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *root = (cJSON *)&root; /* must stay untouched */
		char err[256] = "";
		if (vxpu_json_parse_object(cases[i].text, "pod", &root, err, sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_ptr_equal(root, (cJSON *)&root);
		if (strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
	char *deep = nested(VXPU_JSON_MAX_DEPTH + 1);
	char *doc = malloc(strlen(deep) + 8);
	assert_non_null(doc);
	sprintf(doc, "{\"a\":%s}", deep);
	cJSON *root = NULL;
	char err[256] = "";
	assert_int_equal(vxpu_json_parse_object(doc, "pod", &root, err, sizeof(err)), -1);
	assert_string_equal(err, "pod: nested deeper than 64 levels at byte 68");
	free(deep);
	free(doc);
	/* And a good one parses. */
	assert_int_equal(vxpu_json_parse_object("{\"count\":1}", "pod", &root, err, sizeof(err)),
	                 0);
	assert_non_null(root);
	cJSON_Delete(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_grammar_accepts_rfc8259),
	        cmocka_unit_test(test_grammar_refuses_what_cjson_takes),
	        cmocka_unit_test(test_grammar_bounds_nesting),
	        cmocka_unit_test(test_documents_are_refused_with_the_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
