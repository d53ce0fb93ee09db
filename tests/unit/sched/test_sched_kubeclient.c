/*
 * The Kubernetes API client against the protocol-level test API server
 * (fake_apiserver.py, run with Debian's /usr/bin/python3 on 127.0.0.1):
 * kubeconfig and in-cluster configuration, token rotation, retries of 5xx,
 * 429 and dropped connections, resourceVersion preconditions, bindings,
 * paginated lists, the list-watch loop with resume and relist on 410, and
 * TLS with a client certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "fake_apiserver_proc.h"

#include "kube/kubeclient.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_TEST_DIR
#error SCHED_TEST_DIR must name tests/unit/sched
#endif

static char err[1024];
static char tmpdir[256];

/* Starts the test API server with extra arguments (space separated). */
static void fake_start(struct fake_apiserver *f, const char *extra)
{
	assert_int_equal(fake_apiserver_start(f, SCHED_TEST_DIR "/fake_apiserver.py", 60, extra),
	                 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct vxpu_kube_client *client_for(const struct fake_apiserver *f, const char *token,
                                           const char *token_file)
{
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "%s", f->url);
	if (token)
		cfg.token = strdup(token);
	if (token_file)
		snprintf(cfg.token_file, sizeof(cfg.token_file), "%s", token_file);
	cfg.backoff_ms = 10;
	cfg.backoff_max_ms = 50;
	cfg.attempts = 4;
	cfg.timeout_ms = 5000;
	struct vxpu_kube_client *c = NULL;
	if (vxpu_kube_client_new(&cfg, &c, err, sizeof(err)) < 0)
		fail_msg("client: %s", err);
	vxpu_kube_config_free(&cfg);
	return c;
}

static void control(struct vxpu_kube_client *c, const char *path, const char *body)
{
	struct vxpu_kube_response r;
	if (vxpu_kube_request(c, "POST", path, "application/json", body ? body : "{}", &r, err,
	                      sizeof(err)) < 0)
		fail_msg("%s: %s", path, err);
	assert_int_equal(r.status, 200);
	vxpu_kube_response_free(&r);
}

static long call(struct vxpu_kube_client *c, const char *method, const char *path,
                 const char *ctype, const char *body, cJSON **doc)
{
	long status = 0;
	err[0] = '\0';
	vxpu_kube_call_json(c, method, path, ctype, body, doc, &status, err, sizeof(err));
	return status;
}

static void create_node(struct vxpu_kube_client *c, const char *name)
{
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}}", name);
	assert_int_equal(call(c, "POST", "/api/v1/nodes", "application/json", body, NULL), 201);
}

/* ---- configuration ------------------------------------------------------- */

