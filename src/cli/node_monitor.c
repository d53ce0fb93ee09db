/*
 * node_monitor.c - `vxpu node monitor` (see node_monitor.h): the flags of
 * the per-container monitor and the bypass watchdog, and the command that
 * runs them on their own until SIGINT/SIGTERM or --duration.
 *
 * Every flag is parsed strictly, through core's parsers (percent, health
 * durations) and the HTTP server's listen-address parser, so the command
 * and the agent accept exactly the same values; a bad one is a usage error
 * naming the flag and the value, and nothing is started.
 */
#include "cli/node_monitor.h"

#include "cli/cli.h"
#include "cli/common_flags.h"
#include "core/health.h"
#include "core/logfmt.h"
#include "core/percent.h"
#include "kube/http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INTERVAL_MIN_NS 10000000ULL    /* 10 ms */
#define INTERVAL_MAX_NS 60000000000ULL /* 1 m */
#define WINDOW_MAX_NS 3600000000000ULL /* 1 h */

const char vxpu_node_monitor_flags_help[] =
        "  --regions DIR             the containers' region folders "
        "(NAMESPACE_POD_CONTAINER/region)\n"
        "  --listen HOST:PORT|none   serve /metrics and /healthz (default 0.0.0.0:9400)\n"
        "  --interval DURATION       time between samples (default 250ms, 10ms..1m)\n"
        "  --enforce                 kill the processes of a flagged container (SIGKILL)\n"
        "  --memory-margin PCT       flag memory above limit + PCT % (default 5, 1..100)\n"
        "  --memory-window DURATION  ... for longer than this (default 2s, up to 1h)\n"
        "  --compute-margin PCT      flag utilisation above the compute limit + PCT points\n"
        "                            (default 20, 1..100)\n"
        "  --compute-window DURATION ... for longer than this (default 30s, up to 1h)\n";

static const char monitor_usage[] =
        "usage: vxpu node monitor --regions DIR [flags]\n"
        "\n"
        "Reads every container's region and the management library once per interval,\n"
        "serves the figures as Prometheus text on /metrics (and /healthz), and flags a\n"
        "container whose processes hold more device memory (or device time) than its\n"
        "limit allows for longer than a window: it bypassed libvxpu. Each flag is one\n"
        "warn line on stderr (msg=\"watchdog flagged\" ...); with --enforce the\n"
        "container's processes on that device are killed (msg=\"watchdog killed\").\n"
        "\n"
        "flags:\n"
        "%s"
        "  --backend auto|nvml|sim|inventory  management library (default auto; $VXPU_BACKEND)\n"
        "  --inventory FILE          the inventory backend's file\n"
        "  --node NAME               the Hostname label (default: the host name)\n"
        "  --duration DURATION       stop after this long (default: until SIGINT/SIGTERM)\n";

void vxpu_node_monitor_flags_default(struct vxpu_node_monitor_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->listen = "0.0.0.0:9400";
	f->interval_ms = VXPU_MONITOR_INTERVAL_MS;
	vxpu_watchdog_policy_default(&f->watchdog);
}

static int parse_duration(const char *cmd, const char *flag, const char *value, uint64_t min_ns,
                          uint64_t max_ns, const char *range, uint64_t *out)
{
	char why[200];
	if (vxpu_health_duration_parse(value, out, why, sizeof(why)) != 0) {
		vxpu_cli_usage_error(cmd, "%s: %s", flag, why);
		return -1;
	}
	if (*out < min_ns || *out > max_ns) {
		vxpu_cli_usage_error(cmd, "%s: invalid duration \"%s\": must be %s", flag, value,
		                     range);
		return -1;
	}
	return 0;
}

static int parse_percent(const char *cmd, const char *flag, const char *value, unsigned *out)
{
	char why[200];
	int pct;
	if (vxpu_percent_parse(value, &pct, why, sizeof(why)) != 0) {
		vxpu_cli_usage_error(cmd, "%s: %s", flag, why);
		return -1;
	}
	*out = (unsigned)pct;
	return 0;
}

int vxpu_node_monitor_flag(const char *cmd, int argc, char **argv, int i,
                           struct vxpu_node_monitor_flags *f)
{
	if (strcmp(argv[i], "--enforce") == 0) {
		f->watchdog.enforce = true;
		return 1;
	}
	static const char *const names[] = {
	        "--regions",       "--listen",         "--interval",      "--memory-margin",
	        "--memory-window", "--compute-margin", "--compute-window"};
	int at = i, which = -1;
	const char *value = NULL;
	for (int k = 0; k < 7 && which < 0; k++) {
		bool matched;
		value = vxpu_cli_flag_value(argc, argv, &at, names[k], &matched);
		if (matched)
			which = k;
	}
	if (which < 0)
		return 0;
	if (!value || !*value) {
		vxpu_cli_usage_error(cmd, "flag %s needs a value", names[which]);
		return -1;
	}
	uint64_t ns = 0;
	switch (which) {
	case 0:
		f->regions_dir = value;
		break;
	case 1: {
		if (strcmp(value, "none") == 0) {
			f->listen = NULL;
			break;
		}
		char host[256], err[300];
		uint16_t port;
		if (vxpu_http_listen_parse(value, host, sizeof(host), &port, err, sizeof(err)) !=
		    0) {
			vxpu_cli_usage_error(cmd, "--listen: %s", err);
			return -1;
		}
		f->listen = value;
		break;
	}
	case 2:
		if (parse_duration(cmd, names[which], value, INTERVAL_MIN_NS, INTERVAL_MAX_NS,
		                   "10ms to 1m", &ns) != 0)
			return -1;
		f->interval_ms = (unsigned)(ns / 1000000ULL);
		break;
	case 3:
		if (parse_percent(cmd, names[which], value, &f->watchdog.memory_margin_pct) != 0)
			return -1;
		break;
	case 4:
		if (parse_duration(cmd, names[which], value, 1000000ULL, WINDOW_MAX_NS, "1ms to 1h",
		                   &f->watchdog.memory_window_ns) != 0)
			return -1;
		break;
	case 5:
		if (parse_percent(cmd, names[which], value, &f->watchdog.compute_margin_pct) != 0)
			return -1;
		break;
	default:
		if (parse_duration(cmd, names[which], value, 1000000ULL, WINDOW_MAX_NS, "1ms to 1h",
		                   &f->watchdog.compute_window_ns) != 0)
			return -1;
		break;
	}
	return at - i + 1;
}

