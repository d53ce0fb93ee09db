/*
 * bench_sched - the scheduler extender's figures (targets of issue 8):
 *
 *   1. /filter + /prioritize for one pod over 1,000 nodes × 8 GPUs (about
 *      half of the devices partly used): the server-side work of both
 *      calls — parse the ExtenderArgs, decide, write the answer — per
 *      sample; median and p99 of thread CPU time and of wall time
 *      (target: p99 <= 5 ms);
 *   2. memory of the cluster model with 5,000 nodes × 8 GPUs and 20,000
 *      pods holding allocations: growth of the resident set (target:
 *      <= 200 MiB);
 *   3. binds per second: `vxpu scheduler`'s bind sequence (read the pod,
 *      take the node's lease, reserve, annotate, create the Binding) from
 *      8 threads against the test API server (tests/unit/sched/
 *      fake_apiserver.py with its stand-in node agent), 1,000 pods over 100
 *      nodes (target: >= 500 binds/s). The test API server is a single
 *      Python process; its request rate bounds this figure.
 * Clusters are synthetic and seeded, so runs compare.
 */
#include "fake_apiserver_proc.h"

#include "core/annotation.h"
#include "core/extender.h"
#include "core/extender_model.h"
#include "kube/http.h"
#include "kube/kubeclient.h"
#include "kube/scheduler.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FAKE_APISERVER
#error FAKE_APISERVER must name tests/unit/sched/fake_apiserver.py
#endif

static struct vxpu_vendor_table vendors;
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* A node of ndev A100 80 GB, through its registration annotation. */
static void add_node(struct vxpu_ext_model *m, const char *name, uint32_t ndev)
{
	struct vxpu_node *n = malloc(sizeof(*n));
	vxpu_node_init(n, name);
	char err[256];
	for (uint32_t i = 0; i < ndev; i++) {
		struct vxpu_device d;
		char id[96];
		snprintf(id, sizeof(id), "GPU-%s-%u", name, i);
		vxpu_device_init(&d, i, id, "nvidia", "NVIDIA A100-SXM4-80GB", 81920);
		d.numa = (int32_t)(i / 4);
		vxpu_node_add_device(n, &d, err, sizeof(err));
	}
	char *reg = vxpu_node_registration_encode(n, 1795866469123LL);
	vxpu_node_destroy(n);
	free(n);
	struct vxpu_kube_node kn = {.registration = reg};
	snprintf(kn.name, sizeof(kn.name), "%s", name);
	if (vxpu_ext_model_node_update(m, &kn) != 0) {
		fprintf(stderr, "bench_sched: node %s not registered\n", name);
		exit(1);
	}
	vxpu_annotation_free(reg);
}

/* Reserves a one-device pod of memory_mib on node; the annotation text
 * (free with vxpu_annotation_free) or NULL when it did not fit. */
static char *add_pod(struct vxpu_ext_model *m, struct vxpu_kube_pod *kp, const char *node,
                     uint32_t i, uint64_t memory_mib)
{
	memset(kp, 0, sizeof(*kp));
	snprintf(kp->ns, sizeof(kp->ns), "team-%u", i % 20);
	snprintf(kp->name, sizeof(kp->name), "pod-%u", i);
	snprintf(kp->uid, sizeof(kp->uid), "uid-%08u", i);
	vxpu_pod_request_init(&kp->request, kp->ns, kp->name);
	struct vxpu_container_request *c =
	        vxpu_pod_request_add_container(&kp->request, "main", VXPU_CONTAINER_APP);
	c->count = 1;
	c->memory_mib = memory_mib;
	snprintf(c->family, sizeof(c->family), "nvidia.com/gpu");
	kp->wants_devices = true;
	char *text = NULL, err[512];
	if (vxpu_ext_model_reserve(m, kp, node, 1795866469000LL, &text, err, sizeof(err)) != 0)
		return NULL;
	return text;
}

