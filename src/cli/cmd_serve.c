/*
 * cmd_serve.c - `vxpu serve`: this machine's devices, allocations and
 * ledger over HTTP(S) — /metrics for Prometheus, /healthz, and a small JSON
 * API — until SIGINT or SIGTERM.
 *
 * Nothing is cached: every request reads the machine afresh (a discovery,
 * and for allocations one SQLite transaction that also reclaims the
 * allocations of dead runs, exactly as `vxpu ps` does), so an answer is
 * never staler than the request. Requests that discover devices or read
 * the allocation state take one lock, because a management library may not
 * be safe to initialise from two threads at once; reports only read the
 * ledger, each through its own connection, and run in parallel.
 *
 * The documents are built by the same functions as the CLI's --json output
 * (devices_json.h, allocations_json.h, meter/report.h), and /metrics by
 * kube/metrics.h, which the node agent shares.
 */
#include "cli/allocations_json.h"
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/devices_json.h"
#include "cli/local.h"
#include "kube/http.h"
#include "kube/metrics.h"
#include "meter/home.h"
#include "meter/ledger.h"
#include "meter/pricebook.h"
#include "meter/prom.h"
#include "meter/report.h"
#include "meter/timearg.h"
#include "common/log.h"
#include "version.h"
#include "common/clock.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVE "serve"
#define SERVE_LISTEN_DEFAULT "127.0.0.1:9400"
#define SERVE_STOP_GRACE_MS 5000u

struct serve_state {
	struct vxpu_discover_options discover;
	char db_path[PATH_MAX + 16];
	struct vxpu_price_book *prices; /* NULL: reports without cost */
	pthread_mutex_t machine_lock;   /* discovery and the allocation state */
};

/* ---- reading the machine --------------------------------------------------- */

/*
 * Opens the single-machine view and loads the live allocations (reclaiming
 * dead ones) in one write transaction. On failure l is closed.
 */
static int view_open(struct serve_state *st, struct vxpu_local *l, char *err, size_t errlen)
{
	return vxpu_local_view(l, &st->discover, err, errlen);
}

static void view_failed(struct vxpu_http_response *resp, const char *what, const char *err)
{
	vxpu_log(VXPU_LOG_WARN, "cannot read this machine", "request", what, "error", err,
	         (char *)NULL);
	vxpu_http_respond_error(resp, 500, "%s", err);
}

/* ---- /healthz ------------------------------------------------------------- */

static void handle_healthz(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	(void)ctx;
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "ok\n", 3);
}

/* ---- /metrics --------------------------------------------------------------- */

/* The view as the exposition's plain figures; arrays are malloc'd into m. */
struct metrics_input {
	struct vxpu_metrics_node node;
	struct vxpu_metrics_device *devices;
	struct vxpu_metrics_allocation *allocs;
	struct vxpu_metrics_share *shares;
};