static void kubeconfig_files(void **state)
{
	(void)state;
	char path[512], tokpath[512];
	snprintf(path, sizeof(path), "%s/config", tmpdir);
	snprintf(tokpath, sizeof(tokpath), "%s/tok", tmpdir);
	write_file(tokpath, "abc\n");
	write_file(path,
	           "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
	           "clusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443\n"
	           "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
	           "- name: c2\n  cluster:\n    server: http://127.0.0.1:8080\n"
	           "    insecure-skip-tls-verify: true\n"
	           "contexts:\n- name: dev\n  context:\n    cluster: c1\n    user: u1\n"
	           "    namespace: vxpu-system\n"
	           "- name: other\n  context:\n    cluster: c2\n    user: u2\n"
	           "users:\n- name: u1\n  user:\n    token: s3cret\n"
	           "- name: u2\n  user:\n    tokenFile: tok\n"
	           "preferences: {}\n");
	struct vxpu_kube_config c;
	if (vxpu_kube_config_from_kubeconfig(&c, path, NULL, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.ns, "vxpu-system");
	assert_string_equal(c.token, "s3cret");
	assert_string_equal(c.ca_data, "-----BEGIN CERTIFICATE-----\n");
	assert_false(c.insecure);
	vxpu_kube_config_free(&c);
	if (vxpu_kube_config_from_kubeconfig(&c, path, "other", err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(c.server, "http://127.0.0.1:8080");
	assert_true(c.insecure);
	assert_string_equal(c.token_file, tokpath); /* relative to the kubeconfig */
	assert_null(c.token);
	vxpu_kube_config_free(&c);

	static const struct {
		const char *yaml;
		const char *context;
		const char *needle;
	} bad[] = {
	        {"current-context: x\ncontexts: []\n", NULL, "no entry named \"x\""},
	        {"contexts: []\n", NULL, "current-context"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
	         "users:\n- name: u\n  user:\n    exec:\n      command: aws\n",
	         NULL, "line 14: users[0].user: \"exec\" credential plugins are not supported"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
	         "users:\n- name: u\n  user: {}\n",
	         NULL, "no token, tokenFile or client certificate"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
	         "users:\n- name: u\n  user:\n    client-certificate-data: '!!'\n",
	         NULL, "client-certificate-data: expected base64 data"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: ftp://x\n"
	         "users:\n- name: u\n  user:\n    token: t\n",
	         NULL, "is not an http(s) URL"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: https://x\n    "
	         "insecure-skip-tls-verify: "
	         "maybe\nusers:\n- name: u\n  user:\n    token: t\n",
	         NULL, "expected true or false"},
	        {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\n    user: "
	         "u\n"
	         "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
	         "users:\n- name: u\n  user:\n    token: t\n    client-key: k\n",
	         NULL, "needs its key"},
	        {"current-context: a\nbogus: 1\n", NULL, "\"bogus\" is not a kubeconfig field"},
	        {"current-context: [a\n", NULL, "line "},
	        {"current-context: a\ncurrent-context: b\n", NULL, "appears twice"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].yaml);
		err[0] = '\0';
		assert_int_equal(vxpu_kube_config_from_kubeconfig(&c, path, bad[i].context, err,
		                                                  sizeof(err)),
		                 -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
	}
	assert_int_equal(vxpu_kube_config_from_kubeconfig(&c, "/nonexistent/kubeconfig", NULL, err,
	                                                  sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "/nonexistent/kubeconfig"));
}

static void in_cluster_configuration(void **state)
{
	(void)state;
	char sa[512], p[600];
	snprintf(sa, sizeof(sa), "%s/sa", tmpdir);
	mkdir(sa, 0700);
	snprintf(p, sizeof(p), "%s/token", sa);
	write_file(p, "tok\n");
	snprintf(p, sizeof(p), "%s/ca.crt", sa);
	write_file(p, "ca");
	snprintf(p, sizeof(p), "%s/namespace", sa);
	write_file(p, "vxpu-system\n");
	struct vxpu_kube_config c;
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(vxpu_kube_config_in_cluster(&c, sa, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	if (vxpu_kube_config_in_cluster(&c, sa, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_string_equal(c.ns, "vxpu-system");
	assert_non_null(strstr(c.token_file, "/sa/token"));
	vxpu_kube_config_free(&c);
	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	assert_int_equal(vxpu_kube_config_in_cluster(&c, sa, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a port"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* ---- requests ------------------------------------------------------------ */

static void token_rotation(void **state)
{
	(void)state;
	char tok[512], args[700];
	snprintf(tok, sizeof(tok), "%s/server-token", tmpdir);
	write_file(tok, "first-token\n");
	snprintf(args, sizeof(args), "--token-file %s", tok);
	struct fake_apiserver f;
	fake_start(&f, args);
	struct vxpu_kube_client *c = client_for(&f, NULL, tok); /* reads the same file */
	assert_int_equal(call(c, "GET", "/api/v1/nodes", NULL, NULL, NULL), 200);
	/* kubelet rotates the projected token: the next call reads the new one. */
	usleep(20000);
	write_file(tok, "second-token-longer\n");
	assert_int_equal(call(c, "GET", "/api/v1/nodes", NULL, NULL, NULL), 200);
	struct vxpu_kube_stats st;
	vxpu_kube_client_stats(c, &st);
	assert_int_equal(st.token_reloads, 1);
	/* A wrong token is an answer (401), not something to retry. */
	struct vxpu_kube_client *bad = client_for(&f, "wrong", NULL);
	assert_int_equal(call(bad, "GET", "/api/v1/nodes", NULL, NULL, NULL), 401);
	assert_non_null(strstr(err, "401 Unauthorized"));
	vxpu_kube_client_stats(bad, &st);
	assert_int_equal(st.requests, 1);
	vxpu_kube_client_free(bad);
	vxpu_kube_client_free(c);
	fake_apiserver_stop(&f);
}

static void retries_on_5xx_429_and_drops(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, NULL);
	struct vxpu_kube_client *c = client_for(&f, NULL, NULL);
	control(c, "/__faults", "{\"status\":503,\"count\":2,\"match\":\"GET /api/v1/nodes\"}");
	struct vxpu_kube_response r;
	assert_int_equal(
	        vxpu_kube_request(c, "GET", "/api/v1/nodes", NULL, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 3);
	vxpu_kube_response_free(&r);
	control(c, "/__faults", "{\"status\":429,\"count\":1,\"match\":\"POST /api/v1/nodes\"}");
	create_node(c, "n1");
	control(c, "/__faults", "{\"drop\":true,\"count\":2,\"match\":\"GET /api/v1/nodes/n1\"}");
	cJSON *doc = NULL;
	assert_int_equal(call(c, "GET", "/api/v1/nodes/n1", NULL, NULL, &doc), 200);
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "name")->valuestring,
	        "n1");
	cJSON_Delete(doc);
	/* More failures than attempts: the last answer comes back. */
	control(c, "/__faults", "{\"status\":500,\"count\":10,\"match\":\"GET /api/v1/pods\"}");
	assert_int_equal(call(c, "GET", "/api/v1/pods", NULL, NULL, NULL), 500);
	assert_non_null(strstr(err, "GET /api/v1/pods: 500 Injected"));
	/* Nothing listening: no answer at all. */
	struct fake_apiserver gone = f;
	gone.port = 1;
	snprintf(gone.url, sizeof(gone.url), "http://127.0.0.1:1");
	struct vxpu_kube_client *nowhere = client_for(&gone, NULL, NULL);
	assert_int_equal(vxpu_kube_request(nowhere, "GET", "/api/v1/nodes", NULL, NULL, &r, err,
	                                   sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "GET /api/v1/nodes"));
	vxpu_kube_client_free(nowhere);
	struct vxpu_kube_stats st;
	vxpu_kube_client_stats(c, &st);
	/* curl itself resends once on a reused connection found dead, so a drop
	 * may cost no retry of ours; the others each cost one. */
	assert_true(st.retries >= 2 + 1 + 3);
	assert_true(st.failures >= 1);
	vxpu_kube_client_free(c);
	fake_apiserver_stop(&f);
}

static void preconditions_and_bindings(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, NULL);
	struct vxpu_kube_client *c = client_for(&f, NULL, NULL);
	cJSON *pod = NULL;
	assert_int_equal(call(c, "POST", "/api/v1/namespaces/ns/pods", "application/json",
	                      "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[]}}", &pod),
	                 201);
	const cJSON *meta = cJSON_GetObjectItem(pod, "metadata");
	char rv[64], uid[64], body[512];
	snprintf(rv, sizeof(rv), "%s", cJSON_GetObjectItem(meta, "resourceVersion")->valuestring);
	snprintf(uid, sizeof(uid), "%s", cJSON_GetObjectItem(meta, "uid")->valuestring);
	cJSON_Delete(pod);
	/* A merge patch computed from an older version is refused. */
	assert_int_equal(
	        call(c, "PATCH", "/api/v1/namespaces/ns/pods/p", VXPU_KUBE_MERGE_PATCH,
	             "{\"metadata\":{\"resourceVersion\":\"1\",\"annotations\":{\"a\":\"b\"}}}",
	             NULL),
	        409);
	assert_non_null(strstr(err, "409 Conflict"));
	snprintf(body, sizeof(body),
	         "{\"metadata\":{\"resourceVersion\":\"%s\",\"annotations\":{\"a\":\"b\"}}}", rv);
	assert_int_equal(
	        call(c, "PATCH", "/api/v1/namespaces/ns/pods/p", VXPU_KUBE_MERGE_PATCH, body, NULL),
	        200);
	/* The same patch again: the version moved on. */
	assert_int_equal(
	        call(c, "PATCH", "/api/v1/namespaces/ns/pods/p", VXPU_KUBE_MERGE_PATCH, body, NULL),
	        409);
	/* Strategic merge and JSON Patch flavours. */
	assert_int_equal(call(c, "PATCH", "/api/v1/namespaces/ns/pods/p", VXPU_KUBE_STRATEGIC_PATCH,
	                      "{\"metadata\":{\"annotations\":{\"a\":null}}}", NULL),
	                 200);
	assert_int_equal(call(c, "PATCH", "/api/v1/namespaces/ns/pods/p", VXPU_KUBE_JSON_PATCH,
	                      "[{\"op\":\"test\",\"path\":\"/metadata/name\",\"value\":\"q\"}]",
	                      NULL),
	                 422);
	/* Binding: once; a second one conflicts; a wrong uid conflicts. */
	snprintf(
	        body, sizeof(body),
	        "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"p\",\"uid\":"
	        "\"other\"},\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n1\"}}");
	assert_int_equal(call(c, "POST", "/api/v1/namespaces/ns/pods/p/binding", "application/json",
	                      body, NULL),
	                 409);
	snprintf(body, sizeof(body),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"p\",\"uid\":"
	         "\"%s\"},\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"n1\"}}",
	         uid);
	assert_int_equal(call(c, "POST", "/api/v1/namespaces/ns/pods/p/binding", "application/json",
	                      body, NULL),
	                 201);
	assert_int_equal(call(c, "POST", "/api/v1/namespaces/ns/pods/p/binding", "application/json",
	                      body, NULL),
	                 409);
	assert_non_null(strstr(err, "already assigned"));
	assert_int_equal(call(c, "GET", "/api/v1/namespaces/ns/pods/p", NULL, NULL, &pod), 200);
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "nodeName")->valuestring,
	        "n1");
	cJSON_Delete(pod);
	assert_int_equal(call(c, "GET", "/api/v1/namespaces/ns/pods/nope", NULL, NULL, NULL), 404);
	char esc[64];
	assert_int_equal(vxpu_kube_escape("spec.nodeName=a b/c", esc, sizeof(esc)), 0);
	assert_string_equal(esc, "spec.nodeName%3Da%20b%2Fc");
	assert_int_equal(vxpu_kube_escape("abcdef", esc, 4), -1);
	vxpu_kube_client_free(c);
	fake_apiserver_stop(&f);
}

static void paginated_list(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, NULL);
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "%s", f.url);
	cfg.page_size = 3;
	struct vxpu_kube_client *c;
	assert_int_equal(vxpu_kube_client_new(&cfg, &c, err, sizeof(err)), 0);
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		create_node(c, name);
	}
	cJSON *items = NULL;
	char rv[64];
	long status;
	assert_int_equal(vxpu_kube_list(c, "/api/v1/nodes", NULL, &items, rv, sizeof(rv), &status,
	                                err, sizeof(err)),
	                 0);
	assert_int_equal(cJSON_GetArraySize(items), 7);
	assert_string_equal(rv, "8");
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 6), "metadata"),
	                            "name")
	                ->valuestring,
	        "n6");
	cJSON_Delete(items);
	assert_int_equal(vxpu_kube_list(c, "/api/v1/nodes", "fieldSelector=metadata.name%3Dn3",
	                                &items, rv, sizeof(rv), &status, err, sizeof(err)),
	                 0);
	assert_int_equal(cJSON_GetArraySize(items), 1);
	cJSON_Delete(items);
	assert_int_equal(vxpu_kube_list(c, "/api/v1/nothing", NULL, &items, rv, sizeof(rv), &status,
	                                err, sizeof(err)),
	                 -1);
	assert_int_equal(status, 404);
	vxpu_kube_client_free(c);
	fake_apiserver_stop(&f);
}

