/*
 * cmd_report.c - `vxpu report`: usage and cost from the local ledger,
 * grouped by tenant, project, user, device or device model, as a table,
 * CSV (for finance systems) or JSON. The computation and the formats are
 * src/meter/report.c; this file parses flags and finds the ledger (--ledger,
 * else the local one).
 *
 * The clock is read once, so relative bounds (--since 7d) and the end of
 * running intervals refer to the same "now". A ledger that does not exist
 * yet is an empty ledger: the report is empty, not an error, and nothing is
 * created.
 */
#include "cli/cli.h"
#include "meter/home.h"
#include "meter/ledger.h"
#include "meter/pricebook.h"
#include "meter/report.h"
#include "meter/timearg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmd_report_run(int argc, char **argv);

static const struct vxpu_command vxpu_cmd_report = {
        .name = "report",
        .summary = "usage and cost per tenant, project, user or device from the ledger",
        .usage = "usage: vxpu report [--by tenant|project|user|device|model] [--since T] [--until "
                 "T]\n"
                 "                   [--price-book FILE] [--format table|csv|json]\n"
                 "                   [--ledger FILE|postgres://...]\n"
                 "\n"
                 "Sums the ledger's allocation intervals that overlap [--since, --until):\n"
                 "  device_hours              hours a device was (partly) held\n"
                 "  allocated_fraction_hours  hours x max(memory share, compute share)\n"
                 "  used_fraction_hours       hours x max(used memory share, utilisation),\n"
                 "                            from the minute samples\n"
                 "  cost                      allocated_fraction_hours x the device model's\n"
                 "                            price per device-hour (needs --price-book)\n"
                 "Running allocations count up to now.\n"
                 "\n"
                 "  --by KEY          group by tenant (default), project (tenant and project),\n"
                 "                    user, device (node, index, uuid, model) or model\n"
                 "  --since T         window start (default: the beginning of the ledger)\n"
                 "  --until T         window end, exclusive (default: now)\n"
                 "                    T: 2026-03-01T00:00:00Z (RFC 3339), 2026-03-01 (UTC\n"
                 "                    midnight), now, or a duration ago: 24h, -24h, 7d, 2w,\n"
                 "                    90m, 30s\n"
                 "  --price-book FILE\n"
                 "                    prices per device model and currency, JSON\n"
                 "                    (docs/metering.md)\n"
                 "  --format F        table (default), csv (RFC 4180, for finance systems) or\n"
                 "                    json\n"
                 "  --ledger L        the ledger to read: a SQLite file, or a PostgreSQL URI\n"
                 "                    postgres://USER@HOST/DB such as `vxpu scheduler --ledger`\n"
                 "                    writes (default: the local ledger below)\n"
                 "\n"
                 "The local ledger is $VXPU_HOME/vxpu.db (default /var/lib/vxpu for root, else\n"
                 "$XDG_STATE_HOME/vxpu or ~/.local/state/vxpu). Without a ledger the\n"
                 "report is empty.\n",
        .run = cmd_report_run,
};

VXPU_REGISTER_COMMAND(vxpu_cmd_report);

struct report_flags {
	const char *by;
	const char *since;
	const char *until;
	const char *price_book;
	const char *format;
	const char *ledger;
};

/*
 * Takes the value of a flag spelled "--name VALUE" or "--name=VALUE".
 * Returns 1 when argv[*i] is this flag (value set, *i advanced), 0 when it
 * is not, 2 after printing a usage error.
 */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **slot)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	if (*slot)
		return vxpu_cli_usage_error("report", "%s given twice", name);
	if (arg[n] == '=') {
		*slot = arg + n + 1;
	} else {
		if (*i + 1 >= argc)
			return vxpu_cli_usage_error("report", "%s needs a value", name);
		*slot = argv[++*i];
	}
	if (!(*slot)[0])
		return vxpu_cli_usage_error("report", "%s needs a non-empty value", name);
	return 1;
}

