/*
 * The scheduler daemon's logic against the test API server: watches feed
 * the model, filter / prioritize / bind with real Kubernetes JSON, the node
 * allocation lease, rollback when a bind cannot finish, two replicas binding
 * 200 pods across 50 nodes concurrently with injected 5xx, 429 and dropped
 * connections (no device over-allocated), and a restarted scheduler that
 * rebuilds the identical state. The test API server's --agent stands in for
 * the node agent, releasing a node's lease once the pod is bound.
 *
 * The ledger test records pod allocations into a ledger (a temporary SQLite
 * file, or $VXPU_TEST_LEDGER: a file or postgres:// URI that
 * tests/integration/sched_ledger.sh then reads with `vxpu report`), ends
 * them when pods finish or are deleted, and across a restart during which
 * a pod vanished: ended once, nothing duplicated. Built a second time as
 * test_sched_ledger (SCHED_LEDGER_ONLY) to run that test alone.
 */
#include "fake_apiserver_proc.h"
#include "sched_fixtures.h"

#include "core/annotation.h"
#include "kube/kubeclient.h"
#include "kube/scheduler.h"
#include "meter/ledger.h"
#include "meter/report.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_TEST_DIR
#error SCHED_TEST_DIR must name tests/unit/sched
#endif

static char err[1024];

static void fake_start(struct fake_apiserver *f, const char *extra)
{
	assert_int_equal(fake_apiserver_start(f, SCHED_TEST_DIR "/fake_apiserver.py", 120, extra),
	                 0);
}

static struct vxpu_kube_client *client(const struct fake_apiserver *f)
{
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "%s", f->url);
	snprintf(cfg.ns, sizeof(cfg.ns), "vxpu-system");
	cfg.backoff_ms = 5;
	cfg.backoff_max_ms = 40;
	cfg.attempts = 6;
	cfg.watch_timeout_s = 5;
	struct vxpu_kube_client *c = NULL;
	if (vxpu_kube_client_new(&cfg, &c, err, sizeof(err)) < 0)
		fail_msg("client: %s", err);
	return c;
}

static long call(struct vxpu_kube_client *c, const char *method, const char *path,
                 const char *ctype, const char *body, cJSON **doc)
{
	long status = 0;
	vxpu_kube_call_json(c, method, path, ctype, body, doc, &status, err, sizeof(err));
	return status;
}

struct replica {
	struct vxpu_kube_client *c;
	struct vxpu_scheduler *s;
};

static void replica_start_with(struct replica *r, const struct fake_apiserver *f,
                               unsigned lease_wait_ms, const char *ledger)
{
	r->c = client(f);
	struct vxpu_scheduler_options opt = {
	        .scheduler_name = "vxpu-scheduler",
	        .identity = "test",
	        .lease_seconds = 60,
	        .lease_wait_ms = lease_wait_ms,
	        .policy = {VXPU_POLICY_BINPACK, VXPU_POLICY_BINPACK},
	        .webhook = {.exclusive_default = true, .deny_unknown_resources = true},
	        .events = true,
	        .ledger = ledger,
	        .ledger_grace_ms = 1,
	};
	if (vxpu_scheduler_new(sf_vendors(), r->c, &opt, &r->s, err, sizeof(err)) < 0 ||
	    vxpu_scheduler_start(r->s, err, sizeof(err)) < 0)
		fail_msg("scheduler: %s", err);
}

static void replica_start(struct replica *r, const struct fake_apiserver *f, unsigned lease_wait_ms)
{
	replica_start_with(r, f, lease_wait_ms, NULL);
}

static void replica_stop(struct replica *r)
{
	vxpu_scheduler_free(r->s);
	vxpu_kube_client_free(r->c);
}

struct census {
	size_t nodes, registered, pods;
};

static void count_model(const struct vxpu_ext_model *m, void *ctx)
{
	struct census *c = ctx;
	c->nodes = m->nnodes;
	c->registered = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		c->registered += m->nodes[i]->registered;
	c->pods = m->npods;
}