/* The same pod as a bound Pod object, for the scheduler's watch path. */
static cJSON *pod_object(const struct vxpu_kube_pod *kp, const char *node, uint64_t memory_mib,
                         const char *annotation)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
	cJSON_AddStringToObject(meta, "name", kp->name);
	cJSON_AddStringToObject(meta, "namespace", kp->ns);
	cJSON_AddStringToObject(meta, "uid", kp->uid);
	cJSON_AddStringToObject(meta, "resourceVersion", "1");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"), "vxpu.io/allocation",
	                        annotation);
	cJSON *spec = cJSON_AddObjectToObject(doc, "spec");
	cJSON_AddStringToObject(spec, "nodeName", node);
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "main");
	cJSON *limits = cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "resources"), "limits");
	char mib[32];
	snprintf(mib, sizeof(mib), "%llu", (unsigned long long)memory_mib);
	cJSON_AddStringToObject(limits, "nvidia.com/gpu", "1");
	cJSON_AddStringToObject(limits, "nvidia.com/gpumem", mib);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), c);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(doc, "status"), "phase", "Running");
	return doc;
}

static cJSON *node_object(const struct vxpu_ext_model *m, const char *name)
{
	const struct vxpu_ext_node *en = vxpu_ext_model_node(m, name);
	cJSON *doc = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
	                        "vxpu.io/node-registration", en->registration);
	return doc;
}

struct census {
	size_t nodes, pods, recorded;
};

static void count_model(const struct vxpu_ext_model *m, void *ctx)
{
	struct census *c = ctx;
	c->nodes = m->nnodes;
	c->pods = m->npods;
	c->recorded = 0;
	for (size_t i = 0; i < m->npods; i++)
		c->recorded += m->pods[i]->recorded;
}

/* The feasible node names of a filter answer, as a JSON array text. */
static char *feasible_of(const char *answer, size_t *count)
{
	cJSON *doc = cJSON_Parse(answer);
	const cJSON *names = cJSON_GetObjectItem(doc, "NodeNames");
	*count = (size_t)cJSON_GetArraySize(names);
	char *text = cJSON_PrintUnformatted(names);
	cJSON_Delete(doc);
	return text;
}

struct sink {
	char *data;
	size_t len, cap;
};

static size_t sink_write(char *ptr, size_t size, size_t n, void *ctx)
{
	struct sink *k = ctx;
	size_t add = size * n;
	if (k->len + add + 1 > k->cap) {
		k->cap = (k->len + add + 1) * 2;
		k->data = realloc(k->data, k->cap);
	}
	memcpy(k->data + k->len, ptr, add);
	k->len += add;
	k->data[k->len] = '\0';
	return add;
}

/* POSTs body to url over the kept-alive handle; the answer in k. */
static int http_post(CURL *h, const char *url, const char *body, struct sink *k)
{
	k->len = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
	long status = 0;
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status == 200 ? 0 : -1;
}

static void handle_filter(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                          void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_filter(ctx, req->body, req->body_len, &a);
	vxpu_http_respond_take(resp, a.status, VXPU_HTTP_JSON, a.body, a.len);
}

static void handle_prioritize(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                              void *ctx)
{
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_prioritize(ctx, req->body, req->body_len, &a);
	vxpu_http_respond_take(resp, a.status, VXPU_HTTP_JSON, a.body, a.len);
}

static void print_figure(const char *what, double *v, size_t n, double target_us)
{
	double p50 = percentile(v, n, 0.5), p99 = percentile(v, n, 0.99);
	printf("  %-34s median %6.2f ms  p99 %6.2f ms", what, p50 / 1000, p99 / 1000);
	if (target_us > 0)
		printf("   (target: p99 <= %.0f ms) %s", target_us / 1000,
		       p99 <= target_us ? "ok" : "MISSED");
	printf("\n");
}