/* ---- the reflector --------------------------------------------------------- */

struct mirror {
	pthread_mutex_t lock;
	char names[64][32];
	char versions[64][32];
	int count;
	int relists;
	int synced;
	int marks[64]; /* seen in the current relist */
};

static int mirror_find(struct mirror *m, const char *name)
{
	for (int i = 0; i < m->count; i++)
		if (strcmp(m->names[i], name) == 0)
			return i;
	return -1;
}

static void m_begin(void *ctx, bool first)
{
	struct mirror *m = ctx;
	pthread_mutex_lock(&m->lock);
	if (!first)
		m->relists++;
	memset(m->marks, 0, sizeof(m->marks));
	pthread_mutex_unlock(&m->lock);
}

static void m_event(void *ctx, const char *type, const cJSON *obj)
{
	struct mirror *m = ctx;
	const cJSON *meta = cJSON_GetObjectItem(obj, "metadata");
	const char *name = cJSON_GetObjectItem(meta, "name")->valuestring;
	const char *rv = cJSON_GetObjectItem(meta, "resourceVersion")->valuestring;
	pthread_mutex_lock(&m->lock);
	int i = mirror_find(m, name);
	if (strcmp(type, "DELETED") == 0) {
		if (i >= 0) {
			m->count--;
			memmove(m->names[i], m->names[i + 1],
			        sizeof(m->names[0]) * (size_t)(m->count - i));
			memmove(m->versions[i], m->versions[i + 1],
			        sizeof(m->versions[0]) * (size_t)(m->count - i));
			memmove(&m->marks[i], &m->marks[i + 1],
			        sizeof(int) * (size_t)(m->count - i));
		}
	} else {
		if (i < 0 && m->count < 64)
			i = m->count++;
		if (i >= 0) {
			snprintf(m->names[i], sizeof(m->names[i]), "%s", name);
			snprintf(m->versions[i], sizeof(m->versions[i]), "%s", rv);
			m->marks[i] = 1;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void m_end(void *ctx, const char *rv)
{
	(void)rv;
	struct mirror *m = ctx;
	pthread_mutex_lock(&m->lock);
	for (int i = m->count - 1; i >= 0; i--)
		if (!m->marks[i]) { /* gone while we were away */
			m->count--;
			memmove(m->names[i], m->names[i + 1],
			        sizeof(m->names[0]) * (size_t)(m->count - i));
			memmove(m->versions[i], m->versions[i + 1],
			        sizeof(m->versions[0]) * (size_t)(m->count - i));
			memmove(&m->marks[i], &m->marks[i + 1],
			        sizeof(int) * (size_t)(m->count - i));
		}
	m->synced++;
	pthread_mutex_unlock(&m->lock);
}

struct reflector {
	struct vxpu_kube_client *c;
	struct vxpu_kube_watcher w;
	atomic_bool stop;
	pthread_t thread;
};

static void *reflect_main(void *arg)
{
	struct reflector *r = arg;
	vxpu_kube_reflect(r->c, "/api/v1/nodes", NULL, &r->w, &r->stop);
	return NULL;
}

/* Waits up to 10 s for the mirror to hold exactly want nodes (with the versions of the server). */
static bool wait_mirror(struct mirror *m, int want, const char *absent, const char *present)
{
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&m->lock);
		bool ok = m->count == want && (!absent || mirror_find(m, absent) < 0) &&
		          (!present || mirror_find(m, present) >= 0);
		pthread_mutex_unlock(&m->lock);
		if (ok)
			return true;
		usleep(20000);
	}
	return false;
}

static void list_watch_resume_and_relist(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, "--history 5");
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "%s", f.url);
	cfg.watch_timeout_s = 1; /* short watches: the loop resumes often */
	cfg.backoff_ms = 20;
	cfg.backoff_max_ms = 100;
	struct reflector r = {0};
	assert_int_equal(vxpu_kube_client_new(&cfg, &r.c, err, sizeof(err)), 0);
	create_node(r.c, "before");
	struct mirror m = {.lock = PTHREAD_MUTEX_INITIALIZER};
	r.w = (struct vxpu_kube_watcher){m_begin, m_event, m_end, &m};
	atomic_init(&r.stop, false);
	assert_int_equal(pthread_create(&r.thread, NULL, reflect_main, &r), 0);
	assert_true(wait_mirror(&m, 1, NULL, "before"));
	/* Watched changes: add, modify, delete. */
	create_node(r.c, "a");
	create_node(r.c, "b");
	assert_int_equal(call(r.c, "PATCH", "/api/v1/nodes/a", VXPU_KUBE_MERGE_PATCH,
	                      "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}", NULL),
	                 200);
	assert_int_equal(call(r.c, "DELETE", "/api/v1/nodes/before", NULL, NULL, NULL), 200);
	assert_true(wait_mirror(&m, 2, "before", "b"));
	/* Watches survive the server ending them (timeoutSeconds=1): resumed, not relisted. */
	usleep(2500000);
	create_node(r.c, "c");
	assert_true(wait_mirror(&m, 3, NULL, "c"));
	pthread_mutex_lock(&m.lock);
	assert_int_equal(m.relists, 0);
	pthread_mutex_unlock(&m.lock);
	/* While watches fail, more changes than the history holds: 410, relist. */
	control(r.c, "/__faults", "{\"status\":500,\"count\":100000,\"match\":\"watch=1\"}");
	usleep(1500000); /* the open watch ends (timeoutSeconds=1); new ones fail */
	for (int i = 0; i < 8; i++) {
		char name[16];
		snprintf(name, sizeof(name), "x%d", i);
		create_node(r.c, name);
	}
	assert_int_equal(call(r.c, "DELETE", "/api/v1/nodes/a", NULL, NULL, NULL), 200);
	control(r.c, "/__faults", "{\"clear\":true}");
	assert_true(wait_mirror(&m, 10, "a", "x7"));
	pthread_mutex_lock(&m.lock);
	int relists = m.relists;
	pthread_mutex_unlock(&m.lock);
	struct vxpu_kube_stats st;
	vxpu_kube_client_stats(r.c, &st);
	assert_true(relists >= 1);
	assert_int_equal(st.relists, (uint64_t)relists);
	assert_true(st.watch_events >= 5);
	atomic_store(&r.stop, true);
	pthread_join(r.thread, NULL);
	vxpu_kube_client_free(r.c);
	fake_apiserver_stop(&f);
}

