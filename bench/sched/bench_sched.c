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
 *      fake_apiserver.py with its stand-in node agent), 400 pods over 100
 *      nodes (target: >= 500 binds/s). The test API server is a single
 *      Python process; its request rate bounds this figure.
 * Clusters are synthetic and seeded, so runs compare.
 */
#include "core/annotation.h"
#include "core/extender.h"
#include "core/extender_model.h"
#include "kube/kubeclient.h"
#include "kube/scheduler.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Reserves a one-device pod of memory_mib on node. */
static void add_pod(struct vxpu_ext_model *m, struct vxpu_kube_pod *kp, const char *node,
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
	if (vxpu_ext_model_reserve(m, kp, node, 1795866469000LL, &text, err, sizeof(err)) == 0)
		vxpu_annotation_free(text);
}

static void bench_filter(void)
{
	enum { NODES = 1000, SAMPLES = 300 };
	static struct vxpu_ext_model m;
	struct vxpu_sched_config cfg = {VXPU_POLICY_BINPACK, VXPU_POLICY_SPREAD};
	vxpu_ext_model_init(&m, &vendors, &cfg, 1000);
	size_t cap = 64 + NODES * 16;
	char *names = malloc(cap);
	size_t len = 0;
	struct vxpu_kube_pod *kp = malloc(sizeof(*kp));
	uint32_t pods = 0;
	for (uint32_t i = 0; i < NODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "gpu-%04u", i);
		add_node(&m, name, 8);
		len += (size_t)snprintf(names + len, cap - len, "%s\"%s\"", i ? "," : "", name);
		/* About half of the devices partly used. */
		for (uint32_t k = 0; k < 4; k++)
			add_pod(&m, kp, name, pods++, 4096 * (1 + rnd(12)));
	}
	const char *pod = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"team-a\",\"uid\":\"u\"},"
	                  "\"spec\":{\"containers\":[{\"name\":\"main\",\"resources\":{\"limits\":"
	                  "{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"20k\"}}}]}}";
	size_t blen = strlen(pod) + len + 64;
	char *body = malloc(blen);
	snprintf(body, blen, "{\"Pod\":%s,\"NodeNames\":[%s]}", pod, names);
	double cpu[SAMPLES], wall[SAMPLES];
	size_t feasible = 0;
	for (int s = 0; s < SAMPLES; s++) {
		double c0 = cpu_us(), w0 = wall_us();
		char err[512];
		struct vxpu_extender_args a;
		if (vxpu_extender_args_parse(body, strlen(body), &vendors, &a, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "bench_sched: %s\n", err);
			exit(1);
		}
		struct vxpu_extender_outcome oc;
		char *f = vxpu_extender_filter(&m, &a, &oc);
		vxpu_extender_args_free(&a);
		vxpu_extender_args_parse(body, strlen(body), &vendors, &a, err, sizeof(err));
		char *p = vxpu_extender_prioritize(&m, &a);
		vxpu_extender_args_free(&a);
		cpu[s] = cpu_us() - c0;
		wall[s] = wall_us() - w0;
		feasible = oc.feasible;
		cJSON_free(f);
		cJSON_free(p);
	}
	double c50 = percentile(cpu, SAMPLES, 0.5), c99 = percentile(cpu, SAMPLES, 0.99);
	double w50 = percentile(wall, SAMPLES, 0.5), w99 = percentile(wall, SAMPLES, 0.99);
	printf("filter+prioritize, 1 pod over %d nodes x 8 GPUs (%zu feasible, %u pods placed):\n",
	       NODES, feasible, pods);
	printf("  cpu  median %.2f ms  p99 %.2f ms\n", c50 / 1000, c99 / 1000);
	printf("  wall median %.2f ms  p99 %.2f ms   (target: p99 <= 5 ms) %s\n", w50 / 1000,
	       w99 / 1000, c99 <= 5000 ? "ok" : "MISSED");
	free(kp);
	free(body);
	free(names);
	vxpu_ext_model_free(&m);
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
		add_pod(&m, kp, name, i, 2048 * (1 + rnd(8)));
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

struct fake {
	pid_t pid;
	int in_fd;
	char url[64];
};

static int fake_start(struct fake *f)
{
	int in[2], out[2];
	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	char *argv[] = {"/usr/bin/python3", FAKE_APISERVER, "--agent", "--lifetime", "300", NULL};
	f->pid = fork();
	if (f->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f->in_fd = in[1];
	FILE *rd = fdopen(out[0], "r");
	char line[64] = "";
	int port = 0;
	if (!fgets(line, sizeof(line), rd) || sscanf(line, "PORT %d", &port) != 1) {
		fclose(rd);
		return -1;
	}
	fclose(rd);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
	return 0;
}

static void fake_stop(struct fake *f)
{
	close(f->in_fd);
	int st;
	for (int i = 0; i < 100 && waitpid(f->pid, &st, WNOHANG) != f->pid; i++)
		usleep(20000);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
}

enum { BIND_NODES = 100, BIND_PODS = 400, BIND_THREADS = 8 };

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
	struct fake f;
	if (access("/usr/bin/python3", X_OK) != 0 || fake_start(&f) != 0) {
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
		fake_stop(&f);
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
	}
	vxpu_scheduler_free(s);
	vxpu_kube_client_free(c);
	fake_stop(&f);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	vxpu_vendor_table_builtin(&vendors);
	bool binds = !(argc > 1 && strcmp(argv[1], "--no-binds") == 0);
	bench_filter();
	bench_memory();
	if (binds)
		bench_binds();
	return 0;
}
