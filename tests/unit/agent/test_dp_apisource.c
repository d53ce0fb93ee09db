/* Allocate's pod from the API server (kube/deviceplugin_apisource.h),
 * against the test API server (tests/unit/sched/fake_apiserver.py, run with
 * /usr/bin/python3 on 127.0.0.1): the Lease holder's container answered,
 * the Lease released and the bind phase written once the pod is consumed
 * (again after a 409), a retry answered after the release, refusals that
 * free the node (no annotation, another node's allocation), refusals that
 * change nothing (a replaced pod, an unreachable API server), and pods read
 * from the cache instead of the API server. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "kube/deviceplugin_apisource.h"

#ifndef SCHED_TEST_DIR
#error SCHED_TEST_DIR must name tests/unit/sched
#endif

#define LEASE "/apis/coordination.k8s.io/v1/namespaces/vxpu-system/leases/vxpu-node-n1"

static char err[1024];
static pid_t fake_pid;
static int fake_in;
static struct vxpu_kube_client *client;
static struct vxpu_dp_apisource *source;
static struct vxpu_pod_allocation alloc;

static int setup(void **state)
{
	(void)state;
	int in[2], out[2];
	if (pipe(in) != 0 || pipe(out) != 0)
		return -1;
	fake_pid = fork();
	if (fake_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/usr/bin/python3", "/usr/bin/python3", SCHED_TEST_DIR "/fake_apiserver.py",
		      "--lifetime", "60", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fake_in = in[1];
	FILE *rd = fdopen(out[0], "r");
	char line[64] = "";
	int port = 0;
	if (!fgets(line, sizeof(line), rd) || sscanf(line, "PORT %d", &port) != 1)
		return -1;
	fclose(rd);
	struct vxpu_kube_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.server, sizeof(cfg.server), "http://127.0.0.1:%d", port);
	snprintf(cfg.ns, sizeof(cfg.ns), "vxpu-system");
	cfg.token = strdup("t");
	cfg.backoff_ms = 5;
	cfg.backoff_max_ms = 20;
	cfg.attempts = 3;
	cfg.timeout_ms = 5000;
	int rc = vxpu_kube_client_new(&cfg, &client, err, sizeof(err));
	vxpu_kube_config_free(&cfg);
	if (rc != 0)
		return -1;
	/* The lease namespace defaults to the client's. */
	return vxpu_dp_apisource_new(&source, client, "n1", NULL, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	vxpu_dp_apisource_free(source);
	vxpu_kube_client_free(client);
	close(fake_in); /* the server exits when its stdin closes */
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(fake_pid, &st, WNOHANG) == fake_pid)
			return 0;
		usleep(20000);
	}
	kill(fake_pid, SIGKILL);
	waitpid(fake_pid, &st, 0);
	return 0;
}

static long call(const char *method, const char *path, const char *ctype, const char *body,
                 cJSON **doc)
{
	long status = 0;
	err[0] = '\0';
	vxpu_kube_call_json(client, method, path, ctype, body, doc, &status, err, sizeof(err));
	return status;
}

static void control(const char *path, const char *body)
{
	assert_int_equal(call("POST", path, "application/json", body, NULL), 200);
}

#define DEV(id, idx)                                                                               \
	"{\"id\":\"" id "\",\"index\":" #idx ",\"vendor\":\"nvidia\",\"model\":\"A100\","          \
	"\"memoryMiB\":1024,\"computeUnits\":0,\"computePercent\":0,\"template\":\"\","            \
	"\"exclusive\":false}"

static char *allocation_text(const char *pod, const char *node, const char *containers)
{
	static char text[4096];
	snprintf(text, sizeof(text),
	         "{\"version\":1,\"node\":\"%s\",\"namespace\":\"ns\",\"pod\":\"%s\",\"project\":"
	         "\"\",\"allocatedAt\":\"2026-11-28T11:47:49.000Z\",\"nodePolicy\":\"binpack\","
	         "\"devicePolicy\":\"binpack\",\"cpuMilli\":0,\"memoryMiB\":0,\"containers\":[%s]}",
	         node, pod, containers);
	return text;
}

/* Creates pod ns/name (annotation text, or none) and returns its uid. */
static void create_pod(const char *name, const char *text, char *uid, size_t cap)
{
	cJSON *pod = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	if (text)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
		                        "vxpu.io/allocation", text);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(pod, "spec"), "nodeName", "n1");
	char *body = cJSON_PrintUnformatted(pod);
	cJSON_Delete(pod);
	cJSON *doc = NULL;
	assert_int_equal(call("POST", "/api/v1/namespaces/ns/pods", "application/json", body, &doc),
	                 201);
	free(body);
	snprintf(uid, cap, "%s",
	         cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "uid")->valuestring);
	cJSON_Delete(doc);
}