static bool wait_for(struct replica *r, size_t registered, size_t pods)
{
	for (int i = 0; i < 1000; i++) {
		struct census c;
		vxpu_scheduler_read(r->s, count_model, &c);
		if (vxpu_scheduler_synced(r->s) && c.registered == registered &&
		    (pods == (size_t)-1 || c.pods == pods))
			return true;
		usleep(10000);
	}
	return false;
}

/* Usage per device and quota use, as one text. */
static void print_model(const struct vxpu_ext_model *m, void *ctx)
{
	char **out = ctx;
	char *s = sf_format("%s", "");
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct vxpu_node *n = &m->nodes[i]->node;
		for (uint32_t d = 0; d < n->ndevices; d++) {
			char *next = sf_format("%s%s/%u:%llu,%u,%u;", s, n->name, d,
			                       (unsigned long long)n->usage[d].memory_mib,
			                       n->usage[d].compute_units, n->usage[d].slices);
			free(s);
			s = next;
		}
	}
	for (size_t i = 0; i < m->quota.count; i++) {
		const struct vxpu_quota_entry *e = &m->quota.entries[i];
		char *next = sf_format("%sq:%s/%s:%llu,%llu;", s, e->ns, e->project,
		                       (unsigned long long)e->used.memory_mib,
		                       (unsigned long long)e->used.devices);
		free(s);
		s = next;
	}
	*out = s;
}

static char *fingerprint(struct replica *r)
{
	char *s = NULL;
	vxpu_scheduler_read(r->s, print_model, &s);
	return s;
}

static void create_nodes(struct vxpu_kube_client *c, int n, uint32_t ndev, uint64_t mib)
{
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "node-%02d", i);
		char *node = sf_node_json(name, ndev, "Tesla T4", mib);
		assert_int_equal(call(c, "POST", "/api/v1/nodes", "application/json", node, NULL),
		                 201);
		free(node);
	}
}

static void create_pod(struct vxpu_kube_client *c, const char *name, const char *resources)
{
	char *pod = sf_pod_json("team-a", name, "", NULL, resources, NULL);
	/* The API server gives the uid; the fixture's empty one is dropped. */
	cJSON *doc = cJSON_Parse(pod);
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(doc, "metadata"), "uid");
	cJSON_DeleteItemFromObject(doc, "status");
	char *body = cJSON_PrintUnformatted(doc);
	assert_int_equal(
	        call(c, "POST", "/api/v1/namespaces/team-a/pods", "application/json", body, NULL),
	        201);
	cJSON_free(body);
	cJSON_Delete(doc);
	free(pod);
}

/* What kube-scheduler does for one pod: filter, prioritize, bind the best. */
static int schedule_one(struct replica *r, const char *name, int nnodes, char *why, size_t whylen)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/namespaces/team-a/pods/%s", name);
	cJSON *pod = NULL;
	if (call(r->c, "GET", path, NULL, NULL, &pod) != 200)
		return snprintf(why, whylen, "get: %.900s", err), -1;
	char *podtext = cJSON_PrintUnformatted(pod);
	const char *uid =
	        cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "uid")->valuestring;
	char *names = sf_format("%s", "");
	for (int i = 0; i < nnodes; i++) {
		char *next = sf_format("%s%s\"node-%02d\"", names, i ? "," : "", i);
		free(names);
		names = next;
	}
	char *args = sf_format("{\"Pod\":%s,\"NodeNames\":[%s]}", podtext, names);
	struct vxpu_scheduler_answer a;
	vxpu_scheduler_filter(r->s, args, strlen(args), &a);
	assert_int_equal(a.status, 200);
	cJSON *res = cJSON_Parse(a.body);
	free(a.body);
	cJSON *feasible = cJSON_GetObjectItem(res, "NodeNames");
	int rc = -1;
	if (cJSON_GetArraySize(feasible) == 0) {
		snprintf(why, whylen, "no node fits");
		goto out;
	}
	char *feasible_text = cJSON_PrintUnformatted(feasible);
	char *fargs = sf_format("{\"Pod\":%s,\"NodeNames\":%s}", podtext, feasible_text);
	cJSON_free(feasible_text);
	vxpu_scheduler_prioritize(r->s, fargs, strlen(fargs), &a);
	assert_int_equal(a.status, 200);
	cJSON *scores = cJSON_Parse(a.body);
	free(a.body);
	free(fargs);
	const cJSON *best = NULL, *hp;
	cJSON_ArrayForEach(hp, scores)
	{
		if (!best || cJSON_GetObjectItem(hp, "Score")->valueint >
		                     cJSON_GetObjectItem(best, "Score")->valueint)
			best = hp;
	}
	char *bargs = sf_format("{\"PodName\":\"%s\",\"PodNamespace\":\"team-a\",\"PodUID\":\"%s\","
	                        "\"Node\":\"%s\"}",
	                        name, uid, cJSON_GetObjectItem(best, "Host")->valuestring);
	vxpu_scheduler_bind(r->s, bargs, strlen(bargs), &a);
	assert_int_equal(a.status, 200);
	cJSON *br = cJSON_Parse(a.body);
	free(a.body);
	const char *e = cJSON_GetObjectItem(br, "Error")->valuestring;
	if (e[0])
		snprintf(why, whylen, "%s", e);
	else
		rc = 0;
	cJSON_Delete(br);
	cJSON_Delete(scores);
	free(bargs);