/* ---- TLS ------------------------------------------------------------------- */

static void tls_with_client_certificate(void **state)
{
	(void)state;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
	         "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca "
	         "-keyout ca.key -out ca.crt >/dev/null 2>&1 && "
	         "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out "
	         "srv.csr "
	         ">/dev/null 2>&1 && printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
	         "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	         "-extfile ext -out srv.crt >/dev/null 2>&1 && "
	         "openssl req -newkey rsa:2048 -nodes -subj /CN=vxpu-scheduler -keyout cli.key "
	         "-out cli.csr >/dev/null 2>&1 && "
	         "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	         "-out cli.crt >/dev/null 2>&1",
	         tmpdir);
	if (system(cmd) != 0)
		fail_msg("openssl could not make the test certificates");
	char args[2048];
	snprintf(args, sizeof(args),
	         "--tls-cert %s/srv.crt --tls-key %s/srv.key --client-ca %s/ca.crt", tmpdir, tmpdir,
	         tmpdir);
	struct fake_apiserver f;
	fake_start(&f, args);
	/* A kubeconfig with the CA file and the client certificate as -data. */
	char cfgpath[512], b64cmd[1024];
	snprintf(cfgpath, sizeof(cfgpath), "%s/tls-config", tmpdir);
	snprintf(b64cmd, sizeof(b64cmd),
	         "cd %s && { printf 'current-context: t\\ncontexts:\\n- name: t\\n  context:\\n"
	         "    cluster: c\\n    user: u\\nclusters:\\n- name: c\\n  cluster:\\n"
	         "    server: https://127.0.0.1:%d\\n    certificate-authority: ca.crt\\n"
	         "users:\\n- name: u\\n  user:\\n    client-certificate-data: '; "
	         "base64 -w0 cli.crt; printf '\\n    client-key-data: '; base64 -w0 cli.key; "
	         "printf '\\n'; } > tls-config",
	         tmpdir, f.port);
	assert_int_equal(system(b64cmd), 0);
	struct vxpu_kube_config cfg;
	if (vxpu_kube_config_from_kubeconfig(&cfg, cfgpath, NULL, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	cfg.attempts = 1;
	struct vxpu_kube_client *c;
	assert_int_equal(vxpu_kube_client_new(&cfg, &c, err, sizeof(err)), 0);
	assert_int_equal(call(c, "GET", "/api/v1/nodes", NULL, NULL, NULL), 200);
	vxpu_kube_client_free(c);
	/* The same without the client certificate: the server refuses the handshake. */
	free(cfg.cert_data);
	free(cfg.key_data);
	cfg.cert_data = cfg.key_data = NULL;
	assert_int_equal(vxpu_kube_client_new(&cfg, &c, err, sizeof(err)), 0);
	struct vxpu_kube_response r;
	assert_int_equal(
	        vxpu_kube_request(c, "GET", "/api/v1/nodes", NULL, NULL, &r, err, sizeof(err)), -1);
	vxpu_kube_client_free(c);
	/* Files instead of -data, and a CA that did not sign the server: refused. */
	snprintf(cfg.cert_file, sizeof(cfg.cert_file), "%s/cli.crt", tmpdir);
	snprintf(cfg.key_file, sizeof(cfg.key_file), "%s/cli.key", tmpdir);
	assert_int_equal(vxpu_kube_client_new(&cfg, &c, err, sizeof(err)), 0);
	assert_int_equal(call(c, "GET", "/api/v1/nodes", NULL, NULL, NULL), 200);
	vxpu_kube_client_free(c);
	snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s/cli.crt", tmpdir);
	assert_int_equal(vxpu_kube_client_new(&cfg, &c, err, sizeof(err)), 0);
	assert_int_equal(
	        vxpu_kube_request(c, "GET", "/api/v1/nodes", NULL, NULL, &r, err, sizeof(err)), -1);
	vxpu_kube_client_free(c);
	vxpu_kube_config_free(&cfg);
	fake_apiserver_stop(&f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vxpu-kubeclient-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(kubeconfig_files),
	        cmocka_unit_test(in_cluster_configuration),
	        cmocka_unit_test(token_rotation),
	        cmocka_unit_test(retries_on_5xx_429_and_drops),
	        cmocka_unit_test(preconditions_and_bindings),
	        cmocka_unit_test(paginated_list),
	        cmocka_unit_test(list_watch_resume_and_relist),
	        cmocka_unit_test(tls_with_client_certificate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
