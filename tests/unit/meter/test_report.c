/*
 * Reports over a ledger with known intervals, samples and prices: every
 * grouping's sums, clipping to the window, running intervals, partial
 * minutes, price errors, and the exact CSV, JSON and table text.
 *
 * The fixture (T0 = 2026-03-01T00:00:00Z; window [T0, T0+6h); now T0+10h):
 *   alloc dev node   uuid    model mem share    cpu  span            samples
 *   a1    0   node-1 GPU-A0  A     40960 (0.50) 25%  T0..T0+2h       2 min, used 0.5
 *   a2    1   node-1 GPU-A1  A     20480 (0.25) 75%  T0+1h..T0+4h    -
 *   a2    2   node-1 GPU-H2  H     81920 (1.00) 10%  T0+1h..T0+4h    -
 *   b1    0   node-1 GPU-A0  A      8192 (0.10)  0%  T0+30m..running 1 min, used 0.4
 *   c1    3   node-2 GPU-H3  H     40960 (0.50) 50%  T0-1h..T0+1h    1 in, 1 out of window
 *   c2    3   node-2 GPU-H3  Mystery             T0+7h..T0+8h    (outside: never priced)
 * a1, a2: acme/vision/alice; b1: acme/nlp/bob; c1, c2: globex/search/carol.
 * Prices: A 2.00, H 4.00 EUR per device-hour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meter/ledger.h"
#include "meter/pricebook.h"
#include "meter/report.h"

#define T0 INT64_C(1772323200000)
#define MIN INT64_C(60000)
#define HOUR INT64_C(3600000)
#define MODEL_A "NVIDIA A100-SXM4-80GB"
#define MODEL_H "NVIDIA H100 80GB HBM3"

static char dir[64];
static char db[128];
static struct vxpu_ledger *ledger;

static void start(const char *id, int dev, const char *node, const char *uuid, const char *model,
                  int64_t mem, int cpu, const char *tenant, const char *project, const char *user,
                  int64_t start_ms)
{
	struct vxpu_ledger_interval iv = {
	        .allocation_id = id,
	        .device_index = dev,
	        .node = node,
	        .device_uuid = uuid,
	        .device_model = model,
	        .device_memory_mib = 81920,
	        .memory_mib = mem,
	        .compute_percent = cpu,
	        .tenant = tenant,
	        .project = project,
	        .user = user,
	        .command = "run",
	        .start_ms = start_ms,
	};
	char err[512];
	if (vxpu_ledger_interval_start(ledger, &iv, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void end(const char *id, int64_t end_ms, int exit_status)
{
	char err[512];
	if (vxpu_ledger_interval_end(ledger, id, end_ms, true, exit_status, NULL, err,
	                             sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void sample(const char *id, int dev, int64_t minute_ms, double used_mib, double util)
{
	struct vxpu_ledger_sample s = {id, dev, minute_ms, used_mib, util};
	char err[512];
	if (vxpu_ledger_sample_record(ledger, &s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vxpu-report-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/vxpu.db", dir);
	char err[512];
	if (vxpu_ledger_open(db, VXPU_LEDGER_OPEN_CREATE, &ledger, err, sizeof(err)) != 0)
		return -1;
	start("a1", 0, "node-1", "GPU-A0", MODEL_A, 40960, 25, "acme", "vision", "alice", T0);
	sample("a1", 0, T0, 8192, 50);        /* max(0.1, 0.5) = 0.5 */
	sample("a1", 0, T0 + MIN, 40960, 20); /* max(0.5, 0.2) = 0.5 */
	end("a1", T0 + 2 * HOUR, 0);
	start("a2", 1, "node-1", "GPU-A1", MODEL_A, 20480, 75, "acme", "vision", "alice",
	      T0 + HOUR);
	start("a2", 2, "node-1", "GPU-H2", MODEL_H, 81920, 10, "acme", "vision", "alice",
	      T0 + HOUR);
	end("a2", T0 + 4 * HOUR, 0);
	start("b1", 0, "node-1", "GPU-A0", MODEL_A, 8192, 0, "acme", "nlp", "bob", T0 + 30 * MIN);
	sample("b1", 0, T0 + 6 * HOUR - MIN, 4096, 40); /* max(0.05, 0.4) = 0.4 */
	sample("b1", 0, T0 + 6 * HOUR, 81920, 100);     /* after the window */
	start("c1", 3, "node-2", "GPU-H3", MODEL_H, 40960, 50, "globex", "search", "carol",
	      T0 - HOUR);
	sample("c1", 3, T0 - MIN, 81920, 100); /* before the window */
	sample("c1", 3, T0, 0, 100);           /* 1.0 */
	end("c1", T0 + HOUR, 137);
	start("c2", 3, "node-2", "GPU-H3", "Mystery", 1024, 5, "globex", "search", "carol",
	      T0 + 7 * HOUR);
	end("c2", T0 + 8 * HOUR, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vxpu_ledger_close(ledger);
	ledger = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct vxpu_price_book *prices(const char *text)
{
	struct vxpu_price_book *book;
	char err[512];
	if (vxpu_price_book_parse(text, strlen(text), "prices.json", &book, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return book;
}

#define PRICES                                                                                     \
	"{\"version\":1,\"currency\":\"EUR\",\"models\":{\"" MODEL_A "\":2,\"" MODEL_H "\":4}}"

static struct vxpu_report *build(enum vxpu_report_by by, const struct vxpu_price_book *book)
{
	struct vxpu_report_options o = {.by = by,
	                                .since_ms = T0,
	                                .until_ms = T0 + 6 * HOUR,
	                                .now_ms = T0 + 10 * HOUR,
	                                .prices = book};
	struct vxpu_report *r;
	char err[512];
	if (vxpu_report_build(ledger, &o, &r, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return r;
}

static char *render(const struct vxpu_report *r, enum vxpu_report_format f)
{
	char *text = vxpu_report_render(r, f);
	assert_non_null(text);
	return text;
}

static void expect_text(const struct vxpu_report *r, enum vxpu_report_format f, const char *want)
{
	char *text = render(r, f);
	assert_string_equal(text, want);
	free(text);
}

#define PERIOD "2026-03-01T00:00:00.000Z,2026-03-01T06:00:00.000Z,"

static void test_by_tenant_csv(void **state)
{
	(void)state;
	struct vxpu_price_book *book = prices(PRICES);
	struct vxpu_report *r = build(VXPU_REPORT_BY_TENANT, book);
	vxpu_price_book_free(book); /* the report keeps no pointer into it */
	/* acme: 2 + 3 + 3 + 5.5 device-hours; 1 + 2.25 + 3 + 0.55 allocated;
	 * (2 min x 0.5 + 1 min x 0.4) / 60 used; 2x1 + 2x2.25 + 4x3 + 2x0.55 EUR. */
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,tenant,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours,cost,currency\r\n" PERIOD
	            "acme,4,13.500000,6.800000,0.023333,19.6000,EUR\r\n" PERIOD
	            "globex,1,1.000000,0.500000,0.016667,2.0000,EUR\r\n");
	assert_int_equal(r->total.intervals, 5);
	assert_int_equal(r->total.device_ms, 14 * HOUR + 30 * MIN);
	assert_true(fabs(r->total.allocated_fraction_hours - 7.3) < 1e-12);
	assert_true(fabs(r->total.used_fraction_hours - 0.04) < 1e-12);
	assert_true(fabs(r->total.cost - 21.6) < 1e-12);
	vxpu_report_free(r);
}

static void test_other_groupings(void **state)
{
	(void)state;
	struct vxpu_price_book *book = prices(PRICES);
	struct vxpu_report *r = build(VXPU_REPORT_BY_PROJECT, book);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,tenant,project,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours,cost,currency\r\n" PERIOD
	            "acme,nlp,1,5.500000,0.550000,0.006667,1.1000,EUR\r\n" PERIOD
	            "acme,vision,3,8.000000,6.250000,0.016667,18.5000,EUR\r\n" PERIOD
	            "globex,search,1,1.000000,0.500000,0.016667,2.0000,EUR\r\n");
	vxpu_report_free(r);
	r = build(VXPU_REPORT_BY_USER, book);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,user,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours,cost,currency\r\n" PERIOD
	            "alice,3,8.000000,6.250000,0.016667,18.5000,EUR\r\n" PERIOD
	            "bob,1,5.500000,0.550000,0.006667,1.1000,EUR\r\n" PERIOD
	            "carol,1,1.000000,0.500000,0.016667,2.0000,EUR\r\n");
	vxpu_report_free(r);
	r = build(VXPU_REPORT_BY_DEVICE, book);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,node,device_index,device_uuid,device_model,"
	            "intervals,device_hours,allocated_fraction_hours,used_fraction_hours,cost,"
	            "currency\r\n" PERIOD "node-1,0,GPU-A0," MODEL_A
	            ",2,7.500000,1.550000,0.023333,3.1000,EUR\r\n" PERIOD "node-1,1,GPU-A1," MODEL_A
	            ",1,3.000000,2.250000,0.000000,4.5000,EUR\r\n" PERIOD "node-1,2,GPU-H2," MODEL_H
	            ",1,3.000000,3.000000,0.000000,12.0000,EUR\r\n" PERIOD
	            "node-2,3,GPU-H3," MODEL_H ",1,1.000000,0.500000,0.016667,2.0000,EUR\r\n");
	vxpu_report_free(r);
	r = build(VXPU_REPORT_BY_MODEL, book);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,device_model,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours,cost,currency\r\n" PERIOD MODEL_A
	            ",3,10.500000,3.800000,0.023333,7.6000,EUR\r\n" PERIOD MODEL_H
	            ",2,4.000000,3.500000,0.016667,14.0000,EUR\r\n");
	vxpu_report_free(r);
	vxpu_price_book_free(book);
}