/* Points the node's Lease at pod ns/name with uid (holder as given). */
static void hold_lease(const char *name, const char *uid)
{
	cJSON *cur = NULL;
	long st = call("GET", LEASE, NULL, NULL, &cur);
	cJSON *lease = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(lease, "metadata");
	cJSON_AddStringToObject(meta, "name", "vxpu-node-n1");
	if (st == 200)
		cJSON_AddStringToObject(
		        meta, "resourceVersion",
		        cJSON_GetObjectItem(cJSON_GetObjectItem(cur, "metadata"), "resourceVersion")
		                ->valuestring);
	cJSON_Delete(cur);
	char pod[128];
	snprintf(pod, sizeof(pod), "ns/%s", name);
	cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
	cJSON_AddStringToObject(ann, "vxpu.io/pod", pod);
	cJSON_AddStringToObject(ann, "vxpu.io/pod-uid", uid);
	cJSON *spec = cJSON_AddObjectToObject(lease, "spec");
	cJSON_AddStringToObject(spec, "holderIdentity", uid);
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds", 60);
	char *body = cJSON_PrintUnformatted(lease);
	cJSON_Delete(lease);
	if (st == 200)
		assert_int_equal(call("PUT", LEASE, "application/json", body, NULL), 200);
	else
		assert_int_equal(call("POST",
		                      "/apis/coordination.k8s.io/v1/namespaces/vxpu-system/leases",
		                      "application/json", body, NULL),
		                 201);
	free(body);
}

static char holder[128], phase[32];

/* The Lease's holder and pod name's bind phase, after pending writes. */
static void observe(const char *name)
{
	vxpu_dp_apisource_flush(source);
	cJSON *doc = NULL;
	assert_int_equal(call("GET", LEASE, NULL, NULL, &doc), 200);
	snprintf(holder, sizeof(holder), "%s",
	         cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "spec"), "holderIdentity")
	                 ->valuestring);
	cJSON_Delete(doc);
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/namespaces/ns/pods/%s", name);
	assert_int_equal(call("GET", path, NULL, NULL, &doc), 200);
	cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "annotations");
	cJSON *ph = cJSON_GetObjectItem(ann, "vxpu.io/bind-phase");
	snprintf(phase, sizeof(phase), "%s", cJSON_IsString(ph) ? ph->valuestring : "");
	cJSON_Delete(doc);
}

static int lookup(const char *id, unsigned *c)
{
	struct vxpu_dp_apisource_view view = {.source = source};
	const char *ids[1] = {id};
	err[0] = '\0';
	return vxpu_dp_apisource_lookup(&view, ids, 1, &alloc, c, err, sizeof(err));
}

static void test_consumed_and_released(void **state)
{
	(void)state;
	char uid[64];
	assert_string_equal(vxpu_dp_apisource_lease(source), "vxpu-system/vxpu-node-n1");
	unsigned c = 99;
	assert_int_equal(lookup("G0::0", &c), -1);
	assert_string_equal(err,
	                    "no pod holds this node's allocation lease vxpu-system/vxpu-node-n1");
	create_pod(
	        "two",
	        allocation_text("two", "n1",
	                        "{\"name\":\"a\",\"kind\":\"app\",\"priority\":0,"
	                        "\"devices\":[" DEV(
	                                "G0", 0) "]},"
	                                         "{\"name\":\"b\",\"kind\":\"app\",\"priority\":1,"
	                                         "\"devices\":[" DEV("G1", 1) "]}"),
	        uid, sizeof(uid));
	hold_lease("two", uid);
	assert_int_equal(lookup("G0::0", &c), 0);
	assert_string_equal(alloc.containers[c].name, "a");
	observe("two");
	assert_string_equal(holder, uid); /* one container left: still held */
	assert_string_equal(phase, "");
	/* The Lease changes under the release once: 409, read again, released. */
	control("/__faults", "{\"status\":409,\"count\":1,\"match\":\"PUT " LEASE "\"}");
	assert_int_equal(lookup("G1::0", &c), 0);
	assert_string_equal(alloc.containers[c].name, "b");
	observe("two");
	assert_string_equal(holder, "");
	assert_string_equal(phase, "success");
	/* A retry after the release gets the same container of the same pod. */
	assert_int_equal(lookup("G1::0", &c), 0);
	assert_string_equal(alloc.pod, "two");
	assert_string_equal(alloc.containers[c].name, "b");
	struct vxpu_dp_apisource_stats st;
	vxpu_dp_apisource_stats(source, &st);
	assert_int_equal(st.consumed, 1);
	assert_int_equal(st.release_failed, 0);
}