static int metrics_gather(const struct vxpu_local *l, struct metrics_input *m)
{
	memset(m, 0, sizeof(*m));
	size_t nshares = 0;
	for (size_t k = 0; k < l->nallocs; k++)
		nshares += l->allocs[k].nshares;
	m->devices = calloc(l->found.count ? l->found.count : 1, sizeof(*m->devices));
	m->allocs = calloc(l->nallocs ? l->nallocs : 1, sizeof(*m->allocs));
	m->shares = calloc(nshares ? nshares : 1, sizeof(*m->shares));
	if (!m->devices || !m->allocs || !m->shares)
		return -1;
	for (unsigned i = 0; i < l->found.count; i++) {
		const struct vxpu_found_device *f = &l->found.devices[i];
		struct vxpu_metrics_device *d = &m->devices[i];
		d->index = f->index;
		d->uuid = f->uuid[0] ? f->uuid : f->pci_bus_id;
		d->model = f->model;
		d->memory_total_bytes = f->memory_bytes;
		d->memory_used_bytes = f->memory_used_bytes;
		d->utilization_percent = f->utilization_pct;
		d->healthy = f->healthy;
		int pos = vxpu_local_device_pos(l, (int)f->index);
		if (pos >= 0) {
			const struct vxpu_device *nd = &l->node.devices[pos];
			const struct vxpu_device_usage *u = &l->node.usage[pos];
			d->memory_allocated_bytes = u->memory_mib << 20;
			d->compute_allocated_percent =
			        nd->unit_count ? (double)u->compute_units * 100.0 / nd->unit_count
			                       : 0;
			d->allocations = u->slices;
		}
	}
	size_t used = 0;
	for (size_t k = 0; k < l->nallocs; k++) {
		const struct vxpu_local_alloc *a = &l->allocs[k];
		struct vxpu_alloc_usage u;
		char why[256];
		vxpu_alloc_usage_read(a, &u, why, sizeof(why));
		if (u.state == VXPU_ALLOC_USAGE_UNREADABLE)
			vxpu_log(VXPU_LOG_WARN, "cannot read an allocation's region", "id", a->id,
			         "error", why, (char *)NULL);
		struct vxpu_metrics_allocation *ma = &m->allocs[k];
		ma->id = a->id;
		ma->tenant = a->tenant;
		ma->project = a->project;
		ma->user = a->user;
		ma->start_ms = a->start_ms;
		ma->shares = &m->shares[used];
		ma->nshares = a->nshares;
		for (uint32_t i = 0; i < a->nshares; i++) {
			struct vxpu_metrics_share *s = &m->shares[used++];
			s->device_index = (unsigned)a->shares[i].device_index;
			s->memory_limit_bytes = a->shares[i].memory_mib << 20;
			/* No region yet means no process has charged anything. */
			s->memory_used_known = u.state != VXPU_ALLOC_USAGE_UNREADABLE;
			s->memory_used_bytes =
			        u.state == VXPU_ALLOC_USAGE_READ ? u.used_bytes[i] : 0;
			s->compute_percent = vxpu_alloc_share_percent(l, &a->shares[i]);
		}
	}
	m->node = (struct vxpu_metrics_node){
	        .node = l->hostname,
	        .version = VXPU_VERSION,
	        .commit = VXPU_GIT_COMMIT,
	        .ndevices = l->found.count,
	        .devices = m->devices,
	        .nallocations = l->nallocs,
	        .allocations = m->allocs,
	};
	return 0;
}

static void metrics_input_free(struct metrics_input *m)
{
	free(m->devices);
	free(m->allocs);
	free(m->shares);
}

static void handle_metrics(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	struct serve_state *st = ctx;
	struct vxpu_local *l = calloc(1, sizeof(*l));
	if (!l) {
		vxpu_http_respond_error(resp, 500, "out of memory");
		return;
	}
	char err[768] = "";
	pthread_mutex_lock(&st->machine_lock);
	if (view_open(st, l, err, sizeof(err)) != 0) {
		pthread_mutex_unlock(&st->machine_lock);
		view_failed(resp, "/metrics", err);
		free(l);
		return;
	}
	struct metrics_input m;
	char *text = NULL;
	size_t len = 0;
	unsigned skipped = 0;
	char why[320] = "";
	if (metrics_gather(l, &m) == 0)
		text = vxpu_metrics_render(&m.node, &len, &skipped, why, sizeof(why));
	metrics_input_free(&m);
	vxpu_local_close(l);
	pthread_mutex_unlock(&st->machine_lock);
	free(l);
	if (skipped) {
		char count[16];
		snprintf(count, sizeof(count), "%u", skipped);
		vxpu_log(VXPU_LOG_WARN, "metrics samples skipped", "count", count, "last", why,
		         (char *)NULL);
	}
	vxpu_http_respond_take(resp, 200, VXPU_PROM_CONTENT_TYPE, text, len);
}

/* ---- /api/v1/devices and /api/v1/allocations ------------------------------ */

static cJSON *devices_document(const struct vxpu_local *l)
{
	return vxpu_devices_json(&l->found, l);
}