/*
 * Filter + prioritize for one pod over 1,000 nodes x 8 GPUs, as
 * kube-scheduler asks them: filter with every node, prioritize with the
 * feasible ones. "Server-side" is the time inside the scheduler's handlers
 * (vxpu_scheduler_filter + vxpu_scheduler_prioritize: parse the
 * ExtenderArgs, decide under the model lock, write the answer), which is
 * what the request duration histograms of /metrics record; "end to end" is
 * a client's wall time for both calls over HTTP on loopback (libmicrohttpd
 * server, libcurl client with a kept-alive connection), which adds the
 * transfer of ~20 KB each way and thread hand-offs.
 */
static void bench_filter(void)
{
	enum { NODES = 1000, SAMPLES = 400, HTTP_SAMPLES = 200 };
	static struct vxpu_ext_model scratch;
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD};
	vxpu_ext_model_init(&scratch, &vendors, &cfg, 1000);
	struct vxpu_kube_config kcfg;
	memset(&kcfg, 0, sizeof(kcfg));
	snprintf(kcfg.server, sizeof(kcfg.server), "http://127.0.0.1:9");
	snprintf(kcfg.ns, sizeof(kcfg.ns), "vxpu-system");
	struct vxpu_kube_client *c = NULL;
	struct vxpu_scheduler *s = NULL;
	char err[512];
	struct vxpu_scheduler_options opt = {.scheduler_name = "vxpu-scheduler", .policy = cfg};
	if (vxpu_kube_client_new(&kcfg, &c, err, sizeof(err)) != 0 ||
	    vxpu_scheduler_new(&vendors, c, &opt, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_sched: %s\n", err);
		exit(1);
	}
	size_t cap = 64 + NODES * 16;
	char *names = malloc(cap);
	size_t len = 0;
	struct vxpu_kube_pod *kp = malloc(sizeof(*kp));
	uint32_t pods = 0;
	for (uint32_t i = 0; i < NODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "gpu-%04u", i);
		add_node(&scratch, name, 8);
		cJSON *node = node_object(&scratch, name);
		vxpu_scheduler_apply(s, "Node", "ADDED", node);
		cJSON_Delete(node);
		len += (size_t)snprintf(names + len, cap - len, "%s\"%s\"", i ? "," : "", name);
		/* About half of the devices partly used. */
		for (uint32_t k = 0; k < 4; k++) {
			uint64_t mib = 4096 * (1 + rnd(12));
			char *text = add_pod(&scratch, kp, name, pods++, mib);
			if (!text)
				continue;
			cJSON *pod = pod_object(kp, name, mib, text);
			vxpu_scheduler_apply(s, "Pod", "ADDED", pod);
			cJSON_Delete(pod);
			vxpu_annotation_free(text);
		}
	}
	struct census census;
	vxpu_scheduler_read(s, count_model, &census);
	const char *pod = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"team-a\",\"uid\":\"u\","
	                  "\"resourceVersion\":\"7\"},"
	                  "\"spec\":{\"containers\":[{\"name\":\"main\",\"resources\":{\"limits\":"
	                  "{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"20k\"}}}]}}";
	size_t blen = strlen(pod) + len + 64;
	char *body = malloc(blen);
	snprintf(body, blen, "{\"Pod\":%s,\"NodeNames\":[%s]}", pod, names);

	/* In process: the handlers themselves. */
	double *server = calloc(SAMPLES, sizeof(double)), *cpu = calloc(SAMPLES, sizeof(double));
	double *fil = calloc(SAMPLES, sizeof(double)), *pri = calloc(SAMPLES, sizeof(double));
	size_t feasible = 0;
	for (int k = 0; k < SAMPLES; k++) {
		double c0 = cpu_us(), w0 = wall_us();
		struct vxpu_scheduler_answer a, b;
		vxpu_scheduler_filter(s, body, strlen(body), &a);
		double w1 = wall_us(), cf = cpu_us();
		/* kube-scheduler's side, not timed: the feasible names. */
		char *list = feasible_of(a.body, &feasible);
		size_t plen = strlen(pod) + strlen(list) + 64;
		char *pbody = malloc(plen);
		snprintf(pbody, plen, "{\"Pod\":%s,\"NodeNames\":%s}", pod, list);
		double c1 = cpu_us(), w2 = wall_us();
		vxpu_scheduler_prioritize(s, pbody, strlen(pbody), &b);
		double w3 = wall_us(), c2 = cpu_us();
		fil[k] = w1 - w0;
		pri[k] = w3 - w2;
		server[k] = fil[k] + pri[k];
		cpu[k] = (cf - c0) + (c2 - c1);
		free(a.body);
		free(b.body);
		free(pbody);
		cJSON_free(list);
	}
	printf("filter+prioritize, 1 pod over %d nodes x 8 GPUs (%zu feasible, %zu pods "
	       "placed):\n",
	       NODES, feasible, census.recorded);
	print_figure("server-side filter", fil, SAMPLES, 0);
	print_figure("server-side prioritize", pri, SAMPLES, 0);
	print_figure("server-side filter+prioritize", server, SAMPLES, 5000);
	print_figure("  of which on this thread's CPU", cpu, SAMPLES, 0);

	/* Over HTTP on loopback. */
	const struct vxpu_http_route routes[] = {
	        {"POST", "/filter", handle_filter, s},
	        {"POST", "/prioritize", handle_prioritize, s},
	};
	struct vxpu_http_config hc = {.name = "bench",
	                              .listen = "127.0.0.1:0",
	                              .routes = routes,
	                              .nroutes = 2,
	                              .threads = 2};
	struct vxpu_http_server *hs = NULL;
	CURL *h = curl_easy_init();
	if (vxpu_http_start(&hc, &hs, err, sizeof(err)) != 0 || !h) {
		printf("  end to end: %s; skipped\n", h ? err : "no libcurl handle");
	} else {
		char fu[128], pu[128];
		snprintf(fu, sizeof(fu), "http://%s/filter", vxpu_http_address(hs));
		snprintf(pu, sizeof(pu), "http://%s/prioritize", vxpu_http_address(hs));
		struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		struct sink k = {0};
		double *e2e = calloc(HTTP_SAMPLES, sizeof(double));
		int done = 0;
		for (int i = 0; i < HTTP_SAMPLES; i++) {
			double w0 = wall_us();
			if (http_post(h, fu, body, &k) != 0)
				break;
			size_t n = 0;
			char *list = feasible_of(k.data, &n);
			size_t plen = strlen(pod) + strlen(list) + 64;
			char *pbody = malloc(plen);
			snprintf(pbody, plen, "{\"Pod\":%s,\"NodeNames\":%s}", pod, list);
			int rc = http_post(h, pu, pbody, &k);
			e2e[i] = wall_us() - w0;
			free(pbody);
			cJSON_free(list);
			if (rc != 0)
				break;
			done++;
		}
		if (done == HTTP_SAMPLES)
			print_figure("end to end over HTTP (both calls)", e2e, HTTP_SAMPLES, 0);
		else
			printf("  end to end: a request failed after %d samples\n", done);
		free(e2e);
		free(k.data);
		curl_slist_free_all(hdr);
	}
	if (h)
		curl_easy_cleanup(h);
	vxpu_http_stop(hs, 1000);
	free(server);
	free(cpu);
	free(fil);
	free(pri);
	free(kp);
	free(body);
	free(names);
	vxpu_scheduler_free(s);
	vxpu_kube_client_free(c);
	vxpu_ext_model_free(&scratch);
}