static void test_json(void **state)
{
	(void)state;
	struct vxpu_price_book *book = prices(PRICES);
	struct vxpu_report *r = build(VXPU_REPORT_BY_DEVICE, book);
	cJSON *doc = vxpu_report_json(r);
	assert_non_null(doc);
	char *text = cJSON_PrintUnformatted(doc);
	assert_string_equal(
	        text,
	        "{\"report_version\":1,\"by\":\"device\",\"since\":\"2026-03-01T00:00:00.000Z\","
	        "\"until\":\"2026-03-01T06:00:00.000Z\",\"currency\":\"EUR\",\"groups\":["
	        "{\"node\":\"node-1\",\"device_index\":0,\"device_uuid\":\"GPU-A0\",\"device_"
	        "model\":"
	        "\"" MODEL_A "\",\"intervals\":2,\"device_hours\":7.5,\"allocated_fraction_hours\":"
	        "1.55,\"used_fraction_hours\":0.023333,\"cost\":3.1},"
	        "{\"node\":\"node-1\",\"device_index\":1,\"device_uuid\":\"GPU-A1\",\"device_"
	        "model\":"
	        "\"" MODEL_A "\",\"intervals\":1,\"device_hours\":3,\"allocated_fraction_hours\":"
	        "2.25,\"used_fraction_hours\":0,\"cost\":4.5},"
	        "{\"node\":\"node-1\",\"device_index\":2,\"device_uuid\":\"GPU-H2\",\"device_"
	        "model\":"
	        "\"" MODEL_H "\",\"intervals\":1,\"device_hours\":3,\"allocated_fraction_hours\":3,"
	        "\"used_fraction_hours\":0,\"cost\":12},"
	        "{\"node\":\"node-2\",\"device_index\":3,\"device_uuid\":\"GPU-H3\",\"device_"
	        "model\":"
	        "\"" MODEL_H
	        "\",\"intervals\":1,\"device_hours\":1,\"allocated_fraction_hours\":0.5,"
	        "\"used_fraction_hours\":0.016667,\"cost\":2}],"
	        "\"total\":{\"intervals\":5,\"device_hours\":14.5,\"allocated_fraction_hours\":7.3,"
	        "\"used_fraction_hours\":0.04,\"cost\":21.6}}");
	free(text);
	/* --format json prints the same document (indented) and a newline. */
	char *rendered = render(r, VXPU_REPORT_JSON);
	assert_int_equal(rendered[strlen(rendered) - 1], '\n');
	cJSON *back = cJSON_Parse(rendered);
	assert_non_null(back);
	assert_true(cJSON_Compare(doc, back, true));
	cJSON_Delete(back);
	free(rendered);
	cJSON_Delete(doc);
	vxpu_report_free(r);
	vxpu_price_book_free(book);
}