void vxpu_node_monitor_config(const struct vxpu_node_monitor_flags *f,
                              struct vxpu_monitor_config *cfg)
{
	cfg->regions_dir = f->regions_dir;
	cfg->listen = f->listen;
	cfg->interval_ms = f->interval_ms;
	cfg->watchdog = f->watchdog;
}

static int print_usage(void)
{
	printf(monitor_usage, vxpu_node_monitor_flags_help);
	return VXPU_EXIT_OK;
}

static int64_t now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vxpu_node_monitor_command(int argc, char **argv)
{
	static const char cmd[] = "node";
	if (vxpu_cli_wants_help(argc, argv))
		return print_usage();
	struct vxpu_node_monitor_flags f;
	vxpu_node_monitor_flags_default(&f);
	struct vxpu_monitor_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	if (vxpu_cli_discover_defaults(&cfg.discover) != 0)
		return vxpu_cli_usage_error(cmd, "invalid VXPU_BACKEND \"%s\"",
		                            getenv("VXPU_BACKEND"));
	uint64_t duration_ns = 0;
	for (int i = 1; i < argc; i++) {
		int used = vxpu_cli_discover_flag(cmd, argc, argv, i, &cfg.discover);
		if (used == 0)
			used = vxpu_node_monitor_flag(cmd, argc, argv, i, &f);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		bool matched;
		const char *value = vxpu_cli_flag_value(argc, argv, &i, "--duration", &matched);
		if (matched) {
			if (!value || !*value)
				return vxpu_cli_usage_error(cmd, "flag --duration needs a value");
			if (parse_duration(cmd, "--duration", value, 1000000ULL, UINT64_MAX,
			                   "at least 1ms", &duration_ns) != 0)
				return VXPU_EXIT_USAGE;
			continue;
		}
		value = vxpu_cli_flag_value(argc, argv, &i, "--node", &matched);
		if (matched) {
			if (!value || !*value || strlen(value) >= VXPU_MONITOR_NAME_MAX)
				return vxpu_cli_usage_error(cmd, "invalid --node \"%s\"",
				                            value ? value : "");
			cfg.node = value;
			continue;
		}
		return vxpu_cli_usage_error(cmd, "unknown flag \"%s\"", argv[i]);
	}
	if (!f.regions_dir)
		return vxpu_cli_usage_error(cmd, "monitor needs --regions DIR");
	vxpu_node_monitor_config(&f, &cfg);

	if (vxpu_http_block_stop_signals() != 0)
		return vxpu_cli_fail(cmd, "cannot set up signal handling");
	struct vxpu_monitor *m;
	char err[512];
	if (vxpu_monitor_start(&cfg, &m, err, sizeof(err)) != 0)
		return vxpu_cli_fail(cmd, "monitor: %s", err);

	char line[1024], num[32];
	size_t len =
	        vxpu_logfmt_begin(line, sizeof(line), now_unix_ms(), VXPU_LOG_INFO, "node monitor");
	vxpu_logfmt_field(line, sizeof(line), &len, "listen",
	                  *vxpu_monitor_address(m) ? vxpu_monitor_address(m) : "none");
	vxpu_logfmt_field(line, sizeof(line), &len, "regions", f.regions_dir);
	snprintf(num, sizeof(num), "%u", f.interval_ms);
	vxpu_logfmt_field(line, sizeof(line), &len, "interval_ms", num);
	vxpu_logfmt_field(line, sizeof(line), &len, "enforce",
	                  f.watchdog.enforce ? "true" : "false");
	puts(line);
	fflush(stdout);

	/* Until SIGINT/SIGTERM (blocked above, so taken here) or --duration. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec slice = {.tv_sec = 0, .tv_nsec = 100000000L};
		if (sigtimedwait(&stop, NULL, &slice) > 0)
			break;
		if (duration_ns) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			uint64_t ran = (uint64_t)(now.tv_sec - start.tv_sec) * 1000000000ULL +
			               (uint64_t)now.tv_nsec - (uint64_t)start.tv_nsec;
			if (ran >= duration_ns)
				break;
		}
	}
	vxpu_monitor_stop(m);
	return VXPU_EXIT_OK;
}
