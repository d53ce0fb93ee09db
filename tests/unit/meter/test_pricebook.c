/* Price book: the strict JSON format, lookups, file errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "meter/pricebook.h"

static struct vxpu_price_book *parse_ok(const char *text)
{
	struct vxpu_price_book *book = NULL;
	char err[512] = "";
	if (vxpu_price_book_parse(text, strlen(text), "prices.json", &book, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	return book;
}

static void test_good(void **state)
{
	(void)state;
	struct vxpu_price_book *book =
	        parse_ok(" {\"version\": 1, \"currency\": \"EUR\",\n"
	                 "  \"models\": {\"Model Z\": 4.5, \"A100\": 2.25, \"Free\": 0},\n"
	                 "  \"default\": 1e0 }\n");
	assert_string_equal(book->currency, "EUR");
	assert_int_equal(book->count, 3);
	/* Sorted by model, whatever the file's order. */
	assert_string_equal(book->entries[0].model, "A100");
	assert_string_equal(book->entries[1].model, "Free");
	assert_string_equal(book->entries[2].model, "Model Z");
	double price = -1;
	assert_int_equal(vxpu_price_book_lookup(book, "A100", &price), 0);
	assert_true(price == 2.25);
	assert_int_equal(vxpu_price_book_lookup(book, "Model Z", &price), 0);
	assert_true(price == 4.5);
	assert_int_equal(vxpu_price_book_lookup(book, "Free", &price), 0);
	assert_true(price == 0);
	assert_int_equal(vxpu_price_book_lookup(book, "H100", &price), 0);
	assert_true(price == 1.0);
	vxpu_price_book_free(book);

	book = parse_ok("{\"version\":1,\"currency\":\"USD\",\"models\":{}}");
	assert_false(book->has_default);
	assert_int_equal(vxpu_price_book_lookup(book, "A100", &price), -1);
	vxpu_price_book_free(book);
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
	        {"", "invalid JSON"},
	        {"[]", "want a JSON object"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{}} x",
	         "invalid JSON at byte 43 near \"x\""},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{},}", "invalid JSON"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":+1}}", "invalid JSON"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":01}}", "invalid JSON"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":.5}}", "invalid JSON"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":1.}}", "invalid JSON"},
	        {"{\"version\":1,\"currency\":\"EU\tR\",\"models\":{}}", "invalid JSON"},
	        {"{'version':1}", "invalid JSON"},
	        {"{\"currency\":\"EUR\",\"models\":{}}", "missing \"version\""},
	        {"{\"version\":2,\"currency\":\"EUR\",\"models\":{}}", "unsupported \"version\""},
	        {"{\"version\":1.5,\"currency\":\"EUR\",\"models\":{}}", "unsupported \"version\""},
	        {"{\"version\":\"1\",\"currency\":\"EUR\",\"models\":{}}",
	         "unsupported \"version\""},
	        {"{\"version\":1,\"models\":{}}", "missing \"currency\""},
	        {"{\"version\":1,\"currency\":\"eur\",\"models\":{}}",
	         "invalid \"currency\" \"eur\""},
	        {"{\"version\":1,\"currency\":\"EURO\",\"models\":{}}", "invalid \"currency\""},
	        {"{\"version\":1,\"currency\":7,\"models\":{}}", "invalid \"currency\""},
	        {"{\"version\":1,\"currency\":\"EUR\"}", "missing \"models\""},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":[]}",
	         "\"models\": want an object"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":\"2\"}}",
	         "\"models\".\"A\": want a number"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":-2}}",
	         "\"models\".\"A\": invalid price -2"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":1e999}}",
	         "\"models\".\"A\": invalid price"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"A\":1,\"A\":2}}",
	         "model \"A\" is listed twice"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"\":1}}",
	         "invalid model name \"\""},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{\" A\":1}}",
	         "invalid model name"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{},\"default\":null}",
	         "\"default\": want a number"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{},\"default\":-1}",
	         "\"default\": invalid price"},
	        {"{\"version\":1,\"currency\":\"EUR\",\"models\":{},\"price\":1}",
	         "unknown key \"price\""},
	        {"{\"version\":1,\"version\":1,\"currency\":\"EUR\",\"models\":{}}",
	         "key \"version\" appears twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vxpu_price_book *book = (struct vxpu_price_book *)&book;
		char err[512] = "";
		if (vxpu_price_book_parse(cases[i].text, strlen(cases[i].text), "p.json", &book,
		                          err, sizeof(err)) == 0)
			fail_msg("accepted: %s", cases[i].text);
		assert_null(book);
		if (!strstr(err, "price book p.json: ") || !strstr(err, cases[i].reason))
			fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].text, err,
			         cases[i].reason);
	}
	/* A NUL byte inside the text. */
	struct vxpu_price_book *book = NULL;
	char err[512] = "";
	assert_int_equal(
	        vxpu_price_book_parse("{\"version\":1}\0x", 16, "p.json", &book, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "NUL"));
}

static void test_files(void **state)
{
	(void)state;
	char err[512] = "";
	struct vxpu_price_book *book = NULL;
	assert_int_equal(vxpu_price_book_load("/nonexistent/prices.json", &book, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "price book /nonexistent/prices.json: No such file"));

	char path[] = "/tmp/vxpu-prices-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "{\"version\":1,\"currency\":\"CHF\",\"models\":{\"X\":3}}\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(vxpu_price_book_load(path, &book, err, sizeof(err)), 0);
	assert_string_equal(book->currency, "CHF");
	assert_string_equal(book->source, path);
	vxpu_price_book_free(book);

	/* Over the size limit. */
	assert_int_equal(ftruncate(fd, VXPU_PRICE_BOOK_MAX_BYTES + 1), 0);
	assert_int_equal(vxpu_price_book_load(path, &book, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good),
	        cmocka_unit_test(test_bad),
	        cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