static void test_table(void **state)
{
	(void)state;
	struct vxpu_price_book *book = prices(PRICES);
	struct vxpu_report *r = build(VXPU_REPORT_BY_TENANT, book);
	expect_text(r, VXPU_REPORT_TABLE,
	            "Usage by tenant from 2026-03-01T00:00:00.000Z to 2026-03-01T06:00:00.000Z\n"
	            "\n"
	            "TENANT  INTERVALS  DEVICE-HOURS  ALLOCATED-FRACTION-HOURS  USED-FRACTION-HOURS"
	            "  COST (EUR)\n"
	            "acme            4     13.500000                  6.800000             0.023333"
	            "     19.6000\n"
	            "globex          1      1.000000                  0.500000             0.016667"
	            "      2.0000\n"
	            "------------------------------------------------------------------------------"
	            "------------\n"
	            "TOTAL           5     14.500000                  7.300000             0.040000"
	            "     21.6000\n");
	vxpu_report_free(r);
	vxpu_price_book_free(book);
}

static void test_without_prices(void **state)
{
	(void)state;
	struct vxpu_report *r = build(VXPU_REPORT_BY_MODEL, NULL);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,device_model,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours\r\n" PERIOD MODEL_A
	            ",3,10.500000,3.800000,0.023333\r\n" PERIOD MODEL_H
	            ",2,4.000000,3.500000,0.016667\r\n");
	cJSON *doc = vxpu_report_json(r);
	assert_null(cJSON_GetObjectItem(doc, "currency"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "total"), "cost"));
	cJSON_Delete(doc);
	vxpu_report_free(r);
}