static void test_refusals_free_the_node(void **state)
{
	(void)state;
	char uid[64];
	unsigned c;
	create_pod("bare", NULL, uid, sizeof(uid));
	hold_lease("bare", uid);
	assert_int_equal(lookup("G0::1", &c), -1);
	assert_string_equal(err, "pod ns/bare has no vxpu.io/allocation annotation");
	observe("bare");
	assert_string_equal(holder, "");
	assert_string_equal(phase, "failed");
	/* A retry of that request gets the same words. */
	assert_int_equal(lookup("G0::1", &c), -1);
	assert_string_equal(err, "pod ns/bare has no vxpu.io/allocation annotation");

	create_pod(
	        "elsewhere",
	        allocation_text("elsewhere", "n2",
	                        "{\"name\":\"a\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	                                "G0", 0) "]}"),
	        uid, sizeof(uid));
	hold_lease("elsewhere", uid);
	assert_int_equal(lookup("G0::2", &c), -1);
	assert_string_equal(err, "pod ns/elsewhere: allocation annotation is for node \"n2\", "
	                         "this is node \"n1\"");
	observe("elsewhere");
	assert_string_equal(holder, "");
	assert_string_equal(phase, "failed");

	create_pod("bad", "{\"version\":2}", uid, sizeof(uid));
	hold_lease("bad", uid);
	assert_int_equal(lookup("G0::3", &c), -1);
	assert_non_null(strstr(err, "pod ns/bad: allocation annotation: "));
	observe("bad");
	assert_string_equal(phase, "failed");
}

static void test_refusals_that_change_nothing(void **state)
{
	(void)state;
	char uid[64];
	unsigned c;
	/* The Lease names a pod that was replaced (another uid). */
	create_pod(
	        "again",
	        allocation_text("again", "n1",
	                        "{\"name\":\"a\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV(
	                                "G0", 0) "]}"),
	        uid, sizeof(uid));
	hold_lease("again", "uid-of-the-old-pod");
	assert_int_equal(lookup("G0::0", &c), -1);
	assert_non_null(strstr(err, "but lease vxpu-system/vxpu-node-n1 is held by uid "
	                            "uid-of-the-old-pod"));
	observe("again");
	assert_string_equal(holder, "uid-of-the-old-pod");
	assert_string_equal(phase, "");
	/* The API server does not answer: nothing changes. */
	hold_lease("again", uid);
	control("/__faults", "{\"status\":500,\"count\":100,\"match\":\"GET " LEASE "\"}");
	assert_int_equal(lookup("G0::0", &c), -1);
	assert_non_null(strstr(err, "cannot read the allocation lease vxpu-system/vxpu-node-n1"));
	control("/__faults", "{\"clear\":true}");
	observe("again");
	assert_string_equal(holder, uid);
	/* And then it does. */
	assert_int_equal(lookup("G0::0", &c), 0);
	observe("again");
	assert_string_equal(phase, "success");
}

static unsigned cache_calls;

static char *cache(void *ctx, const char *ns, const char *name, const char *uid)
{
	(void)uid;
	cache_calls++;
	return strcmp(ns, "ns") == 0 && strcmp(name, "cached") == 0 ? strdup((const char *)ctx)
	                                                            : NULL;
}

static void test_pods_from_the_cache(void **state)
{
	(void)state;
	char uid[64];
	unsigned c;
	const char *text = allocation_text(
	        "cached", "n1",
	        "{\"name\":\"a\",\"kind\":\"app\",\"priority\":0,\"devices\":[" DEV("G0", 0) "]}");
	char *copy = strdup(text);
	/* The API server's copy has no annotation: an answer proves the cache's was used. */
	create_pod("cached", NULL, uid, sizeof(uid));
	hold_lease("cached", uid);
	vxpu_dp_apisource_set_cache(source, cache, copy);
	assert_int_equal(lookup("G0::5", &c), 0);
	assert_string_equal(alloc.pod, "cached");
	assert_int_equal(cache_calls, 1);
	struct vxpu_dp_apisource_stats st;
	vxpu_dp_apisource_stats(source, &st);
	assert_int_equal(st.cache_hits, 1);
	observe("cached");
	assert_string_equal(phase, "success");
	vxpu_dp_apisource_set_cache(source, NULL, NULL);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_consumed_and_released),
	        cmocka_unit_test(test_refusals_free_the_node),
	        cmocka_unit_test(test_refusals_that_change_nothing),
	        cmocka_unit_test(test_pods_from_the_cache),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
