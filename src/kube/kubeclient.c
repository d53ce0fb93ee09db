/*
 * kubeclient.c - the Kubernetes API client (see kubeclient.h).
 *
 * Layout: configuration (in-cluster files, kubeconfig through libyaml's
 * document API), the handle pool, one attempt (vxpu_kube_request's body),
 * the retry loop, JSON calls, lists, and the reflector's watch stream.
 *
 * Invariants: a curl easy handle is used by one thread at a time (it is
 * taken from the pool under the mutex and given back after the call); the
 * bearer token is copied under the token mutex before an attempt, so a
 * rotation in between never tears it; nothing blocks without a timeout but
 * the watch stream, which still gives up when no byte came for
 * watch_timeout_s + 30 s and checks the stop flag at least once a second.
 */
#include "kube/kubeclient.h"

#include "common/clock.h"
#include "core/fail.h"
#include "core/request.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <yaml.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BODY_LIMIT ((size_t)512 << 20) /* a list of many thousand pods fits */
#define POOL_IDLE_MAX 16
#define LINE_LIMIT ((size_t)64 << 20) /* one watch event */

static char *dup_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Copies src into a fixed buffer; -1 when it does not fit. */
static int copy_to(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Reads a whole small file (at most limit bytes) into a heap string. */
static char *read_file(const char *path, size_t limit, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	FILE *f = fopen(path, "rb");
	if (!f) {
		vxpu_fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 >= cap) {
			if (cap > limit) {
				vxpu_fail(err, errlen, "%s: larger than %zu bytes", path, limit);
				free(buf);
				buf = NULL;
				break;
			}
			char *grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				vxpu_fail(err, errlen, "%s: %s", path, strerror(errno));
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	else if (err && !err[0])
		vxpu_fail(err, errlen, "%s: out of memory", path);
	return buf;
}

/* Removes trailing whitespace (token files end with a newline). */
static void trim_right(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

int vxpu_kube_base64_decode(const char *in, char **out, size_t *len)
{
	size_t n = strlen(in);
	if (n % 4)
		return -1;
	unsigned char *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char ch = in[i + k];
			int d;
			if (ch >= 'A' && ch <= 'Z')
				d = ch - 'A';
			else if (ch >= 'a' && ch <= 'z')
				d = ch - 'a' + 26;
			else if (ch >= '0' && ch <= '9')
				d = ch - '0' + 52;
			else if (ch == '+')
				d = 62;
			else if (ch == '/')
				d = 63;
			else if (ch == '=' && i + 4 == n && k >= 2 && (k == 3 || in[i + 3] == '='))
				d = 0, pad++;
			else {
				free(buf);
				return -1;
			}
			if (pad && ch != '=') {
				free(buf);
				return -1;
			}
			v = v << 6 | (uint32_t)d;
		}
		buf[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			buf[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			buf[o++] = (unsigned char)v;
	}
	buf[o] = '\0';
	*out = (char *)buf;
	if (len)
		*len = o;
	return 0;
}

/* ---- configuration ------------------------------------------------------- */

void vxpu_kube_config_free(struct vxpu_kube_config *c)
{
	free(c->ca_data);
	free(c->token);
	free(c->cert_data);
	free(c->key_data);
	memset(c, 0, sizeof(*c));
}

int vxpu_kube_config_in_cluster(struct vxpu_kube_config *c, const char *sa_dir, char *err,
                                size_t errlen)
{
	memset(c, 0, sizeof(*c));
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port)
		return vxpu_fail(
		        err, errlen,
		        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
		        "are not set (use --kubeconfig)");
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return vxpu_fail(err, errlen,
			                 "KUBERNETES_SERVICE_PORT=\"%s\" is not a port", port);
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(c->server, sizeof(c->server), "https://%s%s%s:%s", v6 ? "[" : "", host,
	                 v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(c->server))
		return vxpu_fail(err, errlen, "KUBERNETES_SERVICE_HOST is too long");
	if (snprintf(c->token_file, sizeof(c->token_file), "%s/token", sa_dir) >=
	            (int)sizeof(c->token_file) ||
	    snprintf(c->ca_file, sizeof(c->ca_file), "%s/ca.crt", sa_dir) >=
	            (int)sizeof(c->ca_file))
		return vxpu_fail(err, errlen, "service account folder %s: path too long", sa_dir);
	if (access(c->token_file, R_OK) != 0 || access(c->ca_file, R_OK) != 0)
		return vxpu_fail(err, errlen, "service account: cannot read %s and %s: %s",
		                 c->token_file, c->ca_file, strerror(errno));
	char nsfile[VXPU_KUBE_PATH_MAX + 16];
	snprintf(nsfile, sizeof(nsfile), "%s/namespace", sa_dir);
	char why[256] = "";
	char *ns = read_file(nsfile, 256, why, sizeof(why));
	if (ns) {
		trim_right(ns);
		copy_to(c->ns, sizeof(c->ns), ns);
		free(ns);
	}
	return 0;
}

/* -- kubeconfig: a few helpers over libyaml's document tree -- */

struct kc {
	yaml_document_t doc;
	const char *path;
	char dir[VXPU_KUBE_PATH_MAX];
	char *err;
	size_t errlen;
};

static int kc_fail(struct kc *k, const yaml_node_t *at, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int kc_fail(struct kc *k, const yaml_node_t *at, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at)
		return vxpu_fail(k->err, k->errlen, "kubeconfig %s: line %zu: %s: %s", k->path,
		                 (size_t)at->start_mark.line + 1, field, msg);
	return vxpu_fail(k->err, k->errlen, "kubeconfig %s: %s: %s", k->path, field, msg);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in mapping m, or NULL. */
static yaml_node_t *kc_get(struct kc *k, const yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *kk = scalar(yaml_document_get_node(&k->doc, p->key));
		if (kk && strcmp(kk, key) == 0)
			return yaml_document_get_node(&k->doc, p->value);
	}
	return NULL;
}

/* Refuses keys of m outside known; refused lists keys with a reason. */
static int kc_keys(struct kc *k, const yaml_node_t *m, const char *path, const char *const *known)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return kc_fail(k, m, path, "expected a mapping");
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);
		const char *key = scalar(kn);
		if (!key)
			return kc_fail(k, kn, path, "a key that is not a string");
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			const char *prev = scalar(yaml_document_get_node(&k->doc, q->key));
			if (prev && strcmp(prev, key) == 0)
				return kc_fail(k, kn, path, "key \"%s\" appears twice", key);
		}
		bool ok = false;
		for (const char *const *w = known; *w && !ok; w++)
			ok = strcmp(*w, key) == 0;
		if (!ok) {
			const char *why = "is not a kubeconfig field vxpu knows";
			if (!strcmp(key, "exec") || !strcmp(key, "auth-provider"))
				why = "credential plugins are not supported; use a token, "
				      "tokenFile "
				      "or a client certificate";
			else if (!strcmp(key, "username") || !strcmp(key, "password"))
				why = "basic authentication is not supported";
			else if (!strcmp(key, "as") || !strcmp(key, "as-groups") ||
			         !strcmp(key, "as-uid") || !strcmp(key, "as-user-extra"))
				why = "impersonation is not supported";
			else if (!strcmp(key, "proxy-url") || !strcmp(key, "tls-server-name"))
				why = "is not supported";
			return kc_fail(k, kn, path, "\"%s\" %s", key, why);
		}
	}
	return 0;
}