/* Answers a GET with a JSON document built from a fresh view of the machine. */
static void respond_from_view(struct serve_state *st, const struct vxpu_http_request *req,
                              struct vxpu_http_response *resp,
                              cJSON *(*build)(const struct vxpu_local *l))
{
	if (vxpu_http_query_check(req, NULL, resp) != 0)
		return;
	struct vxpu_local *l = calloc(1, sizeof(*l));
	if (!l) {
		vxpu_http_respond_error(resp, 500, "out of memory");
		return;
	}
	char err[768] = "";
	pthread_mutex_lock(&st->machine_lock);
	if (view_open(st, l, err, sizeof(err)) != 0) {
		pthread_mutex_unlock(&st->machine_lock);
		view_failed(resp, req->path, err);
		free(l);
		return;
	}
	cJSON *doc = build(l);
	vxpu_local_close(l);
	pthread_mutex_unlock(&st->machine_lock);
	free(l);
	vxpu_http_respond_json(resp, 200, doc);
}

static void handle_devices(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	respond_from_view(ctx, req, resp, devices_document);
}

static void handle_allocations(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                               void *ctx)
{
	respond_from_view(ctx, req, resp, vxpu_allocations_json);
}

/* ---- /api/v1/report -------------------------------------------------------- */

static void handle_report(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                          void *ctx)
{
	struct serve_state *st = ctx;
	static const char *const allowed[] = {"by", "since", "until", "format", NULL};
	if (vxpu_http_query_check(req, allowed, resp) != 0)
		return;
	int64_t now_ms = vxpu_wall_ms();
	struct vxpu_report_options o = {.by = VXPU_REPORT_BY_TENANT,
	                                .since_ms = 0,
	                                .until_ms = now_ms,
	                                .now_ms = now_ms,
	                                .prices = st->prices};
	char err[1024];
	const char *by = vxpu_http_query(req, "by");
	const char *since = vxpu_http_query(req, "since");
	const char *until = vxpu_http_query(req, "until");
	const char *format = vxpu_http_query(req, "format");
	if (by && vxpu_report_by_parse(by, &o.by) != 0) {
		vxpu_http_respond_bad_param(
		        resp, "by", by, "invalid by: want tenant, project, user, device or model");
		return;
	}
	bool csv = false;
	if (format && strcmp(format, "csv") == 0) {
		csv = true;
	} else if (format && strcmp(format, "json") != 0) {
		vxpu_http_respond_bad_param(resp, "format", format,
		                            "invalid format: want json or csv");
		return;
	}
	if (since && vxpu_time_arg_parse(since, now_ms, &o.since_ms, err, sizeof(err)) != 0) {
		vxpu_http_respond_bad_param(resp, "since", since, "since: %s", err);
		return;
	}
	if (until && vxpu_time_arg_parse(until, now_ms, &o.until_ms, err, sizeof(err)) != 0) {
		vxpu_http_respond_bad_param(resp, "until", until, "until: %s", err);
		return;
	}
	if (o.since_ms >= o.until_ms) {
		/* Name the parameter that was given (until alone can be too early). */
		vxpu_http_respond_bad_param(resp, since ? "since" : "until", since ? since : until,
		                            "since %s is not before until %s",
		                            since ? since : "(the beginning)",
		                            until ? until : "(now)");
		return;
	}
	struct vxpu_ledger *ledger = NULL;
	struct vxpu_report *report = NULL;
	if (vxpu_ledger_open(st->db_path, VXPU_LEDGER_OPEN_EXISTING, &ledger, err, sizeof(err)) ==
	            VXPU_LEDGER_FAILED ||
	    vxpu_report_build(ledger, &o, &report, err, sizeof(err)) != 0) {
		vxpu_log(VXPU_LOG_WARN, "cannot build a report", "error", err, (char *)NULL);
		vxpu_http_respond_error(resp, 500, "%s", err);
	} else if (csv) {
		char *text = vxpu_report_render(report, VXPU_REPORT_CSV);
		vxpu_http_respond_take(resp, 200, "text/csv; charset=utf-8; header=present", text,
		                       text ? strlen(text) : 0);
	} else {
		vxpu_http_respond_json(resp, 200, vxpu_report_json(report));
	}
	vxpu_report_free(report);
	vxpu_ledger_close(ledger);
}