static void bench_memory(void)
{
	enum { NODES = 5000, PODS = 20000 };
	long before = rss_kib();
	static struct vxpu_ext_model m;
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD};
	vxpu_ext_model_init(&m, &vendors, &cfg, 1000);
	struct vxpu_kube_pod *kp = malloc(sizeof(*kp));
	for (uint32_t i = 0; i < NODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "gpu-%05u", i);
		add_node(&m, name, 8);
	}
	for (uint32_t i = 0; i < PODS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "gpu-%05u", rnd(NODES));
		vxpu_annotation_free(add_pod(&m, kp, name, i, 2048 * (1 + rnd(8))));
	}
	long after = rss_kib();
	double mib = (double)(after - before) / 1024.0;
	printf("model of %d nodes x 8 GPUs and %zu pods: %.1f MiB resident   (target: <= 200 MiB) "
	       "%s\n",
	       NODES, m.npods, mib, mib <= 200 ? "ok" : "MISSED");
	free(kp);
	vxpu_ext_model_free(&m);
}

/* ---- binds against the test API server ------------------------------------ */

enum { BIND_NODES = 100, BIND_PODS = 1000, BIND_THREADS = 8 };

static char pod_uids[BIND_PODS][64];

struct binder {
	struct vxpu_scheduler *s;
	atomic_int next;
	atomic_int ok;
};