/* A scalar field into a buffer; absent is fine (returns 1). */
static int kc_string(struct kc *k, const yaml_node_t *m, const char *path, const char *key,
                     char *out, size_t cap)
{
	const yaml_node_t *v = kc_get(k, m, key);
	if (!v)
		return 1;
	const char *s = scalar(v);
	char field[256];
	snprintf(field, sizeof(field), "%s.%s", path, key);
	if (!s)
		return kc_fail(k, v, field, "expected a string");
	if (copy_to(out, cap, s) < 0)
		return kc_fail(k, v, field, "longer than %zu bytes", cap - 1);
	return 0;
}

/* A path field, resolved against the kubeconfig's folder. */
static int kc_path(struct kc *k, const yaml_node_t *m, const char *path, const char *key, char *out,
                   size_t cap)
{
	char raw[VXPU_KUBE_PATH_MAX] = "";
	int r = kc_string(k, m, path, key, raw, sizeof(raw));
	if (r != 0)
		return r;
	int n = raw[0] == '/' ? snprintf(out, cap, "%s", raw)
	                      : snprintf(out, cap, "%s/%s", k->dir, raw);
	if (n < 0 || (size_t)n >= cap)
		return kc_fail(k, kc_get(k, m, key), key, "path too long");
	return 0;
}

/* A base64 -data field into a heap PEM string. */
static int kc_data(struct kc *k, const yaml_node_t *m, const char *path, const char *key,
                   char **out)
{
	const yaml_node_t *v = kc_get(k, m, key);
	if (!v)
		return 1;
	char field[256];
	snprintf(field, sizeof(field), "%s.%s", path, key);
	const char *s = scalar(v);
	if (!s || vxpu_kube_base64_decode(s, out, NULL) < 0)
		return kc_fail(k, v, field, "expected base64 data");
	return 0;
}

/* The entry of list (clusters/users/contexts) named name: its inner mapping. */
static const yaml_node_t *kc_named(struct kc *k, const char *list, const char *inner,
                                   const char *name, char *path, size_t pathcap)
{
	const yaml_node_t *root = yaml_document_get_root_node(&k->doc);
	const yaml_node_t *seq = kc_get(k, root, list);
	if (!seq || seq->type != YAML_SEQUENCE_NODE) {
		kc_fail(k, seq, list, "expected a list");
		return NULL;
	}
	size_t i = 0;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++, i++) {
		const yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
		const char *n = scalar(kc_get(k, e, "name"));
		if (n && strcmp(n, name) == 0) {
			snprintf(path, pathcap, "%s[%zu]", list, i);
			static const char *const entry_keys[] = {"name", "cluster", "user",
			                                         "context", NULL};
			if (kc_keys(k, e, path, entry_keys) < 0)
				return NULL;
			const yaml_node_t *m = kc_get(k, e, inner);
			snprintf(path, pathcap, "%s[%zu].%s", list, i, inner);
			if (!m || m->type != YAML_MAPPING_NODE) {
				kc_fail(k, m ? m : e, path, "expected a mapping");
				return NULL;
			}
			return m;
		}
	}
	kc_fail(k, seq, list, "no entry named \"%s\"", name);
	return NULL;
}