/* ---- the command ------------------------------------------------------------ */

struct serve_flags {
	const char *listen;
	const char *tls_cert;
	const char *tls_key;
	const char *price_book;
};

/* "--name VALUE" / "--name=VALUE" into *slot: 1 taken, 0 not this flag, 2 usage error. */
static int take_flag(int argc, char **argv, int *i, const char *name, const char **slot)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	if (*slot)
		return vxpu_cli_usage_error(SERVE, "%s given twice", name);
	if (arg[n] == '=') {
		*slot = arg + n + 1;
	} else {
		if (*i + 1 >= argc)
			return vxpu_cli_usage_error(SERVE, "flag %s needs a value", name);
		*slot = argv[++*i];
	}
	if (!(*slot)[0])
		return vxpu_cli_usage_error(SERVE, "flag %s needs a non-empty value", name);
	return 1;
}

static int parse_flags(int argc, char **argv, struct serve_flags *f,
                       struct vxpu_discover_options *opts)
{
	for (int i = 1; i < argc; i++) {
		int used = vxpu_cli_discover_flag(SERVE, argc, argv, i, opts);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		int rc = take_flag(argc, argv, &i, "--listen", &f->listen);
		if (!rc)
			rc = take_flag(argc, argv, &i, "--tls-cert", &f->tls_cert);
		if (!rc)
			rc = take_flag(argc, argv, &i, "--tls-key", &f->tls_key);
		if (!rc)
			rc = take_flag(argc, argv, &i, "--price-book", &f->price_book);
		if (rc == 2)
			return VXPU_EXIT_USAGE;
		if (rc == 0) {
			if (argv[i][0] == '-')
				return vxpu_cli_usage_error(SERVE, "unknown flag \"%s\"", argv[i]);
			return vxpu_cli_usage_error(SERVE, "unexpected argument \"%s\"", argv[i]);
		}
	}
	if (!f->tls_cert != !f->tls_key)
		return vxpu_cli_usage_error(SERVE, "%s needs %s as well",
		                            f->tls_cert ? "--tls-cert" : "--tls-key",
		                            f->tls_cert ? "--tls-key" : "--tls-cert");
	return VXPU_EXIT_OK;
}

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
}