static void *bind_main(void *arg)
{
	struct binder *b = arg;
	for (;;) {
		int i = atomic_fetch_add(&b->next, 1);
		if (i >= BIND_PODS)
			return NULL;
		char body[256];
		snprintf(body, sizeof(body),
		         "{\"PodName\":\"p%d\",\"PodNamespace\":\"b\",\"PodUID\":\"%s\",\"Node\":"
		         "\"n%03d\"}",
		         i, pod_uids[i], i % BIND_NODES);
		struct vxpu_scheduler_answer a;
		vxpu_scheduler_bind(b->s, body, strlen(body), &a);
		if (a.body && strcmp(a.body, "{\"Error\":\"\"}") == 0)
			atomic_fetch_add(&b->ok, 1);
		free(a.body);
	}
}

static int post(struct vxpu_kube_client *c, const char *path, const char *body)
{
	long status = 0;
	char err[512];
	vxpu_kube_call_json(c, "POST", path, "application/json", body, NULL, &status, err,
	                    sizeof(err));
	return status == 201 ? 0 : -1;
}

static void bench_binds(void)
{
	struct fake_apiserver f;
	if (access("/usr/bin/python3", X_OK) != 0 ||
	    fake_apiserver_start(&f, FAKE_APISERVER, 300, "--agent") != 0) {
		printf("binds: /usr/bin/python3 or the test API server is missing; skipped\n");
		return;
	}
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "%s", f.url);
	snprintf(cfg.ns, sizeof(cfg.ns), "vxpu-system");
	struct vxpu_kube_client *c = NULL;
	char err[512];
	if (vxpu_kube_client_new(&cfg, &c, err, sizeof(err)) != 0) {
		printf("binds: %s\n", err);
		fake_apiserver_stop(&f);
		return;
	}
	for (int i = 0; i < BIND_NODES; i++) {
		struct vxpu_node *n = malloc(sizeof(*n));
		char name[16], id[32];
		snprintf(name, sizeof(name), "n%03d", i);
		vxpu_node_init(n, name);
		for (uint32_t d = 0; d < 8; d++) {
			struct vxpu_device dev;
			snprintf(id, sizeof(id), "GPU-%s-%u", name, d);
			vxpu_device_init(&dev, d, id, "nvidia", "NVIDIA A100-SXM4-80GB", 81920);
			vxpu_node_add_device(n, &dev, err, sizeof(err));
		}
		char *reg = vxpu_node_registration_encode(n, 1795866469123LL);
		vxpu_node_destroy(n);
		free(n);
		cJSON *doc = cJSON_CreateObject();
		cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
		cJSON_AddStringToObject(meta, "name", name);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
		                        "vxpu.io/node-registration", reg);
		char *body = cJSON_PrintUnformatted(doc);
		post(c, "/api/v1/nodes", body);
		cJSON_free(body);
		cJSON_Delete(doc);
		vxpu_annotation_free(reg);
	}
	for (int i = 0; i < BIND_PODS; i++) {
		char body[512];
		snprintf(body, sizeof(body),
		         "{\"metadata\":{\"name\":\"p%d\",\"namespace\":\"b\"},\"spec\":{"
		         "\"containers\":"
		         "[{\"name\":\"main\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\","
		         "\"nvidia.com/gpumem\":\"8000\"}}}]}}",
		         i);
		post(c, "/api/v1/namespaces/b/pods", body);
	}
	struct vxpu_scheduler_options opt = {.scheduler_name = "vxpu-scheduler",
	                                     .lease_wait_ms = 10000,
	                                     .policy = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD}};
	struct vxpu_scheduler *s = NULL;
	if (vxpu_scheduler_new(&vendors, c, &opt, &s, err, sizeof(err)) != 0 ||
	    vxpu_scheduler_start(s, err, sizeof(err)) != 0) {
		printf("binds: %s\n", err);
	} else {
		for (int i = 0; i < 500 && !vxpu_scheduler_synced(s); i++)
			usleep(10000);
		/* The pods' UIDs were given by the API server: read them back. */
		cJSON *items = NULL;
		char rv[64];
		long status;
		vxpu_kube_list(c, "/api/v1/namespaces/b/pods", NULL, &items, rv, sizeof(rv),
		               &status, err, sizeof(err));
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			const cJSON *meta = cJSON_GetObjectItem(it, "metadata");
			int i = atoi(cJSON_GetObjectItem(meta, "name")->valuestring + 1);
			if (i >= 0 && i < BIND_PODS)
				snprintf(pod_uids[i], sizeof(pod_uids[i]), "%s",
				         cJSON_GetObjectItem(meta, "uid")->valuestring);
		}
		cJSON_Delete(items);
		struct binder b = {.s = s};
		pthread_t th[BIND_THREADS];
		struct vxpu_kube_stats k0;
		vxpu_kube_client_stats(c, &k0);
		double w0 = wall_us();
		for (int i = 0; i < BIND_THREADS; i++)
			pthread_create(&th[i], NULL, bind_main, &b);
		for (int i = 0; i < BIND_THREADS; i++)
			pthread_join(th[i], NULL);
		double secs = (wall_us() - w0) / 1e6;
		double rate = atomic_load(&b.ok) / secs;
		struct vxpu_kube_stats ks;
		vxpu_kube_client_stats(c, &ks);
		printf("binds: %d of %d pods bound over %d nodes in %.2f s from %d threads: %.0f "
		       "binds/s   (target: >= 500/s against the test API server) %s\n",
		       atomic_load(&b.ok), BIND_PODS, BIND_NODES, secs, BIND_THREADS, rate,
		       rate >= 500 ? "ok" : "MISSED");
		printf("  %.1f API requests per bind (%llu retries)\n",
		       (double)(ks.requests - k0.requests) /
		               (atomic_load(&b.ok) ? atomic_load(&b.ok) : 1),
		       (unsigned long long)(ks.retries - k0.retries));
	}
	vxpu_scheduler_free(s);
	vxpu_kube_client_free(c);
	fake_apiserver_stop(&f);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	vxpu_vendor_table_builtin(&vendors);
	/* No argument: everything; else the parts named (filter, memory, binds). */
	bool all = argc < 2, want[3] = {all, all, all};
	static const char *const parts[3] = {"filter", "memory", "binds"};
	for (int i = 1; i < argc; i++) {
		bool known = false;
		for (int k = 0; k < 3; k++)
			if (strcmp(argv[i], parts[k]) == 0)
				want[k] = known = true;
		if (strcmp(argv[i], "--no-binds") == 0) /* the older spelling */
			want[0] = want[1] = known = true;
		if (!known) {
			fprintf(stderr, "usage: bench_sched [filter] [memory] [binds]\n");
			return 2;
		}
	}
	if (want[0])
		bench_filter();
	if (want[1])
		bench_memory();
	if (want[2])
		bench_binds();
	return 0;
}