out:
	cJSON_Delete(res);
	free(args);
	free(names);
	cJSON_free(podtext);
	cJSON_Delete(pod);
	return rc;
}

static void bind_writes_annotation_lease_and_binding(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, "--agent");
	struct vxpu_kube_client *admin = client(&f);
	create_nodes(admin, 2, 2, 15360);
	create_pod(admin, "p0",
	           "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"6000\"}}");
	create_pod(admin, "web", "{\"limits\":{\"cpu\":\"1\"}}");
	struct replica r;
	replica_start(&r, &f, 2000);
	assert_true(wait_for(&r, 2, 0));
	char why[1024];
	if (schedule_one(&r, "p0", 2, why, sizeof(why)) < 0)
		fail_msg("bind: %s", why);
	cJSON *pod = NULL;
	assert_int_equal(call(admin, "GET", "/api/v1/namespaces/team-a/pods/p0", NULL, NULL, &pod),
	                 200);
	const char *node =
	        cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "nodeName")->valuestring;
	assert_string_equal(node, "node-00"); /* binpack, ties to the smaller name */
	const char *alloc = vxpu_kube_annotation(pod, "vxpu.io/allocation");
	assert_non_null(alloc);
	struct vxpu_pod_allocation *pa = malloc(sizeof(*pa));
	if (vxpu_allocation_decode(alloc, pa, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(pa->node, "node-00");
	assert_int_equal(pa->devices[0].memory_mib, 6000);
	free(pa);
	assert_string_equal(vxpu_kube_annotation(pod, "vxpu.io/bind-phase"), "success");
	cJSON_Delete(pod);
	/* The lease names the pod that last held it; the agent released it. */
	cJSON *lease = NULL;
	assert_int_equal(call(admin, "GET",
	                      "/apis/coordination.k8s.io/v1/namespaces/vxpu-system/leases/"
	                      "vxpu-node-node-00",
	                      NULL, NULL, &lease),
	                 200);
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(lease, "spec"), "holderIdentity")
	                ->valuestring,
	        "");
	assert_string_equal(vxpu_kube_annotation(lease, "vxpu.io/pod"), "team-a/p0");
	cJSON_Delete(lease);
	/* A pod without devices is bound as asked. */
	if (schedule_one(&r, "web", 2, why, sizeof(why)) < 0)
		fail_msg("bind web: %s", why);
	/* The watch brings the bound pod into the model; Events were posted. */
	assert_true(wait_for(&r, 2, 1));
	size_t len = 0;
	char *metrics = vxpu_scheduler_metrics(r.s, &len);
	assert_non_null(strstr(metrics,
	                       "vxpu_scheduler_requests_total{outcome=\"bound\",verb=\"bind\"} 2"));
	assert_non_null(strstr(metrics,
	                       "vxpu_scheduler_request_duration_seconds_count{verb=\"filter\"} 2"));
	/* 6000 MiB in bytes, however the writer spells the number. */
	const char *series =
	        "vxpu_scheduler_device_memory_allocated_bytes{device=\"GPU-node-00-0\","
	        "index=\"0\",model=\"Tesla T4\",node=\"node-00\"} ";
	const char *at = strstr(metrics, series);
	assert_non_null(at);
	assert_true(strtod(at + strlen(series), NULL) == 6000.0 * 1048576.0);
	assert_non_null(strstr(metrics, "vxpu_scheduler_cache_synced 1"));
	free(metrics);
	cJSON *events = NULL;
	for (int i = 0; i < 100; i++) {
		cJSON_Delete(events);
		events = NULL;
		call(admin, "GET", "/api/v1/namespaces/team-a/events", NULL, NULL, &events);
		if (cJSON_GetArraySize(cJSON_GetObjectItem(events, "items")) >= 1)
			break;
		usleep(20000);
	}
	const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(events, "items"), 0);
	assert_string_equal(cJSON_GetObjectItem(ev, "reason")->valuestring, "Allocated");
	cJSON_Delete(events);
	replica_stop(&r);
	vxpu_kube_client_free(admin);
	fake_apiserver_stop(&f);
}