static void test_missing_price(void **state)
{
	(void)state;
	struct vxpu_price_book *book =
	        prices("{\"version\":1,\"currency\":\"EUR\",\"models\":{\"" MODEL_A "\":2}}");
	struct vxpu_report_options o = {.by = VXPU_REPORT_BY_TENANT,
	                                .since_ms = T0,
	                                .until_ms = T0 + 6 * HOUR,
	                                .now_ms = T0 + 10 * HOUR,
	                                .prices = book};
	struct vxpu_report *r = (struct vxpu_report *)&r;
	char err[512];
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), -1);
	assert_null(r);
	assert_string_equal(err, "price book prices.json has no price for device model \"" MODEL_H
	                         "\" and no default");
	vxpu_price_book_free(book);
	/* A default covers it (and "Mystery", outside the window, never matters). */
	book = prices("{\"version\":1,\"currency\":\"EUR\",\"models\":{\"" MODEL_A
	              "\":2},\"default\":10}");
	r = build(VXPU_REPORT_BY_TENANT, book);
	assert_true(fabs(r->total.cost - (2 * 1 + 2 * 2.25 + 10 * 3 + 2 * 0.55 + 10 * 0.5)) <
	            1e-12);
	vxpu_report_free(r);
	vxpu_price_book_free(book);
}

static void test_window_and_running(void **state)
{
	(void)state;
	struct vxpu_report *r;
	char err[512];
	/* until after now: b1 runs to now (T0+10h), c2 (no price needed) is in. */
	struct vxpu_report_options o = {.by = VXPU_REPORT_BY_USER,
	                                .since_ms = T0,
	                                .until_ms = T0 + 12 * HOUR,
	                                .now_ms = T0 + 10 * HOUR};
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r->count, 3);
	assert_string_equal(r->rows[1].key[0], "bob");
	assert_int_equal(r->rows[1].device_ms, 9 * HOUR + 30 * MIN);
	/* b1's sample at T0+6h (1.0 used fraction) now counts too. */
	assert_true(fabs(r->rows[1].used_fraction_hours - 1.4 / 60) < 1e-12);
	assert_string_equal(r->rows[2].key[0], "carol");
	assert_int_equal(r->rows[2].intervals, 2);
	assert_int_equal(r->rows[2].device_ms, 2 * HOUR);
	vxpu_report_free(r);

	/* A window inside one interval; nothing else overlaps it. */
	o.since_ms = T0 + 5 * HOUR;
	o.until_ms = T0 + 5 * HOUR + 30 * MIN;
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r->count, 1);
	assert_int_equal(r->total.device_ms, 30 * MIN);
	vxpu_report_free(r);

	/* A window before everything: empty. */
	o.since_ms = 0;
	o.until_ms = T0 - 2 * HOUR;
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r->count, 0);
	vxpu_report_free(r);

	/* Invalid windows. */
	o.since_ms = T0;
	o.until_ms = T0;
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "since must be before until"));
}

