/*
 * bench_monitor - the node monitor with 100 containers on the simulated
 * driver (see bench/monitor.sh):
 *   - a /metrics scrape over HTTP on loopback (libcurl client, kept-alive
 *     connection, libmicrohttpd server): what Prometheus waits for; target
 *     p99 <= 50 ms;
 *   - one sample (vxpu_monitor_collect: 100 region files opened read-only,
 *     read and closed, plus the management library's devices, processes and
 *     per-process utilisation), which the sampling thread pays every
 *     interval and a scrape never waits for;
 *   - one render of a sample (vxpu_monitor_render), the CPU part of a scrape.
 * Each container has a managed region (1 GiB, 10 % compute) on one of the
 * two simulated devices; 8 of them run a real workload (alloc_loop, no
 * libvxpu) attached to their region, the others one slot held by this
 * process, so every container has a live, attributed process.
 *
 *   bench_monitor SIM_DIR ALLOC_LOOP [CONTAINERS]
 */
#include "limiter/region.h"
#include "node/monitor.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOADS 8
#define SCRAPES 300
#define SAMPLES 100

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), compare_double);
	size_t k = (size_t)(p * (double)(n - 1) + 0.5);
	return v[k < n ? k : n - 1];
}

static void print_figure(const char *what, double *v, size_t n, double target_us)
{
	double p50 = percentile(v, n, 0.5), p99 = percentile(v, n, 0.99);
	printf("  %-44s median %7.3f ms  p99 %7.3f ms", what, p50 / 1000, p99 / 1000);
	if (target_us > 0)
		printf("   (target: p99 <= %.0f ms) %s", target_us / 1000,
		       p99 <= target_us ? "ok" : "MISSED");
	printf("\n");
}

struct body {
	size_t len;
};

