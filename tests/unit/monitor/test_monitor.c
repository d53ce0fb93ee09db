/* The node monitor: the exposition of a hand-made snapshot (names, labels,
 * units, absent samples, HELP/TYPE for every family, same bytes twice, a
 * bad label skipped); a pass over a regions folder on the simulated driver
 * with a workload that holds device memory without libvxpu (attribution by
 * host PID, limits and allocations, skipped entries counted); killing a
 * share's processes only when the driver lists them; and the running
 * monitor flagging and, enforcing, killing that workload. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "limiter/region.h"
#include "node/monitor.h"

#define MIB (1024ULL * 1024ULL)

/* ---- rendering ----------------------------------------------------------------- */

static struct vxpu_monitor_snapshot *hand_made(void)
{
	struct vxpu_monitor_snapshot *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	snprintf(s->node, sizeof(s->node), "node-a");
	snprintf(s->vendor, sizeof(s->vendor), "nvidia");
	s->taken_unix_ms = 1700000000500;
	s->collect_ns = 1500000;
	s->library_up = true;
	s->passes = 7;
	s->ndevices = 2;
	struct vxpu_monitor_device *d = &s->devices[0];
	d->index = 0;
	snprintf(d->uuid, sizeof(d->uuid), "GPU-00000000-0000-0000-0000-000000000001");
	snprintf(d->model, sizeof(d->model), "VXPU-SIM 16GB");
	d->live = true;
	d->memory_total = 16384 * MIB;
	d->memory_used = 1024 * MIB + 5; /* DCGM's MiB are whole */
	d->utilization = 37;
	d->memory_allocated = 4096 * MIB;
	d->compute_allocated = 30;
	d->containers = 2;
	d->healthy = 1;
	d = &s->devices[1];
	d->index = 1;
	snprintf(d->uuid, sizeof(d->uuid), "GPU-00000000-0000-0000-0000-000000000002");
	snprintf(d->model, sizeof(d->model), "VXPU-SIM 16GB");
	d->live = false; /* the library did not answer for it: no DCGM samples */
	d->memory_total = 16384 * MIB;
	d->healthy = -1;

	s->ncontainers = 2;
	s->containers = calloc(2, sizeof(*s->containers));
	assert_non_null(s->containers);
	struct vxpu_monitor_container *c = &s->containers[0];
	snprintf(c->key, sizeof(c->key), "team-a_infer-0_main");
	snprintf(c->ns, sizeof(c->ns), "team-a");
	snprintf(c->pod, sizeof(c->pod), "infer-0");
	snprintf(c->container, sizeof(c->container), "main");
	c->processes = 2;
	c->unattributed = 1;
	c = &s->containers[1];
	snprintf(c->key, sizeof(c->key), "team-b_train-1_worker");
	snprintf(c->ns, sizeof(c->ns), "team-b");
	snprintf(c->pod, sizeof(c->pod), "train-1");
	snprintf(c->container, sizeof(c->container), "worker");

	s->nshares = 2;
	s->shares = calloc(2, sizeof(*s->shares));
	assert_non_null(s->shares);
	struct vxpu_monitor_share *sh = &s->shares[0];
	sh->container = 0;
	sh->ordinal = 0;
	sh->gpu = 0;
	snprintf(sh->uuid, sizeof(sh->uuid), "GPU-00000000-0000-0000-0000-000000000001");
	sh->memory_limit = 4096 * MIB;
	sh->memory_charged = 512 * MIB;
	sh->memory_used_known = true;
	sh->memory_used = 600 * MIB;
	sh->core_limit = 30;
	sh->utilization_known = true;
	sh->utilization = 12.5;
	sh->compute_charged_ns = 2500000000ULL;
	sh->compute_held_ns = 125000000ULL;
	sh->launches = 4000;
	sh->held_launches = 120;
	sh = &s->shares[1];
	sh->container = 1;
	sh->ordinal = 0;
	sh->gpu = 0;
	snprintf(sh->uuid, sizeof(sh->uuid), "GPU-00000000-0000-0000-0000-000000000001");
	sh->memory_limit = VXPU_REGION_UNLIMITED;