static void test_partial_minutes(void **state)
{
	(void)state;
	/* Starts 30 s into a minute and ends 15 s into another; the window
	 * begins 10 s after the start. Samples say the device was fully used. */
	int64_t base = T0 + 20 * HOUR;
	start("p1", 5, "node-3", "GPU-P5", MODEL_A, 81920, 100, "initech", "p", "dave",
	      base + 30000);
	sample("p1", 5, base, 81920, 0);            /* covers [40 s, 60 s) of the window */
	sample("p1", 5, base + MIN, 0, 100);        /* a whole minute */
	sample("p1", 5, base + 2 * MIN, 40960, 50); /* 15 s at 0.5 */
	end("p1", base + 2 * MIN + 15000, 0);
	struct vxpu_report_options o = {.by = VXPU_REPORT_BY_TENANT,
	                                .since_ms = base + 40000,
	                                .until_ms = base + HOUR,
	                                .now_ms = base + HOUR};
	struct vxpu_report *r;
	char err[512];
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), 0);
	assert_int_equal(r->count, 2); /* acme's b1 still runs */
	const struct vxpu_report_row *row = &r->rows[1];
	assert_string_equal(row->key[0], "initech");
	assert_int_equal(row->device_ms, 20000 + 60000 + 15000);
	double want = (20000 * 1.0 + 60000 * 1.0 + 15000 * 0.5) / 3600000.0;
	assert_true(fabs(row->used_fraction_hours - want) < 1e-15);
	assert_true(fabs(row->allocated_fraction_hours - 95000 / 3600000.0) < 1e-15);
	vxpu_report_free(r);
}

static void test_empty_and_quoting(void **state)
{
	(void)state;
	struct vxpu_report_options o = {
	        .by = VXPU_REPORT_BY_MODEL, .since_ms = 0, .until_ms = T0, .now_ms = T0};
	struct vxpu_report *r;
	char err[512];
	/* No ledger at all. */
	assert_int_equal(vxpu_report_build(NULL, &o, &r, err, sizeof(err)), 0);
	expect_text(r, VXPU_REPORT_CSV,
	            "period_start,period_end,device_model,intervals,device_hours,"
	            "allocated_fraction_hours,used_fraction_hours\r\n");
	char *json = render(r, VXPU_REPORT_JSON);
	cJSON *doc = cJSON_Parse(json);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "groups")), 0);
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "total"), "device_hours")
	                    ->valuedouble == 0);
	cJSON_Delete(doc);
	free(json);
	vxpu_report_free(r);

	/* Models with a comma and quotes are quoted per RFC 4180. */
	start("q1", 0, "node-9", "X-0", "Vendor X, rev 2", 81920, 100, "t", "p", "u", T0 + HOUR);
	start("q2", 0, "node-9", "Y-0", "Acc \"Pro\"", 81920, 100, "t", "p", "u", T0 + HOUR);
	o.since_ms = T0 + HOUR;
	o.until_ms = T0 + 2 * HOUR;
	o.now_ms = T0 + 2 * HOUR;
	assert_int_equal(vxpu_report_build(ledger, &o, &r, err, sizeof(err)), 0);
	char *csv = render(r, VXPU_REPORT_CSV);
	assert_non_null(strstr(csv, ",\"Acc \"\"Pro\"\"\",1,1.000000,1.000000,0.000000\r\n"));
	assert_non_null(strstr(csv, ",\"Vendor X, rev 2\",1,1.000000,1.000000,0.000000\r\n"));
	free(csv);
	vxpu_report_free(r);
}

static void test_names(void **state)
{
	(void)state;
	enum vxpu_report_by by;
	enum vxpu_report_format f;
	assert_int_equal(vxpu_report_by_parse("project", &by), 0);
	assert_int_equal(by, VXPU_REPORT_BY_PROJECT);
	assert_string_equal(vxpu_report_by_name(VXPU_REPORT_BY_MODEL), "model");
	assert_int_equal(vxpu_report_by_parse("Tenant", &by), -1);
	assert_int_equal(vxpu_report_by_parse(NULL, &by), -1);
	assert_int_equal(vxpu_report_format_parse("csv", &f), 0);
	assert_int_equal(f, VXPU_REPORT_CSV);
	assert_int_equal(vxpu_report_format_parse("yaml", &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_by_tenant_csv, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_other_groupings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_without_prices, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_price, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_window_and_running, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_partial_minutes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_and_quoting, setup, teardown),
	        cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
