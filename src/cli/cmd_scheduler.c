/*
 * cmd_scheduler.c - `vxpu scheduler`: the Kubernetes scheduler extender and
 * pod admission webhook, until SIGINT or SIGTERM.
 *
 * The work is kube/scheduler.h's (watches, model, filter, prioritize,
 * bind, admission, metrics); this file reads the flags, finds the
 * credentials (a kubeconfig, or the pod's service account), and serves the
 * routes on one or two listeners through kube/http.h:
 *   --listen           every route; HTTPS with --tls-cert/--tls-key (the
 *                      API server calls webhooks over HTTPS only);
 *   --extender-listen  the same routes over plain HTTP, meant for 127.0.0.1
 *                      and a kube-scheduler in the same pod.
 * The certificate files are checked every two seconds; when they change
 * (cert-manager or a Secret update renewed them) the HTTPS listener is
 * started again with them, after a trial start on a spare port proved the
 * new pair loads, so a bad renewal leaves the old listener serving.
 *
 * The ledger (--ledger) defaults to the single-machine ledger file
 * (meter/home.h). An explicitly named ledger that cannot be opened stops the
 * command; the default one only logs a warning and the scheduler runs
 * without a ledger (a read-only root file system must not keep the
 * scheduler down).
 */
#include "cli/cli.h"
#include "common/log.h"
#include "core/request.h"
#include "core/size.h"
#include "core/vendor.h"
#include "kube/http.h"
#include "kube/kubeclient.h"
#include "kube/scheduler.h"
#include "meter/home.h"
#include "meter/prom.h"
#include "meter/timearg.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHED "scheduler"
#define SCHED_LISTEN_DEFAULT "0.0.0.0:9443"
#define SCHED_STOP_GRACE_MS 5000u
#define SCHED_BODY_LIMIT_DEFAULT ((size_t)16 << 20)
#define SCHED_CERT_CHECK_S 2

/* ---- handlers ------------------------------------------------------------- */

static void respond(struct vxpu_http_response *resp, struct vxpu_scheduler_answer *a)
{
	vxpu_http_respond_take(resp, a->status, VXPU_HTTP_JSON, a->body, a->len);
}

static void handle_filter(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                          void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_filter(ctx, req->body, req->body_len, &a);
	respond(resp, &a);
}

static void handle_prioritize(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                              void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_prioritize(ctx, req->body, req->body_len, &a);
	respond(resp, &a);
}

static void handle_bind(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                        void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_bind(ctx, req->body, req->body_len, &a);
	respond(resp, &a);
}

static void handle_admit(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                         void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_admit(ctx, req->body, req->body_len, &a);
	respond(resp, &a);
}

static void handle_metrics(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	size_t len = 0;
	char *text = vxpu_scheduler_metrics(ctx, &len);
	vxpu_http_respond_take(resp, 200, VXPU_PROM_CONTENT_TYPE, text, len);
}

static void handle_healthz(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	(void)ctx;
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "ok\n", 3);
}

static void handle_readyz(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                          void *ctx)
{
	(void)req;
	if (vxpu_scheduler_synced(ctx))
		vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "ok\n", 3);
	else
		vxpu_http_respond_error(resp, 503,
		                        "the caches of Nodes, Pods and ResourceQuotas "
		                        "are not synced yet");
}

/* ---- flags ------------------------------------------------------------------ */

struct sched_flags {
	const char *listen;
	const char *extender_listen;
	const char *metrics_listen;
	const char *tls_cert;
	const char *tls_key;
	const char *kubeconfig;
	const char *context;
	const char *lease_namespace;
	const char *scheduler_name;
	const char *node_policy;
	const char *device_policy;
	const char *lease_duration;
	const char *lease_wait;
	const char *vendor_profiles;
	const char *body_limit;
	const char *threads;
	const char *ledger;
	const char *project_label;
	const char *user_label;
	bool no_ledger;
	bool no_events;
	bool shared_default;
	bool allow_unknown;
};

/* "--name VALUE" / "--name=VALUE": 1 taken, 0 not this flag, 2 usage error. */
static int take_flag(int argc, char **argv, int *i, const char *name, const char **slot)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	if (*slot) {
		vxpu_cli_usage_error(SCHED, "%s given twice", name);
		return 2;
	}
	if (arg[n] == '=') {
		*slot = arg + n + 1;
	} else {
		if (*i + 1 >= argc) {
			vxpu_cli_usage_error(SCHED, "flag %s needs a value", name);
			return 2;
		}
		*slot = argv[++*i];
	}
	if (!(*slot)[0]) {
		vxpu_cli_usage_error(SCHED, "flag %s needs a non-empty value", name);
		return 2;
	}
	return 1;
}