static int parse_flags(int argc, char **argv, struct report_flags *f)
{
	static const struct {
		const char *name;
		size_t offset;
	} flags[] = {
	        {"--by", offsetof(struct report_flags, by)},
	        {"--since", offsetof(struct report_flags, since)},
	        {"--until", offsetof(struct report_flags, until)},
	        {"--price-book", offsetof(struct report_flags, price_book)},
	        {"--format", offsetof(struct report_flags, format)},
	        {"--ledger", offsetof(struct report_flags, ledger)},
	};
	for (int i = 1; i < argc; i++) {
		int matched = 0;
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]) && !matched; k++) {
			const char **slot = (const char **)((char *)f + flags[k].offset);
			matched = flag_value(argc, argv, &i, flags[k].name, slot);
		}
		if (matched == 2)
			return VXPU_EXIT_USAGE;
		if (matched == 0) {
			if (argv[i][0] == '-')
				return vxpu_cli_usage_error("report", "unknown flag \"%s\"",
				                            argv[i]);
			return vxpu_cli_usage_error("report", "unexpected argument \"%s\"",
			                            argv[i]);
		}
	}
	return VXPU_EXIT_OK;
}

static int cmd_report_run(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	struct report_flags f = {0};
	int rc = parse_flags(argc, argv, &f);
	if (rc != VXPU_EXIT_OK)
		return rc;

	struct vxpu_report_options o = {
	        .by = VXPU_REPORT_BY_TENANT, .since_ms = 0, .until_ms = now_ms, .now_ms = now_ms};
	enum vxpu_report_format format = VXPU_REPORT_TABLE;
	char err[1024];
	if (f.by && vxpu_report_by_parse(f.by, &o.by) != 0)
		return vxpu_cli_usage_error(
		        "report",
		        "invalid --by \"%s\": want tenant, project, user, device "
		        "or model",
		        f.by);
	if (f.format && vxpu_report_format_parse(f.format, &format) != 0)
		return vxpu_cli_usage_error(
		        "report", "invalid --format \"%s\": want table, csv or json", f.format);
	if (f.since && vxpu_time_arg_parse(f.since, now_ms, &o.since_ms, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error("report", "--since: %s", err);
	if (f.until && vxpu_time_arg_parse(f.until, now_ms, &o.until_ms, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error("report", "--until: %s", err);
	if (o.since_ms >= o.until_ms)
		return vxpu_cli_usage_error("report", "--since %s is not before --until %s",
		                            f.since ? f.since : "(the beginning)",
		                            f.until ? f.until : "(now)");

	struct vxpu_price_book *prices = NULL;
	if (f.price_book) {
		if (vxpu_price_book_load(f.price_book, &prices, err, sizeof(err)) != 0)
			return vxpu_cli_usage_error("report", "--price-book: %s", err);
		o.prices = prices;
	}

	char path[4200];
	struct vxpu_ledger *ledger = NULL;
	int status = VXPU_EXIT_FAILURE;
	struct vxpu_report *report = NULL;
	char *text = NULL;
	if (f.ledger) {
		if (strlen(f.ledger) >= sizeof(path)) {
			status = vxpu_cli_usage_error("report", "--ledger: longer than %zu bytes",
			                              sizeof(path) - 1);
			goto out;
		}
		snprintf(path, sizeof(path), "%s", f.ledger);
	} else if (vxpu_home_db_path(path, sizeof(path), err, sizeof(err)) != 0) {
		vxpu_cli_fail("report", "%s", err);
		goto out;
	}
	int open_rc = vxpu_ledger_open(path, VXPU_LEDGER_OPEN_EXISTING, &ledger, err, sizeof(err));
	if (open_rc == VXPU_LEDGER_FAILED) {
		vxpu_cli_fail("report", "%s", err);
		goto out;
	}
	if (vxpu_report_build(ledger, &o, &report, err, sizeof(err)) != 0) {
		vxpu_cli_fail("report", "%s", err);
		goto out;
	}
	text = vxpu_report_render(report, format);
	if (!text) {
		vxpu_cli_fail("report", "out of memory");
		goto out;
	}
	if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
		vxpu_cli_fail("report", "cannot write the report to standard output");
		goto out;
	}
	status = VXPU_EXIT_OK;
out:
	free(text);
	vxpu_report_free(report);
	vxpu_ledger_close(ledger);
	vxpu_price_book_free(prices);
	return status;
}