static void busy_lease_fails_and_rolls_back(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, NULL); /* no node agent: leases stay held */
	struct vxpu_kube_client *admin = client(&f);
	create_nodes(admin, 1, 2, 15360);
	const char *res = "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"6000\"}}";
	create_pod(admin, "first", res);
	create_pod(admin, "second", res);
	struct replica r;
	replica_start(&r, &f, 300);
	assert_true(wait_for(&r, 1, 0));
	char why[1024];
	if (schedule_one(&r, "first", 1, why, sizeof(why)) < 0)
		fail_msg("bind: %s", why);
	char *before = fingerprint(&r);
	/* The first pod still holds the node's lease: the second waits, then fails. */
	assert_int_equal(schedule_one(&r, "second", 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "node \"node-00\" is busy"));
	assert_non_null(strstr(why, "team-a/first"));
	char *after = fingerprint(&r);
	assert_string_equal(before, after); /* nothing reserved for the second */
	cJSON *pod = NULL;
	call(admin, "GET", "/api/v1/namespaces/team-a/pods/second", NULL, NULL, &pod);
	assert_null(vxpu_kube_annotation(pod, "vxpu.io/allocation"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "nodeName"));
	cJSON_Delete(pod);
	/* The holder pod is deleted: its lease is taken over at once. */
	assert_int_equal(
	        call(admin, "DELETE", "/api/v1/namespaces/team-a/pods/first", NULL, NULL, NULL),
	        200);
	if (schedule_one(&r, "second", 1, why, sizeof(why)) < 0)
		fail_msg("bind after takeover: %s", why);
	/* A failed Binding rolls back: annotation removed, reservation gone, lease given back. */
	create_pod(admin, "third", res);
	assert_int_equal(
	        call(admin, "DELETE", "/api/v1/namespaces/team-a/pods/second", NULL, NULL, NULL),
	        200);
	assert_true(wait_for(&r, 1, 0));
	free(before);
	before = fingerprint(&r);
	struct vxpu_kube_response resp;
	assert_int_equal(vxpu_kube_request(admin, "POST", "/__faults", "application/json",
	                                   "{\"status\":403,\"count\":1,\"match\":\"binding\"}",
	                                   &resp, err, sizeof(err)),
	                 0);
	vxpu_kube_response_free(&resp);
	assert_int_equal(schedule_one(&r, "third", 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "403"));
	free(after);
	after = fingerprint(&r);
	assert_string_equal(before, after);
	call(admin, "GET", "/api/v1/namespaces/team-a/pods/third", NULL, NULL, &pod);
	assert_null(vxpu_kube_annotation(pod, "vxpu.io/allocation"));
	cJSON_Delete(pod);
	cJSON *lease = NULL;
	call(admin, "GET",
	     "/apis/coordination.k8s.io/v1/namespaces/vxpu-system/leases/vxpu-node-node-00", NULL,
	     NULL, &lease);
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(lease, "spec"), "holderIdentity")
	                ->valuestring,
	        "");
	cJSON_Delete(lease);
	/* And the retry succeeds. */
	if (schedule_one(&r, "third", 1, why, sizeof(why)) < 0)
		fail_msg("retry: %s", why);
	free(before);
	free(after);
	replica_stop(&r);
	vxpu_kube_client_free(admin);
	fake_apiserver_stop(&f);
}