	s->nwatch = 1;
	s->watch = calloc(1, sizeof(*s->watch));
	assert_non_null(s->watch);
	snprintf(s->watch[0].key, sizeof(s->watch[0].key), "team-a_infer-0_main");
	s->watch[0].gpu = 0;
	s->watch[0].kind = VXPU_WATCHDOG_MEMORY;
	s->watch[0].flagged = true;
	s->watch[0].violations = 3;
	s->watch[0].kills = 2;
	return s;
}

static void assert_has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("exposition lacks:\n%s\n--- exposition:\n%s", line, text);
}

/* The exposition has the sample "METRIC{LABELS} VALUE" as a whole line. */
static void assert_sample(const char *text, const char *metric, const char *labels,
                          const char *value)
{
	char line[512];
	snprintf(line, sizeof(line), "\n%s%s %s\n", metric, labels, value);
	assert_has(text, line);
}

static void assert_lacks(const char *text, const char *part)
{
	if (strstr(text, part))
		fail_msg("exposition should not hold: %s", part);
}

static void test_render(void **state)
{
	(void)state;
	struct vxpu_monitor_snapshot *s = hand_made();
	size_t len = 0, len2 = 0;
	unsigned skipped = 99;
	char *text = vxpu_monitor_render(s, &len, &skipped);
	assert_non_null(text);
	assert_int_equal(skipped, 0);
	assert_int_equal(strlen(text), len);
	const char *dev0 = "{Hostname=\"node-a\",UUID=\"GPU-00000000-0000-0000-0000-000000000001\","
	                   "device=\"nvidia0\",gpu=\"0\",model_name=\"VXPU-SIM 16GB\"}";
	assert_sample(text, "DCGM_FI_DEV_FB_USED", dev0, "1024");
	assert_sample(text, "DCGM_FI_DEV_FB_FREE", dev0, "15359");
	assert_sample(text, "DCGM_FI_DEV_FB_TOTAL", dev0, "16384");
	assert_sample(text, "DCGM_FI_DEV_GPU_UTIL", dev0, "37");
	assert_sample(text, "vxpu_device_memory_allocated_bytes", dev0, "4294967296");
	assert_sample(text, "vxpu_device_compute_allocated_percent", dev0, "30");
	assert_sample(text, "vxpu_device_containers", dev0, "2");
	assert_sample(text, "vxpu_device_healthy", dev0, "1");
	assert_has(text, "# HELP DCGM_FI_DEV_FB_USED Device memory used (in MiB).\n"
	                 "# TYPE DCGM_FI_DEV_FB_USED gauge\n");
	/* Device 1 did not answer: no DCGM figures and no health, but its allocation. */
	assert_lacks(text, "DCGM_FI_DEV_FB_USED{Hostname=\"node-a\",UUID=\"GPU-00000000-0000-0000-"
	                   "0000-000000000002\"");
	assert_lacks(text, "vxpu_device_healthy{Hostname=\"node-a\",UUID=\"GPU-00000000-0000-0000-"
	                   "0000-000000000002\"");
	assert_has(text, "vxpu_device_memory_allocated_bytes{Hostname=\"node-a\",UUID=\"GPU-"
	                 "00000000-0000-0000-0000-000000000002\",device=\"nvidia1\",gpu=\"1\","
	                 "model_name=\"VXPU-SIM 16GB\"} 0\n");

	const char *share0 =
	        "{Hostname=\"node-a\",UUID=\"GPU-00000000-0000-0000-0000-000000000001\","
	        "container=\"main\",container_device=\"0\",gpu=\"0\",namespace=\"team-"
	        "a\",pod=\"infer-0\"}";
	assert_sample(text, "vxpu_container_memory_limit_bytes", share0, "4294967296");
	assert_sample(text, "vxpu_container_memory_charged_bytes", share0, "536870912");
	assert_sample(text, "vxpu_container_memory_used_bytes", share0, "629145600");
	assert_sample(text, "vxpu_container_compute_limit_percent", share0, "30");
	assert_sample(text, "vxpu_container_utilization_percent", share0, "12.5");
	assert_sample(text, "vxpu_container_compute_charged_seconds_total", share0, "2.5");
	assert_sample(text, "vxpu_container_compute_throttled_seconds_total", share0, "0.125");
	assert_sample(text, "vxpu_container_kernel_launches_total", share0, "4000");
	assert_sample(text, "vxpu_container_kernel_launches_throttled_total", share0, "120");
	assert_has(text, "# TYPE vxpu_container_kernel_launches_total counter\n");
	/* No budget, no budget counters. */
	assert_lacks(text, "vxpu_container_kernel_launches_total{Hostname=\"node-a\",UUID=\"GPU-"
	                   "00000000-0000-0000-0000-000000000001\",container=\"worker\"");
	/* The unlimited share with no figures: only what is known of it. */
	assert_lacks(text, "vxpu_container_memory_limit_bytes{Hostname=\"node-a\",UUID=\"GPU-"
	                   "00000000-0000-0000-0000-000000000001\",container=\"worker\"");
	assert_lacks(text, "vxpu_container_memory_used_bytes{Hostname=\"node-a\",UUID=\"GPU-"
	                   "00000000-0000-0000-0000-000000000001\",container=\"worker\"");
	assert_has(text,
	           "vxpu_container_memory_charged_bytes{Hostname=\"node-a\",UUID=\"GPU-"
	           "00000000-0000-0000-0000-000000000001\",container=\"worker\","
	           "container_device=\"0\",gpu=\"0\",namespace=\"team-b\",pod=\"train-1\"} 0\n");
	assert_has(text, "\nvxpu_container_processes{Hostname=\"node-a\",container=\"main\","
	                 "namespace=\"team-a\",pod=\"infer-0\"} 2\n");
	assert_has(text, "\nvxpu_container_processes_unattributed{Hostname=\"node-a\","
	                 "container=\"main\",namespace=\"team-a\",pod=\"infer-0\"} 1\n");

	const char *watch =
	        "{Hostname=\"node-a\",UUID=\"GPU-00000000-0000-0000-0000-000000000001\","
	        "container=\"main\",gpu=\"0\",kind=\"memory\",namespace=\"team-a\","
	        "pod=\"infer-0\"}";
	assert_sample(text, "vxpu_watchdog_flagged", watch, "1");
	assert_sample(text, "vxpu_watchdog_violations_total", watch, "3");
	assert_sample(text, "vxpu_watchdog_kills_total", watch, "2");
	assert_has(text, "# TYPE vxpu_watchdog_violations_total counter\n");

	assert_has(text, "\nvxpu_monitor_library_up{Hostname=\"node-a\"} 1\n");
	assert_has(text, "\nvxpu_monitor_regions{Hostname=\"node-a\"} 2\n");
	assert_has(text, "\nvxpu_monitor_regions_skipped{Hostname=\"node-a\"} 0\n");
	assert_has(text, "\nvxpu_monitor_sample_duration_seconds{Hostname=\"node-a\"} 0.0015\n");
	assert_has(text, "\nvxpu_monitor_last_sample_timestamp_seconds{Hostname=\"node-a\"} "
	                 "1700000000.5\n");
	assert_has(text, "\nvxpu_monitor_samples_total{Hostname=\"node-a\"} 7\n");

	/* HELP and TYPE for each of the 28 families, once. */
	unsigned helps = 0, types = 0;
	for (const char *p = text; (p = strstr(p, "# HELP ")) != NULL; p++)
		helps++;
	for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++)
		types++;
	assert_int_equal(helps, 28);
	assert_int_equal(types, 28);

	/* Pure: the same snapshot, the same bytes. */
	char *again = vxpu_monitor_render(s, &len2, NULL);
	assert_non_null(again);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	free(again);
	free(text);

	/* A label that is not UTF-8 loses its samples, not the scrape. */
	snprintf(s->containers[1].pod, sizeof(s->containers[1].pod), "bad\xff");
	text = vxpu_monitor_render(s, &len, &skipped);
	assert_non_null(text);
	assert_int_equal(skipped, 3); /* charged, processes, unattributed of that container */
	assert_has(text, "vxpu_container_memory_used_bytes{Hostname=\"node-a\"");
	free(text);
	vxpu_monitor_snapshot_free(s);
	free(s);
}