static int take_switch(char **argv, int i, const char *name, bool *slot)
{
	if (strcmp(argv[i], name) != 0)
		return 0;
	if (*slot) {
		vxpu_cli_usage_error(SCHED, "%s given twice", name);
		return 2;
	}
	*slot = true;
	return 1;
}

static int parse_flags(int argc, char **argv, struct sched_flags *f)
{
	const struct {
		const char *name;
		const char **slot;
	} valued[] = {
	        {"--listen", &f->listen},
	        {"--extender-listen", &f->extender_listen},
	        {"--metrics-listen", &f->metrics_listen},
	        {"--tls-cert", &f->tls_cert},
	        {"--tls-key", &f->tls_key},
	        {"--kubeconfig", &f->kubeconfig},
	        {"--context", &f->context},
	        {"--lease-namespace", &f->lease_namespace},
	        {"--scheduler-name", &f->scheduler_name},
	        {"--node-policy", &f->node_policy},
	        {"--device-policy", &f->device_policy},
	        {"--lease-duration", &f->lease_duration},
	        {"--lease-wait", &f->lease_wait},
	        {"--vendor-profiles", &f->vendor_profiles},
	        {"--body-limit", &f->body_limit},
	        {"--threads", &f->threads},
	        {"--ledger", &f->ledger},
	        {"--project-label", &f->project_label},
	        {"--user-label", &f->user_label},
	};
	const struct {
		const char *name;
		bool *slot;
	} switches[] = {
	        {"--no-events", &f->no_events},
	        {"--no-ledger", &f->no_ledger},
	        {"--shared-default", &f->shared_default},
	        {"--allow-unknown-resources", &f->allow_unknown},
	};
	for (int i = 1; i < argc; i++) {
		int rc = 0;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]) && !rc; k++)
			rc = take_flag(argc, argv, &i, valued[k].name, valued[k].slot);
		for (size_t k = 0; k < sizeof(switches) / sizeof(switches[0]) && !rc; k++)
			rc = take_switch(argv, i, switches[k].name, switches[k].slot);
		if (rc == 2)
			return VXPU_EXIT_USAGE;
		if (rc == 0) {
			if (argv[i][0] == '-')
				return vxpu_cli_usage_error(SCHED, "unknown flag \"%s\"", argv[i]);
			return vxpu_cli_usage_error(SCHED, "unexpected argument \"%s\"", argv[i]);
		}
	}
	if (!f->tls_cert != !f->tls_key)
		return vxpu_cli_usage_error(SCHED, "%s needs %s as well",
		                            f->tls_cert ? "--tls-cert" : "--tls-key",
		                            f->tls_cert ? "--tls-key" : "--tls-cert");
	if (f->context && !f->kubeconfig)
		return vxpu_cli_usage_error(SCHED, "--context needs --kubeconfig");
	if (f->ledger && f->no_ledger)
		return vxpu_cli_usage_error(SCHED,
		                            "--ledger and --no-ledger contradict each other");
	return VXPU_EXIT_OK;
}