static int serve_run(int argc, char **argv)
{
	static struct serve_state st;
	struct serve_flags f = {0};
	if (vxpu_cli_discover_defaults(&st.discover) != 0)
		return vxpu_cli_usage_error(
		        SERVE, "invalid VXPU_BACKEND \"%s\" (use auto, nvml, sim or inventory)",
		        getenv("VXPU_BACKEND"));
	int rc = parse_flags(argc, argv, &f, &st.discover);
	if (rc != VXPU_EXIT_OK)
		return rc;
	const char *listen = f.listen ? f.listen : SERVE_LISTEN_DEFAULT;
	char host[256], err[1024];
	uint16_t port;
	if (vxpu_http_listen_parse(listen, host, sizeof(host), &port, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SERVE, "--listen: %s", err);
	if (f.price_book && vxpu_price_book_load(f.price_book, &st.prices, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SERVE, "--price-book: %s", err);

	int status = VXPU_EXIT_FAILURE;
	struct vxpu_http_server *server = NULL;
	pthread_mutex_init(&st.machine_lock, NULL);
	/* Before anything can start a thread (a management library may): every
	 * thread inherits the mask, so the signals reach sigwait only. */
	if (vxpu_http_block_stop_signals() != 0) {
		vxpu_cli_fail(SERVE, "cannot block SIGINT and SIGTERM");
		goto out;
	}
	/* Fail now, not on the first scrape, when the machine cannot be read
	 * (no GPU and no --backend, a bad VXPU_HOME, a corrupt database). */
	struct vxpu_local *probe = calloc(1, sizeof(*probe));
	if (!probe) {
		vxpu_cli_fail(SERVE, "out of memory");
		goto out;
	}
	if (view_open(&st, probe, err, sizeof(err)) != 0) {
		free(probe);
		vxpu_cli_fail(SERVE, "%s", err);
		goto out;
	}
	vxpu_local_close(probe);
	free(probe);
	if (vxpu_home_db_path(st.db_path, sizeof(st.db_path), err, sizeof(err)) != 0) {
		vxpu_cli_fail(SERVE, "%s", err);
		goto out;
	}

	const struct vxpu_http_route routes[] = {
	        {"GET", "/healthz", handle_healthz, &st},
	        {"GET", "/metrics", handle_metrics, &st},
	        {"GET", "/api/v1/devices", handle_devices, &st},
	        {"GET", "/api/v1/allocations", handle_allocations, &st},
	        {"GET", "/api/v1/report", handle_report, &st},
	};
	struct vxpu_http_config cfg = {
	        .name = SERVE,
	        .listen = listen,
	        .routes = routes,
	        .nroutes = sizeof(routes) / sizeof(routes[0]),
	        .tls_cert_file = f.tls_cert,
	        .tls_key_file = f.tls_key,
	};
	if (vxpu_http_start(&cfg, &server, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SERVE, "%s", err);
		goto out;
	}
	vxpu_log(VXPU_LOG_INFO, "serving", "address", vxpu_http_address(server), "scheme",
	         vxpu_http_is_tls(server) ? "https" : "http", "backend",
	         vxpu_backend_name(st.discover.backend), (char *)NULL);
	int sig = vxpu_http_wait_stop_signal();
	vxpu_log(VXPU_LOG_INFO, "stopping", "signal", signal_name(sig), (char *)NULL);
	vxpu_http_stop(server, SERVE_STOP_GRACE_MS);
	vxpu_log(VXPU_LOG_INFO, "stopped", (char *)NULL);
	status = VXPU_EXIT_OK;
out:
	pthread_mutex_destroy(&st.machine_lock);
	vxpu_price_book_free(st.prices);
	st.prices = NULL;
	return status;
}

static const struct vxpu_command vxpu_cmd_serve = {
        .name = "serve",
        .summary = "serve /metrics, /healthz and a JSON API of this machine over HTTP",
        .usage = "usage: vxpu serve [--listen HOST:PORT] [--backend B] [--inventory FILE]\n"
                 "                  [--tls-cert FILE --tls-key FILE] [--price-book FILE]\n"
                 "\n"
                 "Serves this machine's devices, live allocations and ledger until SIGINT or\n"
                 "SIGTERM (then finishes the requests in progress and exits 0):\n"
                 "  GET /metrics              Prometheus text format 0.0.4\n"
                 "  GET /healthz              \"ok\"\n"
                 "  GET /api/v1/devices       as `vxpu devices --json`\n"
                 "  GET /api/v1/allocations   as `vxpu ps --json`\n"
                 "  GET /api/v1/report?by=&since=&until=&format=json|csv\n"
                 "                            as `vxpu report` (same values as its flags)\n"
                 "Every request reads the machine afresh.\n"
                 "\n"
                 "  --listen HOST:PORT   address to listen on (default 127.0.0.1:9400);\n"
                 "                       0.0.0.0:9400 for every interface, [::1]:9400 for IPv6,\n"
                 "                       port 0 for any free port (see the log line \"serving\")\n"
                 "  --backend B          auto, nvml, sim or inventory (default $VXPU_BACKEND or "
                 "auto)\n"
                 "  --inventory FILE     inventory file for --backend inventory\n"
                 "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain)...\n"
                 "  --tls-key FILE       ...and this PEM private key\n"
                 "  --price-book FILE    add cost to /api/v1/report (read once, at start)\n"
                 "\n"
                 "Logs go to stderr; VXPU_LOG=info adds one line per request.\n"
                 "See docs/single-machine.md.\n",
        .run = serve_run,
};
VXPU_REGISTER_COMMAND(vxpu_cmd_serve);