static size_t sink(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	((struct body *)ctx)->len += size * n;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_monitor SIM_DIR ALLOC_LOOP [CONTAINERS]\n");
		return 2;
	}
	const char *sim_dir = argv[1], *alloc_loop = argv[2];
	unsigned containers = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 100;
	if (containers < WORKLOADS || containers > 1000) {
		fprintf(stderr, "bench_monitor: CONTAINERS must be %d..1000\n", WORKLOADS);
		return 2;
	}
	char scratch[] = "/tmp/vxpu-bench-monitor.XXXXXX";
	if (!mkdtemp(scratch)) {
		perror("bench_monitor: mkdtemp");
		return 1;
	}
	char regions[128], state[128];
	snprintf(regions, sizeof(regions), "%s/containers", scratch);
	snprintf(state, sizeof(state), "%s/sim.state", scratch);
	mkdir(regions, 0755);
	setenv("VXPU_SIM_STATE", state, 1);
	unsetenv("VXPU_SIM_CONFIG");
	struct vxpu_discover_options opts = {.backend = VXPU_BACKEND_SIM, .sim_lib_dir = sim_dir};
	static struct vxpu_discovery disc;
	char err[512];
	if (vxpu_discover(&opts, &disc, err, sizeof(err)) != 0 || disc.count < 1) {
		fprintf(stderr, "bench_monitor: %s\n", err);
		return 1;
	}

	struct vxpu_region *rs = calloc(containers, sizeof(*rs));
	pid_t workloads[WORKLOADS] = {0};
	unsigned opened = 0;
	int rc = 1;
	for (unsigned i = 0; i < containers; i++) {
		char dir[256], path[300];
		snprintf(dir, sizeof(dir), "%s/team-%02u_pod-%03u_main", regions, i % 10, i);
		mkdir(dir, 0755);
		snprintf(path, sizeof(path), "%s/region", dir);
		struct vxpu_region_init init;
		vxpu_region_init_default(&init);
		init.managed = true;
		init.memory_limit[0] = 1ULL << 30;
		init.uuid_set[0] = true;
		vxpu_region_parse_uuid(disc.devices[i % disc.count].uuid, init.uuid[0]);
		if (vxpu_region_open(&rs[i], path, VXPU_REGION_OPEN_CREATE, &init, err,
		                     sizeof(err)) != 0) {
			fprintf(stderr, "bench_monitor: %s\n", err);
			goto out;
		}
		opened++;
		atomic_store(&rs[i].devices[0].core_limit, 10u);
		pid_t pid = getpid();
		if (i < WORKLOADS) {
			pid = fork();
			if (pid == 0) {
				setenv("LD_LIBRARY_PATH", sim_dir, 1);
				unsetenv("LD_PRELOAD");
				int devnull = open("/dev/null", O_WRONLY);
				dup2(devnull, 1);
				char dev[8];
				snprintf(dev, sizeof(dev), "%u", i % disc.count);
				execl(alloc_loop, alloc_loop, "256MiB", "--hold", "600", "--device",
				      dev, (char *)NULL);
				_exit(127);
			}
			workloads[i] = pid;
		}
		uint32_t gen;
		int slot = vxpu_region_claim(&rs[i], (int32_t)pid, &gen);
		if (slot < 0 ||
		    vxpu_region_set_host_pid(&rs[i], (unsigned)slot, gen, (int32_t)pid)) {
			fprintf(stderr, "bench_monitor: cannot attach a process to %s\n", path);
			goto out;
		}
	}

	/* Samples and renders, straight. */
	struct vxpu_monitor_collector *c;
	if (vxpu_monitor_collector_open(&c, &opts, regions, "bench", err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_monitor: %s\n", err);
		goto out;
	}
	struct vxpu_monitor_snapshot s;
	memset(&s, 0, sizeof(s));
	/* Wait until every workload holds its memory. */
	for (int tries = 0; tries < 200; tries++) {
		if (vxpu_monitor_collect(c, &s, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_monitor: %s\n", err);
			goto out;
		}
		unsigned holding = 0;
		for (size_t k = 0; k < s.nshares; k++)
			holding += s.shares[k].memory_used >= (256ULL << 20);
		if (holding == WORKLOADS)
			break;
		usleep(50000);
	}
	static double t_collect[SAMPLES], t_render[SAMPLES], t_scrape[SCRAPES];
	size_t text_len = 0;
	for (int k = 0; k < SAMPLES; k++) {
		double t0 = now_us();
		vxpu_monitor_collect(c, &s, err, sizeof(err));
		double t1 = now_us();
		char *text = vxpu_monitor_render(&s, &text_len, NULL);
		double t2 = now_us();
		free(text);
		t_collect[k] = t1 - t0;
		t_render[k] = t2 - t1;
	}
	printf("node monitor, %u containers on %u simulated devices (%zu shares, %u with a "
	       "workload), exposition %zu bytes\n",
	       containers, disc.count, s.nshares, WORKLOADS, text_len);
	vxpu_monitor_snapshot_free(&s);
	vxpu_monitor_collector_close(c);

	/* Scrapes over HTTP of the running monitor (sampling every 250 ms meanwhile). */
	struct vxpu_monitor_config cfg = {
	        .regions_dir = regions, .listen = "127.0.0.1:0", .node = "bench", .discover = opts};
	vxpu_watchdog_policy_default(&cfg.watchdog);
	struct vxpu_monitor *m;
	if (vxpu_monitor_start(&cfg, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_monitor: %s\n", err);
		goto out;
	}
	char url[160];
	snprintf(url, sizeof(url), "http://%s/metrics", vxpu_monitor_address(m));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	struct body body = {0};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	bool ok = true;
	for (int k = 0; k < SCRAPES && ok; k++) {
		body.len = 0;
		double t0 = now_us();
		ok = curl_easy_perform(h) == CURLE_OK;
		t_scrape[k] = now_us() - t0;
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		ok = ok && status == 200 && body.len > 0;
		usleep(2000);
	}
	curl_easy_cleanup(h);
	curl_global_cleanup();
	vxpu_monitor_stop(m);
	if (!ok) {
		fprintf(stderr, "bench_monitor: a scrape of %s failed\n", url);
		goto out;
	}
	print_figure("GET /metrics over HTTP (end to end)", t_scrape, SCRAPES, 50000);
	print_figure("render of one sample", t_render, SAMPLES, 0);
	print_figure("one sample (regions + management library)", t_collect, SAMPLES, 0);
	rc = 0;
out:
	for (unsigned i = 0; i < WORKLOADS; i++)
		if (workloads[i] > 0) {
			kill(workloads[i], SIGKILL);
			waitpid(workloads[i], NULL, 0);
		}
	for (unsigned i = 0; i < opened; i++)
		vxpu_region_close(&rs[i]);
	free(rs);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_monitor: could not remove %s\n", scratch);
	return rc;
}