/* A duration like 60s, 2m, 1h (the units of `vxpu report --since`), in seconds. */
static int parse_duration(const char *flag, const char *text, unsigned min_s, unsigned max_s,
                          unsigned *out)
{
	size_t n = strlen(text);
	char err[256];
	int64_t now = 1000LL * 1000 * 1000 * 1000, at = 0;
	if (n < 2 || text[0] < '0' || text[0] > '9' || !strchr("smhdw", text[n - 1]) ||
	    vxpu_time_arg_parse(text, now, &at, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SCHED,
		                            "%s \"%s\": expected a duration such as 60s, 2m "
		                            "or 1h",
		                            flag, text);
	int64_t s = (now - at) / 1000;
	if (s < min_s || s > max_s)
		return vxpu_cli_usage_error(SCHED, "%s \"%s\": must be between %us and %us", flag,
		                            text, min_s, max_s);
	*out = (unsigned)s;
	return VXPU_EXIT_OK;
}

static int parse_count(const char *flag, const char *text, unsigned min, unsigned max,
                       unsigned *out)
{
	unsigned long v = 0;
	const char *p = text;
	for (; *p >= '0' && *p <= '9' && v <= max; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (p == text || *p || v < min || v > max)
		return vxpu_cli_usage_error(SCHED, "%s \"%s\": expected a whole number in %u..%u",
		                            flag, text, min, max);
	*out = (unsigned)v;
	return VXPU_EXIT_OK;
}

static int parse_policy(const char *flag, const char *text, enum vxpu_policy *out)
{
	if (vxpu_policy_parse(text, out) != 0 || *out == VXPU_POLICY_DEFAULT)
		return vxpu_cli_usage_error(SCHED,
		                            "%s \"%s\": expected binpack, spread, topology, "
		                            "numa or frag",
		                            flag, text);
	return VXPU_EXIT_OK;
}

/* A label key: [PREFIX/]NAME, PREFIX a DNS subdomain (<= 253), NAME 1..63
 * of [A-Za-z0-9._-] starting and ending with a letter or digit. */
static int parse_label_key(const char *flag, const char *text)
{
	const char *slash = strchr(text, '/');
	const char *name = slash ? slash + 1 : text;
	size_t prefix = slash ? (size_t)(slash - text) : 0;
	size_t n = strlen(name);
	bool ok =
	        !(slash && (prefix == 0 || prefix > 253 || strchr(name, '/'))) && n >= 1 && n <= 63;
	for (size_t i = 0; ok && i < prefix; i++)
		ok = (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '0' && text[i] <= '9') ||
		     text[i] == '-' || text[i] == '.';
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		ok = alnum || ((c == '-' || c == '_' || c == '.') && i > 0 && i + 1 < n);
	}
	if (!ok)
		return vxpu_cli_usage_error(SCHED,
		                            "%s \"%s\": expected a label key such as "
		                            "example.com/team",
		                            flag, text);
	return VXPU_EXIT_OK;
}

/* Reads a small file whole (vendor profiles). */
static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc((1 << 20) + 1);
	size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
	bool more = buf && fgetc(f) != EOF;
	fclose(f);
	if (!buf || more) {
		free(buf);
		snprintf(err, errlen, "%s: %s", path, buf ? "larger than 1 MiB" : "out of memory");
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- TLS certificate renewal ------------------------------------------------ */

struct cert_state {
	struct stat cert, key;
};

static void cert_stat(const char *cert, const char *key, struct cert_state *st)
{
	memset(st, 0, sizeof(*st));
	stat(cert, &st->cert);
	stat(key, &st->key);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Waits for SIGINT/SIGTERM up to seconds; returns the signal or 0. */
static int wait_signal(unsigned seconds)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	struct timespec ts = {(time_t)seconds, 0};
	int sig = sigtimedwait(&set, NULL, &ts);
	return sig > 0 ? sig : 0;
}

/* Starts the HTTPS listener again with renewed files, if they load. */
static void cert_renew(const struct vxpu_http_config *cfg, struct vxpu_http_server **server)
{
	char err[1024];
	struct vxpu_http_config trial = *cfg;
	trial.listen = "127.0.0.1:0";
	struct vxpu_http_server *probe = NULL;
	if (vxpu_http_start(&trial, &probe, err, sizeof(err)) != 0) {
		vxpu_log(VXPU_LOG_WARN, "renewed certificate refused; serving the old one", "error",
		         err, (char *)NULL);
		return;
	}
	vxpu_http_stop(probe, 0);
	/* The same address as before, also when --listen asked for port 0. */
	char address[300];
	snprintf(address, sizeof(address), "%s", vxpu_http_address(*server));
	struct vxpu_http_config again = *cfg;
	again.listen = address;
	cfg = &again;
	vxpu_http_stop(*server, SCHED_STOP_GRACE_MS);
	*server = NULL;
	for (int attempt = 0; attempt < 50 && !*server; attempt++) {
		if (vxpu_http_start(cfg, server, err, sizeof(err)) == 0)
			break;
		*server = NULL;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (*server)
		vxpu_log(VXPU_LOG_INFO, "certificate reloaded", "address",
		         vxpu_http_address(*server), (char *)NULL);
	else
		vxpu_log(VXPU_LOG_ERROR, "cannot listen again after a certificate renewal", "error",
		         err, (char *)NULL);
}

/* ---- the command ------------------------------------------------------------- */

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
}

static int scheduler_run(int argc, char **argv)
{
	struct sched_flags f = {0};
	int rc = parse_flags(argc, argv, &f);
	if (rc != VXPU_EXIT_OK)
		return rc;
	char err[1024], host[256];
	uint16_t port;
	const char *listen = f.listen ? f.listen : SCHED_LISTEN_DEFAULT;
	if (vxpu_http_listen_parse(listen, host, sizeof(host), &port, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SCHED, "--listen: %s", err);
	if (f.extender_listen && vxpu_http_listen_parse(f.extender_listen, host, sizeof(host),
	                                                &port, err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SCHED, "--extender-listen: %s", err);
	if (f.metrics_listen && vxpu_http_listen_parse(f.metrics_listen, host, sizeof(host), &port,
	                                               err, sizeof(err)) != 0)
		return vxpu_cli_usage_error(SCHED, "--metrics-listen: %s", err);
	struct vxpu_scheduler_options opt = {
	        .scheduler_name = f.scheduler_name ? f.scheduler_name : "vxpu-scheduler",
	        .lease_namespace = f.lease_namespace,
	        .lease_seconds = 60,
	        .lease_wait_ms = 10000,
	        .policy = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD},
	        .shape_window = 1000,
	        .webhook = {.exclusive_default = !f.shared_default,
	                    .deny_unknown_resources = !f.allow_unknown},
	        .events = !f.no_events,
	};
	unsigned lease_wait_s = 10, threads = 8;
	size_t body_limit = SCHED_BODY_LIMIT_DEFAULT;
	if ((f.node_policy &&
	     parse_policy("--node-policy", f.node_policy, &opt.policy.node_policy) != 0) ||
	    (f.device_policy &&
	     parse_policy("--device-policy", f.device_policy, &opt.policy.device_policy) != 0) ||
	    (f.lease_duration && parse_duration("--lease-duration", f.lease_duration, 5, 3600,
	                                        &opt.lease_seconds) != 0) ||
	    (f.lease_wait &&
	     parse_duration("--lease-wait", f.lease_wait, 1, 600, &lease_wait_s) != 0) ||
	    (f.threads && parse_count("--threads", f.threads, 1, 256, &threads) != 0) ||
	    (f.project_label && parse_label_key("--project-label", f.project_label) != 0) ||
	    (f.user_label && parse_label_key("--user-label", f.user_label) != 0))
		return VXPU_EXIT_USAGE;
	opt.project_label = f.project_label;
	opt.user_label = f.user_label;
	char ledger_default[4200];
	bool ledger_defaulted = false;
	if (f.ledger) {
		opt.ledger = f.ledger;
	} else if (!f.no_ledger) {
		if (vxpu_home_db_path(ledger_default, sizeof(ledger_default), err, sizeof(err)) ==
		    0) {
			opt.ledger = ledger_default;
			ledger_defaulted = true;
		} else {
			vxpu_log(VXPU_LOG_WARN, "no ledger: the default path is unknown", "error",
			         err, (char *)NULL);
		}
	}
	opt.lease_wait_ms = lease_wait_s * 1000;
	if (f.body_limit) {
		uint64_t bytes = 0;
		if (vxpu_size_parse(f.body_limit, VXPU_SIZE_BARE_BYTES, &bytes, err, sizeof(err)) !=
		    0)
			return vxpu_cli_usage_error(SCHED, "--body-limit: %s", err);
		if (bytes < 4096 || bytes > ((uint64_t)1 << 30))
			return vxpu_cli_usage_error(SCHED,
			                            "--body-limit \"%s\": must be between 4KiB "
			                            "and 1GiB",
			                            f.body_limit);
		body_limit = (size_t)bytes;
	}
	static struct vxpu_vendor_table vendors;
	vxpu_vendor_table_builtin(&vendors);
	if (f.vendor_profiles) {
		char *json = slurp(f.vendor_profiles, err, sizeof(err));
		if (!json)
			return vxpu_cli_usage_error(SCHED, "--vendor-profiles: %s", err);
		int merged = vxpu_vendor_table_merge_json(&vendors, json, err, sizeof(err));
		free(json);
		if (merged != 0)
			return vxpu_cli_usage_error(SCHED, "--vendor-profiles %s: %s",
			                            f.vendor_profiles, err);
	}
	struct vxpu_kube_config kcfg;
	const char *kubeconfig = f.kubeconfig;
	if (!kubeconfig && !getenv("KUBERNETES_SERVICE_HOST"))
		kubeconfig = getenv("KUBECONFIG");
	if (kubeconfig ? vxpu_kube_config_from_kubeconfig(&kcfg, kubeconfig, f.context, err,
	                                                  sizeof(err))
	               : vxpu_kube_config_in_cluster(&kcfg, VXPU_KUBE_SA_DIR, err, sizeof(err)))
		return vxpu_cli_fail(SCHED, "%s", err);
	char identity[256] = "vxpu-scheduler";
	gethostname(identity, sizeof(identity) - 1);
	opt.identity = identity;

	int status = VXPU_EXIT_FAILURE;
	struct vxpu_kube_client *client = NULL;
	struct vxpu_scheduler *s = NULL;
	struct vxpu_http_server *main_server = NULL, *extender_server = NULL,
	                        *metrics_server = NULL;
	if (vxpu_http_block_stop_signals() != 0) {
		vxpu_cli_fail(SCHED, "cannot block SIGINT and SIGTERM");
		goto out;
	}
	if (vxpu_kube_client_new(&kcfg, &client, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SCHED, "%s", err);
		goto out;
	}
	if (vxpu_scheduler_new(&vendors, client, &opt, &s, err, sizeof(err)) != 0) {
		if (!ledger_defaulted) {
			vxpu_cli_fail(SCHED, "%s", err);
			goto out;
		}
		vxpu_log(VXPU_LOG_WARN,
		         "no ledger: the default ledger cannot be opened (give "
		         "--ledger or --no-ledger)",
		         "error", err, (char *)NULL);
		opt.ledger = NULL;
		if (vxpu_scheduler_new(&vendors, client, &opt, &s, err, sizeof(err)) != 0) {
			vxpu_cli_fail(SCHED, "%s", err);
			goto out;
		}
	}
	if (vxpu_scheduler_start(s, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SCHED, "%s", err);
		goto out;
	}
	const struct vxpu_http_route routes[] = {
	        {"POST", "/filter", handle_filter, s},
	        {"POST", "/prioritize", handle_prioritize, s},
	        {"POST", "/bind", handle_bind, s},
	        {"POST", "/admit", handle_admit, s},
	        {"GET", "/metrics", handle_metrics, s},
	        {"GET", "/healthz", handle_healthz, s},
	        {"GET", "/readyz", handle_readyz, s},
	};
	struct vxpu_http_config cfg = {
	        .name = SCHED,
	        .listen = listen,
	        .routes = routes,
	        .nroutes = sizeof(routes) / sizeof(routes[0]),
	        .body_limit = body_limit,
	        .threads = threads,
	        .tls_cert_file = f.tls_cert,
	        .tls_key_file = f.tls_key,
	};
	if (vxpu_http_start(&cfg, &main_server, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SCHED, "%s", err);
		goto out;
	}
	struct vxpu_http_config ext = cfg;
	ext.name = "extender";
	ext.listen = f.extender_listen;
	ext.tls_cert_file = ext.tls_key_file = NULL;
	if (f.extender_listen && vxpu_http_start(&ext, &extender_server, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SCHED, "%s", err);
		goto out;
	}
	/* Read-only routes for probes and Prometheus, plain HTTP. */
	struct vxpu_http_config mcfg = ext;
	mcfg.name = "metrics";
	mcfg.listen = f.metrics_listen;
	mcfg.routes = routes + 4;
	mcfg.nroutes = 3;
	if (f.metrics_listen && vxpu_http_start(&mcfg, &metrics_server, err, sizeof(err)) != 0) {
		vxpu_cli_fail(SCHED, "%s", err);
		goto out;
	}
	vxpu_log(VXPU_LOG_INFO, "serving", "address", vxpu_http_address(main_server), "scheme",
	         vxpu_http_is_tls(main_server) ? "https" : "http", "extender",
	         extender_server ? vxpu_http_address(extender_server) : "-", "metrics",
	         metrics_server ? vxpu_http_address(metrics_server) : "-", "server", kcfg.server,
	         "ledger", vxpu_scheduler_ledger(s) ? vxpu_scheduler_ledger(s) : "-", (char *)NULL);
	struct cert_state certs;
	if (f.tls_cert)
		cert_stat(f.tls_cert, f.tls_key, &certs);
	int sig;
	while ((sig = wait_signal(SCHED_CERT_CHECK_S)) == 0) {
		if (!f.tls_cert || !main_server)
			continue;
		struct cert_state now;
		cert_stat(f.tls_cert, f.tls_key, &now);
		if (same_stat(&now.cert, &certs.cert) && same_stat(&now.key, &certs.key))
			continue;
		certs = now;
		cert_renew(&cfg, &main_server);
	}
	vxpu_log(VXPU_LOG_INFO, "stopping", "signal", signal_name(sig), (char *)NULL);
	status = VXPU_EXIT_OK;
out:
	vxpu_http_stop(main_server, SCHED_STOP_GRACE_MS);
	vxpu_http_stop(extender_server, SCHED_STOP_GRACE_MS);
	vxpu_http_stop(metrics_server, SCHED_STOP_GRACE_MS);
	vxpu_scheduler_free(s);
	vxpu_kube_client_free(client);
	vxpu_kube_config_free(&kcfg);
	return status;
}

static const struct vxpu_command vxpu_cmd_scheduler = {
        .name = "scheduler",
        .summary = "Kubernetes scheduler extender and pod admission webhook",
        .usage = "usage: vxpu scheduler [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE]\n"
                 "                      [--extender-listen H:P] [--metrics-listen H:P]\n"
                 "                      [--kubeconfig FILE "
                 "[--context NAME]]\n"
                 "                      [--scheduler-name NAME] [--lease-namespace NS]\n"
                 "                      [--node-policy P] [--device-policy P]\n"
                 "                      [--lease-duration D] [--lease-wait D]\n"
                 "                      [--vendor-profiles FILE] [--body-limit SIZE] [--threads "
                 "N]\n"
                 "                      [--no-events] [--shared-default] "
                 "[--allow-unknown-resources]\n"
                 "                      [--ledger FILE|postgres://... | --no-ledger]\n"
                 "                      [--project-label KEY] [--user-label KEY]\n"
                 "\n"
                 "Runs beside kube-scheduler as its extender and as the mutating admission\n"
                 "webhook for pods, until SIGINT or SIGTERM:\n"
                 "  POST /filter, /prioritize, /bind   kube-scheduler's extender calls\n"
                 "  POST /admit                        AdmissionReview (admission.k8s.io/v1)\n"
                 "  GET  /metrics, /healthz, /readyz   (ready once Nodes, Pods and\n"
                 "                                     ResourceQuotas are listed)\n"
                 "\n"
                 "  --listen HOST:PORT        every route (default 0.0.0.0:9443); HTTPS with\n"
                 "  --tls-cert FILE           this PEM certificate and\n"
                 "  --tls-key FILE            this key, reloaded when the files change\n"
                 "  --extender-listen H:P     the same routes over plain HTTP (e.g.\n"
                 "                            127.0.0.1:9400 for a kube-scheduler in the pod)\n"
                 "  --metrics-listen H:P      /metrics, /healthz and /readyz only, plain HTTP\n"
                 "  --kubeconfig FILE         credentials (default: the pod's service account,\n"
                 "  --context NAME            else $KUBECONFIG); a context of that file\n"
                 "  --scheduler-name NAME     set on vxpu pods by the webhook (vxpu-scheduler)\n"
                 "  --lease-namespace NS      where the node allocation Leases live (default:\n"
                 "                            the service account's namespace)\n"
                 "  --node-policy P           binpack (default), spread, topology, numa, frag\n"
                 "  --device-policy P         spread (default), binpack, topology, numa, frag\n"
                 "  --lease-duration D        a node lease's term (default 60s)\n"
                 "  --lease-wait D            how long bind waits for a busy node (default 10s)\n"
                 "  --vendor-profiles FILE    extra or changed vendor profiles (JSON)\n"
                 "  --body-limit SIZE         largest request body (default 16MiB)\n"
                 "  --threads N               request threads per listener (default 8)\n"
                 "  --no-events               post no Kubernetes Events on pods\n"
                 "  --shared-default          a pod giving only a device count shares the\n"
                 "                            device (default: a whole, exclusive device)\n"
                 "  --allow-unknown-resources admit unknown resources of a known vendor\n"
                 "  --ledger FILE|URI         where each pod allocation's intervals are\n"
                 "                            recorded: a SQLite file or a PostgreSQL URI\n"
                 "                            postgres://USER@HOST/DB (default: the\n"
                 "                            single-machine ledger, $VXPU_HOME/vxpu.db; if\n"
                 "                            that cannot be opened, a warning and none)\n"
                 "  --no-ledger               record nothing\n"
                 "  --project-label KEY       pod label naming the project (default\n"
                 "                            vxpu.io/project; missing: \"default\")\n"
                 "  --user-label KEY          pod label naming the user (default\n"
                 "                            vxpu.io/user; missing: \"unknown\")\n"
                 "\n"
                 "See docs/kubernetes.md.\n",
        .run = scheduler_run,
};
VXPU_REGISTER_COMMAND(vxpu_cmd_scheduler);