/* ---- on the simulated driver -------------------------------------------------------- */

static char scratch[128];
static char regions[160];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", regions, name);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static const struct vxpu_discover_options sim_opts = {.backend = VXPU_BACKEND_SIM,
                                                      .sim_lib_dir = VXPU_TEST_SIM_DIR};

/* The region file of container dir `name`. */
static void region_path(const char *name, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s/region", regions, name);
}

/* A collector over the regions folder on the simulated driver. */
static struct vxpu_monitor_collector *collector(const char *node)
{
	struct vxpu_monitor_collector *c;
	char err[256];
	if (vxpu_monitor_collector_open(&c, &sim_opts, regions, node, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	return c;
}

/* A managed region for container dir `name` with device 0 = host device 0. */
static void make_region(const char *name, uint64_t limit, uint32_t core, struct vxpu_region *r)
{
	make_dir(name);
	static struct vxpu_discovery disc;
	char err[256];
	if (vxpu_discover(&sim_opts, &disc, err, sizeof(err)) != 0)
		fail_msg("discover: %s", err);
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.managed = true;
	init.memory_limit[0] = limit;
	init.uuid_set[0] = true;
	assert_int_equal(vxpu_region_parse_uuid(disc.devices[0].uuid, init.uuid[0]), 0);
	char path[512];
	region_path(name, path, sizeof(path));
	if (vxpu_region_open(r, path, VXPU_REGION_OPEN_CREATE, &init, err, sizeof(err)) != 0)
		fail_msg("region: %s", err);
	atomic_store(&r->devices[0].core_limit, core);
}

/* Starts argv with the simulator's libcuda and no libvxpu. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LD_LIBRARY_PATH", VXPU_TEST_SIM_DIR, 1);
		unsetenv("LD_PRELOAD");
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			close(devnull);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Attaches pid to a new slot of r as its own host PID (what the agent does). */
static unsigned attach(struct vxpu_region *r, pid_t pid)
{
	uint32_t gen;
	int slot = vxpu_region_claim(r, (int32_t)pid, &gen);
	assert_true(slot >= 0);
	assert_int_equal(vxpu_region_set_host_pid(r, (unsigned)slot, gen, (int32_t)pid), 0);
	return (unsigned)slot;
}

/* Collects until the container's share 0 reports at least want bytes (10 s at most). */
static void collect_until(struct vxpu_monitor_collector *c, struct vxpu_monitor_snapshot *s,
                          uint64_t want)
{
	char err[256];
	for (int i = 0; i < 200; i++) {
		if (vxpu_monitor_collect(c, s, err, sizeof(err)) != 0)
			fail_msg("collect: %s", err);
		if (s->nshares && s->shares[0].memory_used >= want)
			return;
		usleep(50000);
	}
	fail_msg("the workload's memory never showed (%zu shares, %llu bytes, device used %llu, "
	         "skipped %u: %s)",
	         s->nshares, s->nshares ? (unsigned long long)s->shares[0].memory_used : 0ULL,
	         (unsigned long long)s->devices[0].memory_used, s->regions_skipped, s->skip_reason);
}

static void reap_killed(pid_t pid)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_collect_and_kill(void **state)
{
	(void)state;
	struct vxpu_region r;
	make_region("team-a_bypass-0_main", 64 * MIB, 25, &r);
	/* Entries the monitor cannot read: counted, never fatal. */
	make_dir("no-underscores");
	make_dir("a_b_c_d");
	make_dir("team-a_empty-0_main"); /* no region file */
	make_dir("team-a_junk-0_main");
	char path[512];
	region_path("team-a_junk-0_main", path, sizeof(path));
	write_file(path, "not a region");

	char *alloc[] = {VXPU_TEST_ALLOC_LOOP, "96MiB", "--hold", "30", NULL};
	pid_t workload = spawn(alloc);
	char *sleeper_argv[] = {"/bin/sleep", "30", NULL};
	pid_t sleeper = spawn(sleeper_argv); /* no GPU: must never be killed */
	attach(&r, workload);
	/* A second open file description: a process's own slot lock never
	 * conflicts with itself, so one handle holding two slots would see the
	 * first as dead and take it over. */
	struct vxpu_region r2;
	char err[256];
	char path2[512];
	region_path("team-a_bypass-0_main", path2, sizeof(path2));
	if (vxpu_region_open(&r2, path2, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
		fail_msg("region: %s", err);
	attach(&r2, sleeper);

	struct vxpu_monitor_collector *c = collector("node-t");
	struct vxpu_monitor_snapshot s;
	memset(&s, 0, sizeof(s));
	collect_until(c, &s, 96 * MIB);

	assert_true(s.library_up);
	assert_string_equal(s.node, "node-t");
	assert_int_equal(s.regions_skipped, 4);
	assert_int_equal(s.ncontainers, 1);
	const struct vxpu_monitor_container *ct = &s.containers[0];
	assert_string_equal(ct->ns, "team-a");
	assert_string_equal(ct->pod, "bypass-0");
	assert_string_equal(ct->container, "main");
	assert_int_equal(ct->processes, 2);
	assert_int_equal(ct->nprocs, 2);
	assert_int_equal(s.nshares, 1);
	const struct vxpu_monitor_share *sh = &s.shares[0];
	assert_int_equal(sh->gpu, 0);
	assert_int_equal(sh->memory_limit, 64 * MIB);
	assert_int_equal(sh->memory_charged, 0); /* libvxpu never saw it */
	assert_true(sh->memory_used_known);
	assert_true(sh->memory_used >= 96 * MIB && sh->memory_used < 100 * MIB);
	assert_int_equal(sh->core_limit, 25);
	assert_int_equal(s.devices[0].memory_allocated, 64 * MIB);
	assert_true(s.devices[0].compute_allocated == 25.0);
	assert_int_equal(s.devices[0].containers, 1);
	assert_int_equal(s.devices[1].containers, 0);
	assert_true(s.devices[0].memory_used >= 96 * MIB);
	assert_int_equal(s.devices[0].memory_total, 16ULL << 30);

	/* Only the process the driver lists on the device is killed. */
	assert_int_equal(vxpu_monitor_kill_share(c, &s, 0), 1);
	reap_killed(workload);
	assert_int_equal(kill(sleeper, 0), 0);
	assert_int_equal(vxpu_monitor_kill_share(c, &s, 0), 0); /* nothing left */
	assert_int_equal(vxpu_monitor_kill_share(c, &s, 5), 0); /* no such share */

	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	vxpu_monitor_snapshot_free(&s);
	vxpu_monitor_collector_close(c);
	vxpu_region_close(&r2);
	vxpu_region_close(&r);

	/* A regions folder that does not exist is an error of the pass. */
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/none", scratch);
	assert_int_equal(
	        vxpu_monitor_collector_open(&c, &sim_opts, missing, NULL, err, sizeof(err)), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(vxpu_monitor_collect(c, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot list regions directory"));
	vxpu_monitor_collector_close(c);
}

/* Regions stay open from pass to pass; a replaced file is read anew, a
 * removed folder disappears. */
static void test_regions_kept_open(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", regions);
	assert_int_equal(system(cmd), 0);
	struct vxpu_region r;
	make_region("team-c_keep-0_main", 64 * MIB, 0, &r);
	vxpu_region_close(&r);
	struct vxpu_monitor_collector *c = collector(NULL);
	char err[256];
	struct vxpu_monitor_snapshot s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(vxpu_monitor_collect(c, &s, err, sizeof(err)), 0);
	assert_int_equal(s.nshares, 1);
	assert_int_equal(s.shares[0].memory_limit, 64 * MIB);
	assert_int_equal(vxpu_monitor_collect(c, &s, err, sizeof(err)), 0);
	assert_int_equal(s.shares[0].memory_limit, 64 * MIB);
	assert_int_equal(s.passes, 2);

	char path[512];
	region_path("team-c_keep-0_main", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	make_region("team-c_keep-0_main", 32 * MIB, 0, &r);
	vxpu_region_close(&r);
	make_region("team-c_keep-1_main", 16 * MIB, 0, &r);
	vxpu_region_close(&r);
	assert_int_equal(vxpu_monitor_collect(c, &s, err, sizeof(err)), 0);
	assert_int_equal(s.nshares, 2);
	assert_int_equal(s.shares[0].memory_limit, 32 * MIB);
	assert_int_equal(s.shares[1].memory_limit, 16 * MIB);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/team-c_keep-0_main'", regions);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vxpu_monitor_collect(c, &s, err, sizeof(err)), 0);
	assert_int_equal(s.ncontainers, 1);
	assert_string_equal(s.containers[0].pod, "keep-1");
	assert_int_equal(s.regions_skipped, 0);
	vxpu_monitor_snapshot_free(&s);
	vxpu_monitor_collector_close(c);
}

struct events {
	unsigned n;
	enum vxpu_watchdog_event_type type[16];
	unsigned killed[16];
	char pod[16][64];
};

static void on_event(void *ctx, const struct vxpu_monitor_event *ev)
{
	struct events *e = ctx;
	if (e->n < 16) {
		e->type[e->n] = ev->watchdog->type;
		e->killed[e->n] = ev->killed;
		snprintf(e->pod[e->n], sizeof(e->pod[0]), "%s", ev->pod);
		e->n++;
	}
}

static bool healthy_all(void *ctx, unsigned index, bool *healthy)
{
	(void)ctx;
	*healthy = index == 0;
	return true;
}

static void test_running_monitor_enforces(void **state)
{
	(void)state;
	struct vxpu_region r;
	make_region("team-b_bypass-1_main", 32 * MIB, 0, &r);
	struct events ev = {0};
	struct vxpu_monitor_config cfg = {.regions_dir = regions,
	                                  .node = "node-t",
	                                  .discover = sim_opts,
	                                  .interval_ms = 50,
	                                  .device_health = healthy_all,
	                                  .on_event = on_event,
	                                  .ctx = &ev};
	vxpu_watchdog_policy_default(&cfg.watchdog);
	cfg.watchdog.memory_window_ns = 300000000ULL;
	cfg.watchdog.enforce = true;
	struct vxpu_monitor *m;
	char err[256];
	if (vxpu_monitor_start(&cfg, &m, err, sizeof(err)) != 0)
		fail_msg("start: %s", err);
	assert_string_equal(vxpu_monitor_address(m), "");

	char *alloc[] = {VXPU_TEST_ALLOC_LOOP, "48MiB", "--hold", "30", NULL};
	pid_t workload = spawn(alloc);
	attach(&r, workload);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int status = 0;
	pid_t got = 0;
	for (int i = 0; i < 200 && got == 0; i++) {
		usleep(50000);
		got = waitpid(workload, &status, WNOHANG);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (got != workload) {
		kill(workload, SIGKILL);
		waitpid(workload, NULL, 0);
		fail_msg("the workload was not killed within 10 s");
	}
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	usleep(200000); /* the next pass sees it gone */
	size_t len;
	char *text = vxpu_monitor_metrics(m, &len);
	vxpu_monitor_stop(m);
	vxpu_region_close(&r);
	assert_non_null(text);
	assert_true(ev.n >= 2);
	assert_int_equal(ev.type[0], VXPU_WATCHDOG_FLAGGED);
	assert_int_equal(ev.type[1], VXPU_WATCHDOG_ENFORCE);
	assert_int_equal(ev.killed[1], 1);
	assert_string_equal(ev.pod[0], "bypass-1");
	assert_has(text, "vxpu_watchdog_violations_total{Hostname=\"node-t\",UUID=\"");
	assert_has(text, "container=\"main\",gpu=\"0\",kind=\"memory\",namespace=\"team-b\","
	                 "pod=\"bypass-1\"} 1\n");
	assert_has(text, "vxpu_watchdog_kills_total{");
	assert_has(text, "pod=\"bypass-1\"} 1\n# HELP");
	/* The health callback's answers: device 0 healthy, device 1 failed. */
	const char *h0 = strstr(text, "\nvxpu_device_healthy{");
	assert_non_null(h0);
	const char *h1 = strstr(h0 + 1, "\nvxpu_device_healthy{");
	assert_non_null(h1);
	assert_non_null(strstr(h0, "gpu=\"0\",model_name=\"VXPU-SIM 16GB\"} 1\n"));
	assert_true(strstr(h0, "gpu=\"0\",model_name=\"VXPU-SIM 16GB\"} 1\n") < h1);
	assert_true(strstr(h1, "gpu=\"1\",model_name=\"VXPU-SIM 16GB\"} 0\n") ==
	            strchr(h1 + 1, '\n') - strlen("gpu=\"1\",model_name=\"VXPU-SIM 16GB\"} 0"));
	free(text);
}

int main(void)
{
	snprintf(scratch, sizeof(scratch), "/tmp/vxpu-unit-monitor-%d", (int)getpid());
	snprintf(regions, sizeof(regions), "%s/containers", scratch);
	mkdir(scratch, 0755);
	mkdir(regions, 0755);
	char state_path[256];
	snprintf(state_path, sizeof(state_path), "%s/sim.state", scratch);
	setenv("VXPU_SIM_STATE", state_path, 1);
	unsetenv("VXPU_SIM_CONFIG");
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_render),
	        cmocka_unit_test(test_collect_and_kill),
	        cmocka_unit_test(test_regions_kept_open),
	        cmocka_unit_test(test_running_monitor_enforces),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", scratch);
	return rc;
}