#define NODES 50
#define PODS 200

struct race {
	struct replica *replicas;
	atomic_int next;
	atomic_int bound;
	atomic_int attempts;
};

static void *race_worker(void *arg)
{
	struct race *race = arg;
	char why[1024];
	for (;;) {
		int i = atomic_fetch_add(&race->next, 1);
		if (i >= PODS)
			return NULL;
		char name[32];
		snprintf(name, sizeof(name), "job-%03d", i);
		/* kube-scheduler retries a pod whose bind failed; alternate replicas. */
		for (int attempt = 0; attempt < 40; attempt++) {
			atomic_fetch_add(&race->attempts, 1);
			if (schedule_one(&race->replicas[(i + attempt) % 2], name, NODES, why,
			                 sizeof(why)) == 0) {
				atomic_fetch_add(&race->bound, 1);
				break;
			}
			usleep(5000);
		}
	}
}

static void two_replicas_never_over_allocate(void **state)
{
	(void)state;
	struct fake_apiserver f;
	fake_start(&f, "--agent");
	struct vxpu_kube_client *admin = client(&f);
	/* 2 × 15360 MiB per node, 6000 MiB per pod: 2 pods per device, 200 in all. */
	create_nodes(admin, NODES, 2, 15360);
	for (int i = 0; i < PODS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "job-%03d", i);
		create_pod(
		        admin, name,
		        "{\"limits\":{\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpumem\":\"6000\"}}");
	}
	struct replica reps[2];
	replica_start(&reps[0], &f, 3000);
	replica_start(&reps[1], &f, 3000);
	assert_true(wait_for(&reps[0], NODES, 0));
	assert_true(wait_for(&reps[1], NODES, 0));
	/* Faults on the way: 5xx, 429 and dropped connections, spread over the run. */
	static const char *const faults[] = {
	        "{\"status\":500,\"count\":15,\"match\":\"PATCH\"}",
	        "{\"status\":429,\"count\":15,\"match\":\"/binding\"}",
	        "{\"drop\":true,\"count\":10,\"match\":\"GET /api/v1/namespaces/team-a/pods/\"}",
	        "{\"status\":503,\"count\":10,\"match\":\"/leases/\"}",
	        "{\"status\":500,\"count\":3,\"match\":\"watch=1\"}",
	};
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct vxpu_kube_response resp;
		assert_int_equal(vxpu_kube_request(admin, "POST", "/__faults", "application/json",
		                                   faults[i], &resp, err, sizeof(err)),
		                 0);
		vxpu_kube_response_free(&resp);
	}
	struct race race = {.replicas = reps};
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, race_worker, &race);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&race.bound), PODS);

	/* Ground truth from the API server: no device holds more than it has. */
	cJSON *list = NULL;
	char rv[64];
	long status;
	assert_int_equal(vxpu_kube_list(admin, "/api/v1/pods", NULL, &list, rv, sizeof(rv), &status,
	                                err, sizeof(err)),
	                 0);
	uint64_t used[NODES][2] = {{0}};
	int seen = 0;
	const cJSON *it;
	struct vxpu_pod_allocation *pa = malloc(sizeof(*pa));
	cJSON_ArrayForEach(it, list)
	{
		const char *text = vxpu_kube_annotation(it, "vxpu.io/allocation");
		const char *node = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "spec"), "nodeName")
		                           ->valuestring;
		assert_non_null(text);
		if (vxpu_allocation_decode(text, pa, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		assert_string_equal(pa->node, node);
		int n = atoi(node + 5);
		used[n][pa->devices[0].index] += pa->devices[0].memory_mib;
		seen++;
	}
	free(pa);
	cJSON_Delete(list);
	assert_int_equal(seen, PODS);
	for (int n = 0; n < NODES; n++)
		for (int d = 0; d < 2; d++)
			if (used[n][d] > 15360)
				fail_msg("node-%02d device %d over-allocated: %llu MiB", n, d,
				         (unsigned long long)used[n][d]);

	/* Both replicas converge, and a restarted scheduler rebuilds the same state. */
	assert_true(wait_for(&reps[0], NODES, PODS));
	assert_true(wait_for(&reps[1], NODES, PODS));
	struct replica fresh;
	replica_start(&fresh, &f, 1000);
	assert_true(wait_for(&fresh, NODES, PODS));
	char *a = fingerprint(&reps[0]), *b = fingerprint(&reps[1]), *c = fingerprint(&fresh);
	assert_string_equal(a, c);
	assert_string_equal(b, c);
	free(a);
	free(b);
	free(c);
	print_message("  %d bind attempts for %d pods\n", atomic_load(&race.attempts), PODS);
	replica_stop(&fresh);
	replica_stop(&reps[0]);
	replica_stop(&reps[1]);
	vxpu_kube_client_free(admin);
	fake_apiserver_stop(&f);
}