int vxpu_kube_config_from_kubeconfig(struct vxpu_kube_config *c, const char *path,
                                     const char *context, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	char *text = read_file(path, 4 << 20, err, errlen);
	if (!text)
		return -1;
	struct kc k = {.path = path, .err = err, .errlen = errlen};
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(k.dir, sizeof(k.dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(k.dir, sizeof(k.dir), ".");
	yaml_parser_t parser;
	int rc = -1;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return vxpu_fail(err, errlen, "kubeconfig %s: out of memory", path);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &k.doc)) {
		vxpu_fail(err, errlen, "kubeconfig %s: line %zu: %s", path,
		          (size_t)parser.problem_mark.line + 1,
		          parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		free(text);
		return -1;
	}
	yaml_parser_delete(&parser);
	const yaml_node_t *root = yaml_document_get_root_node(&k.doc);
	static const char *const top[] = {"apiVersion",      "kind",       "clusters",
	                                  "contexts",        "users",      "preferences",
	                                  "current-context", "extensions", NULL};
	char ctx_name[256] = "", cluster_name[256] = "", user_name[256] = "", p[128];
	const yaml_node_t *ctx, *cluster, *user;
	if (!root) {
		vxpu_fail(err, errlen, "kubeconfig %s: empty document", path);
		goto out;
	}
	if (kc_keys(&k, root, "kubeconfig", top) < 0)
		goto out;
	if (context) {
		if (copy_to(ctx_name, sizeof(ctx_name), context) < 0) {
			vxpu_fail(err, errlen, "context name too long");
			goto out;
		}
	} else if (kc_string(&k, root, "", "current-context", ctx_name, sizeof(ctx_name)) != 0 ||
	           !ctx_name[0]) {
		if (!err[0])
			kc_fail(&k, root, "current-context", "not set (name a context)");
		goto out;
	}
	if (!(ctx = kc_named(&k, "contexts", "context", ctx_name, p, sizeof(p))))
		goto out;
	static const char *const ctx_keys[] = {"cluster", "user", "namespace", "extensions", NULL};
	if (kc_keys(&k, ctx, p, ctx_keys) < 0 ||
	    kc_string(&k, ctx, p, "cluster", cluster_name, sizeof(cluster_name)) != 0 ||
	    kc_string(&k, ctx, p, "user", user_name, sizeof(user_name)) != 0 ||
	    kc_string(&k, ctx, p, "namespace", c->ns, sizeof(c->ns)) < 0) {
		if (!err[0])
			kc_fail(&k, ctx, p, "needs cluster and user");
		goto out;
	}
	if (!(cluster = kc_named(&k, "clusters", "cluster", cluster_name, p, sizeof(p))))
		goto out;
	static const char *const cluster_keys[] = {"server",
	                                           "certificate-authority",
	                                           "certificate-authority-data",
	                                           "insecure-skip-tls-verify",
	                                           "extensions",
	                                           "disable-compression",
	                                           NULL};
	if (kc_keys(&k, cluster, p, cluster_keys) < 0 ||
	    kc_string(&k, cluster, p, "server", c->server, sizeof(c->server)) != 0 ||
	    kc_path(&k, cluster, p, "certificate-authority", c->ca_file, sizeof(c->ca_file)) < 0 ||
	    kc_data(&k, cluster, p, "certificate-authority-data", &c->ca_data) < 0) {
		if (!err[0])
			kc_fail(&k, cluster, p, "needs server");
		goto out;
	}
	const yaml_node_t *insecure = kc_get(&k, cluster, "insecure-skip-tls-verify");
	if (insecure) {
		const char *v = scalar(insecure);
		if (!v || (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)) {
			kc_fail(&k, insecure, "insecure-skip-tls-verify", "expected true or false");
			goto out;
		}
		c->insecure = strcmp(v, "true") == 0;
	}
	if (strncmp(c->server, "https://", 8) != 0 && strncmp(c->server, "http://", 7) != 0) {
		kc_fail(&k, cluster, p, "server \"%s\" is not an http(s) URL", c->server);
		goto out;
	}
	if (!(user = kc_named(&k, "users", "user", user_name, p, sizeof(p))))
		goto out;
	static const char *const user_keys[] = {
	        "token",      "tokenFile",       "client-certificate", "client-certificate-data",
	        "client-key", "client-key-data", "extensions",         NULL};
	char token[8192] = "";
	if (kc_keys(&k, user, p, user_keys) < 0 ||
	    kc_string(&k, user, p, "token", token, sizeof(token)) < 0 ||
	    kc_path(&k, user, p, "tokenFile", c->token_file, sizeof(c->token_file)) < 0 ||
	    kc_path(&k, user, p, "client-certificate", c->cert_file, sizeof(c->cert_file)) < 0 ||
	    kc_path(&k, user, p, "client-key", c->key_file, sizeof(c->key_file)) < 0 ||
	    kc_data(&k, user, p, "client-certificate-data", &c->cert_data) < 0 ||
	    kc_data(&k, user, p, "client-key-data", &c->key_data) < 0)
		goto out;
	if (token[0] && !(c->token = dup_string(token))) {
		vxpu_fail(err, errlen, "out of memory");
		goto out;
	}
	bool cert = c->cert_file[0] || c->cert_data;
	bool key = c->key_file[0] || c->key_data;
	if (cert != key) {
		kc_fail(&k, user, p,
		        "a client certificate needs its key, and a key its certificate");
		goto out;
	}
	if (!cert && !c->token && !c->token_file[0]) {
		kc_fail(&k, user, p, "no token, tokenFile or client certificate");
		goto out;
	}
	rc = 0;
out:
	yaml_document_delete(&k.doc);
	free(text);
	if (rc < 0)
		vxpu_kube_config_free(c);
	return rc;
}

/* ---- the client ------------------------------------------------------------ */

struct pooled {
	CURL *h;
	struct pooled *next;
};

struct vxpu_kube_client {
	struct vxpu_kube_config cfg; /* owns the heap strings */
	char ns[64];
	pthread_mutex_t lock; /* pool, token, stats, random state */
	struct pooled *idle;
	size_t nidle;
	/* token file state */
	char *token; /* current bearer token (heap), or NULL */
	struct stat token_stat;
	bool token_read;
	struct vxpu_kube_stats stats;
	uint64_t rand_state;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_global(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_opt(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *d = dup_string(s);
	if (!d)
		*oom = true;
	return d;
}

int vxpu_kube_client_new(const struct vxpu_kube_config *cfg, struct vxpu_kube_client **out,
                         char *err, size_t errlen)
{
	*out = NULL;
	pthread_once(&curl_once, curl_global);
	if (strncmp(cfg->server, "https://", 8) != 0 && strncmp(cfg->server, "http://", 7) != 0)
		return vxpu_fail(err, errlen, "server \"%s\" is not an http(s) URL", cfg->server);
	struct vxpu_kube_client *c = calloc(1, sizeof(*c));
	if (!c)
		return vxpu_fail(err, errlen, "out of memory");
	c->cfg = *cfg;
	bool oom = false;
	c->cfg.ca_data = dup_opt(cfg->ca_data, &oom);
	c->cfg.token = dup_opt(cfg->token, &oom);
	c->cfg.cert_data = dup_opt(cfg->cert_data, &oom);
	c->cfg.key_data = dup_opt(cfg->key_data, &oom);
	c->token = dup_opt(cfg->token, &oom);
	if (oom) {
		vxpu_kube_client_free(c);
		return vxpu_fail(err, errlen, "out of memory");
	}
	size_t n = strlen(c->cfg.server);
	while (n && c->cfg.server[n - 1] == '/')
		c->cfg.server[--n] = '\0';
	struct vxpu_kube_config *k = &c->cfg;
	if (!k->connect_timeout_ms)
		k->connect_timeout_ms = 5000;
	if (!k->timeout_ms)
		k->timeout_ms = 30000;
	if (!k->attempts)
		k->attempts = 5;
	if (!k->backoff_ms)
		k->backoff_ms = 100;
	if (!k->backoff_max_ms)
		k->backoff_max_ms = 5000;
	if (!k->watch_timeout_s)
		k->watch_timeout_s = 300;
	if (!k->page_size)
		k->page_size = 500;
	copy_to(c->ns, sizeof(c->ns), cfg->ns[0] ? cfg->ns : "default");
	pthread_mutex_init(&c->lock, NULL);
	c->rand_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)c;
	if (k->token_file[0]) {
		char why[256];
		char *t = read_file(k->token_file, 64 << 10, why, sizeof(why));
		if (!t) {
			vxpu_kube_client_free(c);
			return vxpu_fail(err, errlen, "token file: %s", why);
		}
		free(t);
	}
	*out = c;
	return 0;
}

void vxpu_kube_client_free(struct vxpu_kube_client *c)
{
	if (!c)
		return;
	while (c->idle) {
		struct pooled *p = c->idle;
		c->idle = p->next;
		curl_easy_cleanup(p->h);
		free(p);
	}
	free(c->token);
	vxpu_kube_config_free(&c->cfg);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *vxpu_kube_client_namespace(const struct vxpu_kube_client *c)
{
	return c->ns;
}

void vxpu_kube_client_stats(const struct vxpu_kube_client *c, struct vxpu_kube_stats *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	*out = c->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
}

static void count(struct vxpu_kube_client *c, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&c->lock);
	*field += n;
	pthread_mutex_unlock(&c->lock);
}

void vxpu_kube_response_free(struct vxpu_kube_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static CURL *handle_take(struct vxpu_kube_client *c)
{
	pthread_mutex_lock(&c->lock);
	struct pooled *p = c->idle;
	if (p) {
		c->idle = p->next;
		c->nidle--;
	}
	pthread_mutex_unlock(&c->lock);
	if (!p)
		return curl_easy_init();
	CURL *h = p->h;
	free(p);
	curl_easy_reset(h); /* options go, the connection cache stays */
	return h;
}

static void handle_give(struct vxpu_kube_client *c, CURL *h, bool reusable)
{
	struct pooled *p = reusable ? malloc(sizeof(*p)) : NULL;
	pthread_mutex_lock(&c->lock);
	if (p && c->nidle < POOL_IDLE_MAX) {
		p->h = h;
		p->next = c->idle;
		c->idle = p;
		c->nidle++;
		h = NULL;
		p = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(p);
	if (h)
		curl_easy_cleanup(h);
}

/* The current bearer token (heap copy; NULL = none), re-read when the file changed. */
static char *token_now(struct vxpu_kube_client *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->lock);
	if (c->cfg.token_file[0]) {
		struct stat st;
		if (stat(c->cfg.token_file, &st) == 0 &&
		    (!c->token_read || st.st_mtim.tv_sec != c->token_stat.st_mtim.tv_sec ||
		     st.st_mtim.tv_nsec != c->token_stat.st_mtim.tv_nsec ||
		     st.st_size != c->token_stat.st_size || st.st_ino != c->token_stat.st_ino)) {
			char why[256];
			char *t = read_file(c->cfg.token_file, 64 << 10, why, sizeof(why));
			if (t) {
				trim_right(t);
				free(c->token);
				c->token = t;
				if (c->token_read)
					c->stats.token_reloads++;
				c->token_read = true;
				c->token_stat = st;
			} else if (!c->token) {
				pthread_mutex_unlock(&c->lock);
				vxpu_fail(err, errlen, "token file: %s", why);
				return NULL;
			}
		}
	}
	char *t = c->token ? dup_string(c->token) : NULL;
	pthread_mutex_unlock(&c->lock);
	return t;
}

/* ---- one attempt ----------------------------------------------------------- */

struct sink {
	char *data;
	size_t len, cap;
	bool overflow;
	long retry_after_s;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	if (s->len + n + 1 > s->cap) {
		if (s->len + n + 1 > BODY_LIMIT) {
			s->overflow = true;
			return 0;
		}
		size_t cap = s->cap ? s->cap : 8192;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *grown = realloc(s->data, cap);
		if (!grown) {
			s->overflow = true;
			return 0;
		}
		s->data = grown;
		s->cap = cap;
	}
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

static size_t header_line(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		long v = 0;
		size_t i = sizeof(name) - 1;
		while (i < n && ptr[i] == ' ')
			i++;
		for (; i < n && ptr[i] >= '0' && ptr[i] <= '9' && v < 100000; i++)
			v = v * 10 + (ptr[i] - '0');
		s->retry_after_s = v;
	}
	return n;
}

/* Options shared by calls and watches: URL, TLS, credentials, headers. */
static struct curl_slist *setup(struct vxpu_kube_client *c, CURL *h, const char *method,
                                const char *path, const char *content_type, const char *token,
                                char *url, size_t urlcap)
{
	snprintf(url, urlcap, "%s%s", c->cfg.server, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	const struct vxpu_kube_config *k = &c->cfg;
	if (k->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (k->ca_data) {
		struct curl_blob blob = {k->ca_data, strlen(k->ca_data), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (k->ca_file[0]) {
		curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
	}
	if (k->cert_data) {
		struct curl_blob blob = {k->cert_data, strlen(k->cert_data), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (k->cert_file[0]) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
	}
	if (k->key_data) {
		struct curl_blob blob = {k->key_data, strlen(k->key_data), CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (k->key_file[0]) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
	}
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
	if (hdr && content_type) {
		char line[160];
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		struct curl_slist *next = curl_slist_append(hdr, line);
		if (!next) {
			curl_slist_free_all(hdr);
			return NULL;
		}
		hdr = next;
	}
	if (hdr && token) {
		size_t n = strlen(token) + 32;
		char *line = malloc(n);
		struct curl_slist *next = NULL;
		if (line) {
			snprintf(line, n, "Authorization: Bearer %s", token);
			next = curl_slist_append(hdr, line);
			free(line);
		}
		if (!next) {
			curl_slist_free_all(hdr);
			return NULL;
		}
		hdr = next;
	}
	if (hdr)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	return hdr;
}

/* One attempt. Returns the curl code; *status the HTTP status (0 = none). */
static CURLcode attempt(struct vxpu_kube_client *c, const char *method, const char *path,
                        const char *content_type, const char *body, struct sink *sink, long *status,
                        char *err, size_t errlen)
{
	*status = 0;
	char *token = token_now(c, err, errlen);
	if (!token && c->cfg.token_file[0])
		return CURLE_LOGIN_DENIED;
	CURL *h = handle_take(c);
	if (!h) {
		free(token);
		vxpu_fail(err, errlen, "out of memory");
		return CURLE_OUT_OF_MEMORY;
	}
	char url[VXPU_KUBE_URL_MAX + VXPU_KUBE_PATH_MAX];
	struct curl_slist *hdr = setup(c, h, method, path, content_type, token, url, sizeof(url));
	free(token);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_line);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, sink);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	count(c, &c->stats.requests, 1);
	CURLcode rc = hdr ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	else if (sink->overflow)
		vxpu_fail(err, errlen, "%s %s: answer larger than %zu bytes", method, path,
		          BODY_LIMIT);
	else
		vxpu_fail(err, errlen, "%s %s: %s", method, path,
		          curl_err[0] ? curl_err : curl_easy_strerror(rc));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdr);
	handle_give(c, h, rc == CURLE_OK);
	return rc;
}

static uint64_t next_random(struct vxpu_kube_client *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t x = c->rand_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rand_state = x;
	pthread_mutex_unlock(&c->lock);
	return x;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* The wait before retry k (1-based): base × 2^(k-1), capped, jittered to 50..100 %. */
static unsigned backoff(struct vxpu_kube_client *c, unsigned k, long retry_after_s)
{
	uint64_t ms = c->cfg.backoff_ms;
	for (unsigned i = 1; i < k && ms < c->cfg.backoff_max_ms; i++)
		ms *= 2;
	if (ms > c->cfg.backoff_max_ms)
		ms = c->cfg.backoff_max_ms;
	ms = ms / 2 + next_random(c) % (ms / 2 + 1);
	if (retry_after_s > 0) {
		uint64_t ra = (uint64_t)retry_after_s * 1000;
		if (ra > c->cfg.backoff_max_ms)
			ra = c->cfg.backoff_max_ms;
		if (ra > ms)
			ms = ra;
	}
	return (unsigned)ms;
}

int vxpu_kube_request(struct vxpu_kube_client *c, const char *method, const char *path,
                      const char *content_type, const char *body, struct vxpu_kube_response *resp,
                      char *err, size_t errlen)
{
	memset(resp, 0, sizeof(*resp));
	for (unsigned k = 1;; k++) {
		struct sink sink = {0};
		long status = 0;
		CURLcode rc =
		        attempt(c, method, path, content_type, body, &sink, &status, err, errlen);
		resp->attempts = k;
		bool retry = rc != CURLE_OK ? rc != CURLE_OUT_OF_MEMORY &&
		                                      rc != CURLE_LOGIN_DENIED && !sink.overflow
		                            : status == 429 || status >= 500;
		if (!retry || k >= c->cfg.attempts) {
			if (rc != CURLE_OK) {
				free(sink.data);
				count(c, &c->stats.failures, 1);
				return -1;
			}
			if (status == 429 || status >= 500)
				count(c, &c->stats.failures, 1);
			resp->status = status;
			resp->body = sink.data;
			resp->len = sink.len;
			return 0;
		}
		free(sink.data);
		count(c, &c->stats.retries, 1);
		sleep_ms(backoff(c, k, sink.retry_after_s));
	}
}

/* "METHOD PATH: STATUS REASON: MESSAGE" from a non-2xx answer. */
static void status_error(const char *method, const char *path, const struct vxpu_kube_response *r,
                         char *err, size_t errlen)
{
	cJSON *doc = r->body ? cJSON_Parse(r->body) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(doc, "reason");
	if (cJSON_IsString(msg))
		vxpu_fail(err, errlen, "%s %s: %ld %s: %s", method, path, r->status,
		          cJSON_IsString(reason) ? reason->valuestring : "", msg->valuestring);
	else
		vxpu_fail(err, errlen, "%s %s: %ld%s%.120s", method, path, r->status,
		          r->body && r->body[0] ? ": " : "", r->body ? r->body : "");
	cJSON_Delete(doc);
}

int vxpu_kube_call_json(struct vxpu_kube_client *c, const char *method, const char *path,
                        const char *content_type, const char *body, struct cJSON **doc,
                        long *status, char *err, size_t errlen)
{
	if (doc)
		*doc = NULL;
	if (status)
		*status = 0;
	struct vxpu_kube_response r;
	if (vxpu_kube_request(c, method, path, content_type, body, &r, err, errlen) < 0)
		return -1;
	if (status)
		*status = r.status;
	if (r.status < 200 || r.status > 299) {
		status_error(method, path, &r, err, errlen);
		vxpu_kube_response_free(&r);
		return -1;
	}
	int rc = (int)r.status;
	if (doc) {
		*doc = r.body ? cJSON_ParseWithLength(r.body, r.len) : NULL;
		if (!*doc || !cJSON_IsObject(*doc)) {
			cJSON_Delete(*doc);
			*doc = NULL;
			vxpu_fail(err, errlen, "%s %s: %ld with a body that is not a JSON object",
			          method, path, r.status);
			rc = -1;
		}
	}
	vxpu_kube_response_free(&r);
	return rc;
}

void vxpu_kube_micro_time(int64_t ms, char *out, size_t cap)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (snprintf(out, cap, "%s.%06dZ", base, (int)(ms % 1000) * 1000) < 0)
		out[0] = '\0';
}

int vxpu_kube_post_event(struct vxpu_kube_client *c, const struct vxpu_kube_event *e, char *err,
                         size_t errlen)
{
	char now[40], name[300], path[512], ens[3 * VXPU_NAMESPACE_MAX];
	vxpu_kube_micro_time(vxpu_wall_ms(), now, sizeof(now));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%.200s.%llx", e->name,
	         (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
	if (vxpu_kube_escape(e->ns, ens, sizeof(ens)) < 0)
		return vxpu_fail(err, errlen, "namespace \"%.64s\" too long", e->ns);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ens);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "apiVersion", "v1");
	cJSON_AddStringToObject(ev, "kind", "Event");
	cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "namespace", e->ns);
	cJSON *obj = cJSON_AddObjectToObject(ev, "involvedObject");
	cJSON_AddStringToObject(obj, "apiVersion", "v1");
	cJSON_AddStringToObject(obj, "kind", "Pod");
	cJSON_AddStringToObject(obj, "namespace", e->ns);
	cJSON_AddStringToObject(obj, "name", e->name);
	cJSON_AddStringToObject(obj, "uid", e->uid);
	cJSON_AddStringToObject(ev, "type", e->warning ? "Warning" : "Normal");
	cJSON_AddStringToObject(ev, "reason", e->reason);
	cJSON_AddStringToObject(ev, "message", e->message);
	cJSON *src = cJSON_AddObjectToObject(ev, "source");
	cJSON_AddStringToObject(src, "component", e->component);
	if (e->host)
		cJSON_AddStringToObject(src, "host", e->host);
	cJSON_AddStringToObject(ev, "reportingComponent", e->component);
	cJSON_AddStringToObject(ev, "reportingInstance", e->instance);
	cJSON_AddStringToObject(ev, "firstTimestamp", now);
	cJSON_AddStringToObject(ev, "lastTimestamp", now);
	cJSON_AddNumberToObject(ev, "count", 1);
	char *body = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!body)
		return vxpu_fail(err, errlen, "out of memory");
	long status = 0;
	int rc = vxpu_kube_call_json(c, "POST", path, "application/json", body, NULL, &status, err,
	                             errlen);
	cJSON_free(body);
	return rc < 0 ? -1 : 0;
}

int vxpu_kube_escape(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		            *p == '~';
		if (o + (keep ? 1 : 3) >= cap)
			return -1;
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return 0;
}

/* ---- lists ----------------------------------------------------------------- */

int vxpu_kube_list(struct vxpu_kube_client *c, const char *path, const char *selector,
                   struct cJSON **items, char *resource_version, size_t rvcap, long *status,
                   char *err, size_t errlen)
{
	*items = cJSON_CreateArray();
	if (!*items)
		return vxpu_fail(err, errlen, "out of memory");
	char cont[2048] = "";
	resource_version[0] = '\0';
	for (;;) {
		char url[VXPU_KUBE_PATH_MAX];
		char esc[3 * sizeof(cont)];
		if (vxpu_kube_escape(cont, esc, sizeof(esc)) < 0)
			goto too_long;
		int n = snprintf(url, sizeof(url), "%s%slimit=%u%s%s%s%s", path,
		                 strchr(path, '?') ? "&" : "?", c->cfg.page_size,
		                 selector ? "&" : "", selector ? selector : "",
		                 cont[0] ? "&continue=" : "", cont[0] ? esc : "");
		if (n < 0 || (size_t)n >= sizeof(url))
			goto too_long;
		cJSON *page = NULL;
		if (vxpu_kube_call_json(c, "GET", url, NULL, NULL, &page, status, err, errlen) <
		    0) {
			cJSON_Delete(*items);
			*items = NULL;
			return -1;
		}
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
		const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
		const cJSON *next = cJSON_GetObjectItemCaseSensitive(meta, "continue");
		cJSON *list = cJSON_GetObjectItemCaseSensitive(page, "items");
		if (!cJSON_IsString(rv) || (list && !cJSON_IsArray(list) && !cJSON_IsNull(list))) {
			cJSON_Delete(page);
			cJSON_Delete(*items);
			*items = NULL;
			return vxpu_fail(err, errlen,
			                 "GET %s: not a list (metadata.resourceVersion, items)",
			                 path);
		}
		if (!resource_version[0] && copy_to(resource_version, rvcap, rv->valuestring) < 0) {
			cJSON_Delete(page);
			goto too_long;
		}
		while (list && cJSON_IsArray(list) && list->child)
			cJSON_AddItemToArray(*items, cJSON_DetachItemViaPointer(list, list->child));
		bool more = cJSON_IsString(next) && next->valuestring[0];
		if (more && copy_to(cont, sizeof(cont), next->valuestring) < 0) {
			cJSON_Delete(page);
			goto too_long;
		}
		cJSON_Delete(page);
		if (!more)
			return 0;
	}
too_long:
	cJSON_Delete(*items);
	*items = NULL;
	return vxpu_fail(err, errlen, "GET %s: a URL, continue token or resourceVersion too long",
	                 path);
}

/* ---- watch ----------------------------------------------------------------- */

enum watch_end {
	WATCH_CLOSED, /* the server ended the stream: resume from rv */
	WATCH_GONE,   /* 410: relist */
	WATCH_FAILED, /* transport error or bad answer: back off, resume */
	WATCH_STOPPED,
};

struct stream {
	struct vxpu_kube_client *c;
	CURL *h;
	const struct vxpu_kube_watcher *w;
	atomic_bool *stop;
	char *rv; /* updated as events pass */
	size_t rvcap;
	char *line;
	size_t len, cap;
	long status;
	bool gone, bad;
	struct sink error_body;
};

static void stream_event(struct stream *s, const char *text, size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(text, len);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		s->bad = true;
		cJSON_Delete(ev);
		return;
	}
	const char *t = type->valuestring;
	if (strcmp(t, "ERROR") == 0) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		if (cJSON_IsNumber(code) && code->valueint == 410)
			s->gone = true;
		else
			s->bad = true;
		cJSON_Delete(ev);
		return;
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (cJSON_IsString(rv))
		copy_to(s->rv, s->rvcap, rv->valuestring);
	if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0 || strcmp(t, "DELETED") == 0) {
		count(s->c, &s->c->stats.watch_events, 1);
		s->w->event(s->w->ctx, t, obj);
	} else if (strcmp(t, "BOOKMARK") != 0) {
		s->bad = true;
	}
	cJSON_Delete(ev);
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct stream *s = ud;
	size_t n = size * nmemb;
	if (!s->status)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200)
		return sink_write(ptr, size, nmemb, &s->error_body);
	for (size_t i = 0; i < n; i++) {
		if (ptr[i] == '\n') {
			if (s->len)
				stream_event(s, s->line, s->len);
			s->len = 0;
			if (s->gone || s->bad || atomic_load(s->stop))
				return 0; /* ends the transfer */
			continue;
		}
		if (s->len + 1 >= s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 65536;
			char *grown = cap <= LINE_LIMIT ? realloc(s->line, cap) : NULL;
			if (!grown) {
				s->bad = true;
				return 0;
			}
			s->line = grown;
			s->cap = cap;
		}
		s->line[s->len++] = ptr[i];
	}
	return n;
}