/* ---- the ledger ---------------------------------------------------------- */

/* A pod with labels (project, user; NULL = none), its uid into uid. */
static void create_pod_labelled(struct vxpu_kube_client *c, const char *name, const char *project,
                                const char *user, char *uid, size_t cap)
{
	char *pod = sf_pod_json("team-a", name, "", NULL,
	                        "{\"limits\":{\"nvidia.com/gpu\":\"1\","
	                        "\"nvidia.com/gpumem\":\"4000\"}}",
	                        NULL);
	cJSON *doc = cJSON_Parse(pod);
	cJSON *meta = cJSON_GetObjectItem(doc, "metadata");
	cJSON_DeleteItemFromObject(meta, "uid");
	cJSON_DeleteItemFromObject(doc, "status");
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
	if (project)
		cJSON_AddStringToObject(labels, "vxpu.io/project", project);
	if (user)
		cJSON_AddStringToObject(labels, "vxpu.io/user", user);
	char *body = cJSON_PrintUnformatted(doc);
	cJSON *made = NULL;
	assert_int_equal(
	        call(c, "POST", "/api/v1/namespaces/team-a/pods", "application/json", body, &made),
	        201);
	snprintf(uid, cap, "%s",
	         cJSON_GetObjectItem(cJSON_GetObjectItem(made, "metadata"), "uid")->valuestring);
	cJSON_Delete(made);
	cJSON_free(body);
	cJSON_Delete(doc);
	free(pod);
}

#define LEDGER_PODS 4

struct ledger_rows {
	const char (*uids)[VXPU_UID_MAX];
	int rows[LEDGER_PODS];    /* intervals per pod */
	int running[LEDGER_PODS]; /* of which still running */
	struct vxpu_ledger_interval first[LEDGER_PODS];
	char project[LEDGER_PODS][64], user[LEDGER_PODS][64], tenant[LEDGER_PODS][64];
	char node[LEDGER_PODS][64], command[LEDGER_PODS][128];
};

static int count_row(const struct vxpu_ledger_interval *iv, void *ctx)
{
	struct ledger_rows *r = ctx;
	for (int i = 0; i < LEDGER_PODS; i++) {
		if (strcmp(iv->allocation_id, r->uids[i]) != 0)
			continue;
		if (r->rows[i]++ == 0) {
			r->first[i] = *iv;
			snprintf(r->project[i], sizeof(r->project[i]), "%s", iv->project);
			snprintf(r->user[i], sizeof(r->user[i]), "%s", iv->user);
			snprintf(r->tenant[i], sizeof(r->tenant[i]), "%s", iv->tenant);
			snprintf(r->node[i], sizeof(r->node[i]), "%s", iv->node);
			snprintf(r->command[i], sizeof(r->command[i]), "%s", iv->command);
		}
		r->running[i] += !iv->ended;
	}
	return 0;
}