static int stream_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
	(void)a;
	(void)b;
	(void)c2;
	(void)d;
	struct stream *s = ud;
	return atomic_load(s->stop) ? 1 : 0;
}

static enum watch_end watch_once(struct vxpu_kube_client *c, const char *path, const char *selector,
                                 const struct vxpu_kube_watcher *w, atomic_bool *stop, char *rv,
                                 size_t rvcap, char *err, size_t errlen)
{
	char url[VXPU_KUBE_PATH_MAX];
	char esc[256];
	if (vxpu_kube_escape(rv, esc, sizeof(esc)) < 0)
		return WATCH_GONE;
	int n = snprintf(
	        url, sizeof(url),
	        "%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=%s%s%s",
	        path, strchr(path, '?') ? "&" : "?", c->cfg.watch_timeout_s, esc,
	        selector ? "&" : "", selector ? selector : "");
	if (n < 0 || (size_t)n >= sizeof(url)) {
		vxpu_fail(err, errlen, "watch %s: URL too long", path);
		return WATCH_FAILED;
	}
	char *token = token_now(c, err, errlen);
	if (!token && c->cfg.token_file[0])
		return WATCH_FAILED;
	CURL *h = handle_take(c);
	if (!h) {
		free(token);
		return WATCH_FAILED;
	}
	char full[VXPU_KUBE_URL_MAX + VXPU_KUBE_PATH_MAX];
	struct curl_slist *hdr = setup(c, h, "GET", url, NULL, token, full, sizeof(full));
	free(token);
	struct stream s = {.c = c, .h = h, .w = w, .stop = stop, .rv = rv, .rvcap = rvcap};
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
	/* No total timeout on the stream; a silent connection is dead after this. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->cfg.watch_timeout_s + 30L);
	count(c, &c->stats.requests, 1);
	CURLcode rc = hdr ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
	if (!s.status)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s.status);
	curl_slist_free_all(hdr);
	enum watch_end end;
	if (atomic_load(stop)) {
		end = WATCH_STOPPED;
	} else if (s.gone || s.status == 410) {
		end = WATCH_GONE;
	} else if (s.status != 200) {
		struct vxpu_kube_response r = {.status = s.status, .body = s.error_body.data};
		status_error("WATCH", path, &r, err, errlen);
		end = WATCH_FAILED;
	} else if (s.bad) {
		vxpu_fail(err, errlen, "watch %s: an event that is not a watch event", path);
		end = WATCH_FAILED;
	} else if (rc != CURLE_OK) {
		vxpu_fail(err, errlen, "watch %s: %s", path, curl_easy_strerror(rc));
		end = WATCH_FAILED;
	} else {
		end = WATCH_CLOSED;
	}
	handle_give(c, h, rc == CURLE_OK);
	free(s.line);
	free(s.error_body.data);
	return end;
}

/* Sleeps ms in slices, returning early when stop is set. */
static void wait_or_stop(unsigned ms, atomic_bool *stop)
{
	while (ms > 0 && !atomic_load(stop)) {
		unsigned slice = ms < 50 ? ms : 50;
		sleep_ms(slice);
		ms -= slice;
	}
}

int vxpu_kube_reflect(struct vxpu_kube_client *c, const char *path, const char *selector,
                      const struct vxpu_kube_watcher *w, atomic_bool *stop)
{
	char rv[128] = "";
	bool first = true;
	unsigned failures = 0;
	char err[512];
	while (!atomic_load(stop)) {
		if (!rv[0]) {
			cJSON *items = NULL;
			long status = 0;
			if (vxpu_kube_list(c, path, selector, &items, rv, sizeof(rv), &status, err,
			                   sizeof(err)) < 0) {
				rv[0] = '\0';
				wait_or_stop(backoff(c, ++failures, 0), stop);
				continue;
			}
			if (!first)
				count(c, &c->stats.relists, 1);
			w->relist_begin(w->ctx, first);
			const cJSON *it;
			cJSON_ArrayForEach(it, items)
			{
				if (cJSON_IsObject(it))
					w->event(w->ctx, "ADDED", it);
			}
			w->relist_end(w->ctx, rv);
			cJSON_Delete(items);
			first = false;
		}
		switch (watch_once(c, path, selector, w, stop, rv, sizeof(rv), err, sizeof(err))) {
		case WATCH_CLOSED:
			failures = 0;
			break;
		case WATCH_GONE:
			rv[0] = '\0';
			failures = 0;
			break;
		case WATCH_FAILED:
			wait_or_stop(backoff(c, ++failures, 0), stop);
			break;
		case WATCH_STOPPED:
			break;
		}
	}
	return 0;
}