static void read_rows(const char *path, const char (*uids)[VXPU_UID_MAX], struct ledger_rows *out)
{
	memset(out, 0, sizeof(*out));
	out->uids = uids;
	struct vxpu_ledger *l = NULL;
	if (vxpu_ledger_open(path, VXPU_LEDGER_OPEN_EXISTING, &l, err, sizeof(err)) !=
	    VXPU_LEDGER_OK)
		fail_msg("ledger: %s", err);
	if (vxpu_ledger_each_interval(l, 0, INT64_MAX, count_row, out, err, sizeof(err)) != 0)
		fail_msg("ledger: %s", err);
	vxpu_ledger_close(l);
}

/* Waits until each pod has one row, running as want_running says. */
static bool wait_rows(const char *path, const char (*uids)[VXPU_UID_MAX],
                      const int want_running[LEDGER_PODS], struct ledger_rows *rows)
{
	for (int attempt = 0; attempt < 500; attempt++) {
		read_rows(path, uids, rows);
		bool ok = true;
		for (int i = 0; i < LEDGER_PODS; i++)
			ok = ok && rows->rows[i] == 1 && rows->running[i] == want_running[i];
		if (ok)
			return true;
		usleep(20000);
	}
	return false;
}

static void ledger_records_intervals_across_restart(void **state)
{
	(void)state;
	const char *env = getenv("VXPU_TEST_LEDGER");
	char dir[] = "/tmp/vxpu-sched-ledger-XXXXXX", file[128];
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/vxpu.db", dir);
	const char *path = env && env[0] ? env : file;

	struct fake_apiserver f;
	fake_start(&f, "--agent");
	struct vxpu_kube_client *admin = client(&f);
	create_nodes(admin, 2, 2, 15360);
	char uids[LEDGER_PODS][VXPU_UID_MAX];
	create_pod_labelled(admin, "l0", "vision", "alice", uids[0], VXPU_UID_MAX);
	create_pod_labelled(admin, "l1", "vision", "bob", uids[1], VXPU_UID_MAX);
	create_pod_labelled(admin, "l2", NULL, NULL, uids[2], VXPU_UID_MAX);
	create_pod_labelled(admin, "l3", "speech", "alice", uids[3], VXPU_UID_MAX);
	struct replica r;
	replica_start_with(&r, &f, 2000, path);
	assert_true(wait_for(&r, 2, 0));
	char why[1024];
	for (int i = 0; i < LEDGER_PODS; i++) {
		char name[8];
		snprintf(name, sizeof(name), "l%d", i);
		if (schedule_one(&r, name, 2, why, sizeof(why)) < 0)
			fail_msg("bind %s: %s", name, why);
	}
	assert_true(wait_for(&r, 2, LEDGER_PODS));
	struct ledger_rows rows;
	const int all_running[LEDGER_PODS] = {1, 1, 1, 1};
	if (!wait_rows(path, (const char(*)[VXPU_UID_MAX])uids, all_running, &rows))
		fail_msg("the four allocations were not all recorded once");
	/* What the annotation says, who holds it. */
	assert_string_equal(rows.tenant[0], "team-a");
	assert_string_equal(rows.project[0], "vision");
	assert_string_equal(rows.user[0], "alice");
	assert_string_equal(rows.project[2], "default");
	assert_string_equal(rows.user[2], "unknown");
	assert_string_equal(rows.command[1], "pod team-a/l1");
	assert_int_equal(rows.first[0].memory_mib, 4000);
	assert_int_equal(rows.first[0].device_memory_mib, 15360);
	assert_string_equal(rows.node[0], "node-00"); /* binpack */
	assert_true(rows.first[0].start_ms > 0);

	/* l1 is deleted, l2 finishes: both end, the others run on. */
	assert_int_equal(
	        call(admin, "DELETE", "/api/v1/namespaces/team-a/pods/l1", NULL, NULL, NULL), 200);
	assert_int_equal(call(admin, "PATCH", "/api/v1/namespaces/team-a/pods/l2",
	                      "application/merge-patch+json",
	                      "{\"status\":{\"phase\":\"Succeeded\"}}", NULL),
	                 200);
	const int after_end[LEDGER_PODS] = {1, 0, 0, 1};
	if (!wait_rows(path, (const char(*)[VXPU_UID_MAX])uids, after_end, &rows))
		fail_msg("l1 and l2 were not ended (rows %d %d, running %d %d)", rows.rows[1],
		         rows.rows[2], rows.running[1], rows.running[2]);

	/* The scheduler stops; l3 goes while nobody watches; a new one starts
	 * on the same ledger: l3 ends, l0 keeps its one running interval. */
	replica_stop(&r);
	assert_int_equal(
	        call(admin, "DELETE", "/api/v1/namespaces/team-a/pods/l3", NULL, NULL, NULL), 200);
	struct replica again;
	replica_start_with(&again, &f, 2000, path);
	assert_true(wait_for(&again, 2, 1)); /* l0 only */
	const int after_restart[LEDGER_PODS] = {1, 0, 0, 0};
	if (!wait_rows(path, (const char(*)[VXPU_UID_MAX])uids, after_restart, &rows))
		fail_msg("after the restart: l3 running %d, rows %d/%d/%d/%d", rows.running[3],
		         rows.rows[0], rows.rows[1], rows.rows[2], rows.rows[3]);
	size_t len = 0;
	char *metrics = vxpu_scheduler_metrics(again.s, &len);
	assert_non_null(strstr(metrics, "vxpu_scheduler_ledger_intervals_ended_total 1"));
	free(metrics);
	replica_stop(&again);
	/* Ended intervals keep their ends: nothing was written twice. */
	read_rows(path, (const char(*)[VXPU_UID_MAX])uids, &rows);
	for (int i = 0; i < LEDGER_PODS; i++)
		assert_int_equal(rows.rows[i], 1);
	assert_true(rows.first[1].ended && rows.first[1].end_ms >= rows.first[1].start_ms);

	/* The report groups them by project. */
	struct vxpu_ledger *l = NULL;
	assert_int_equal(vxpu_ledger_open(path, VXPU_LEDGER_OPEN_EXISTING, &l, err, sizeof(err)),
	                 VXPU_LEDGER_OK);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 1;
	struct vxpu_report_options o = {
	        .by = VXPU_REPORT_BY_PROJECT, .since_ms = 0, .until_ms = now_ms, .now_ms = now_ms};
	struct vxpu_report *rep = NULL;
	if (vxpu_report_build(l, &o, &rep, err, sizeof(err)) != 0)
		fail_msg("report: %s", err);
	char *csv = vxpu_report_render(rep, VXPU_REPORT_CSV);
	assert_non_null(strstr(csv, "team-a,vision"));
	assert_non_null(strstr(csv, "team-a,speech"));
	assert_non_null(strstr(csv, "team-a,default"));
	free(csv);
	vxpu_report_free(rep);
	vxpu_ledger_close(l);

	vxpu_kube_client_free(admin);
	fake_apiserver_stop(&f);
	unlink(file);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", file);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", file);
	unlink(wal);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bind_writes_annotation_lease_and_binding),
	        cmocka_unit_test(busy_lease_fails_and_rolls_back),
	        cmocka_unit_test(two_replicas_never_over_allocate),
	        cmocka_unit_test(ledger_records_intervals_across_restart), /* keep last */
	};
	size_t count = sizeof(tests) / sizeof(tests[0]);
#ifdef SCHED_LEDGER_ONLY
	return _cmocka_run_group_tests("ledger", tests + count - 1, 1, NULL, NULL);
#else
	return _cmocka_run_group_tests("scheduler", tests, count, NULL, NULL);
#endif
}
