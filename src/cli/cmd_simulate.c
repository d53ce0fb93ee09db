/*
 * cmd_simulate.c - `vxpu simulate`: replays a cluster-trace-gpu-v2023 trace
 * under placement policies and prints, per policy, the unallocated GPU share
 * when arrivals reach 100 % of capacity (mean and SD over seeds).
 *
 * This file owns the outside world - flags, files, threads, the terminal -
 * and leaves the replay to src/core/trace_sim (pure). Every (policy, seed)
 * run is an independent job; jobs are spread over --jobs threads, each run is
 * deterministic, so results never depend on the thread count. The progress
 * bar is drawn by the main thread on stderr, only when stderr is a terminal.
 */
#include "cli/cli.h"
#include "core/trace.h"
#include "core/trace_sim.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CMD "simulate"
#define MAX_SEEDS 10000
#define MAX_JOBS 256
#define MAX_FILE_BYTES ((size_t)1 << 30)

static const char usage_text[] =
        "usage: vxpu simulate --nodes NODES.csv --pods PODS.csv [--policy NAME[,NAME...]]\n"
        "                     [--seeds A..B] [--tune RATIO] [--jobs N] [--json]\n"
        "                     [--curve FILE.csv]\n"
        "\n"
        "Replays a trace in Alibaba's cluster-trace-gpu-v2023 (\"openb\") format with the\n"
        "methodology of \"Beware of Fragmentation\" (USENIX ATC'23) and prints, per policy,\n"
        "the unallocated GPU share when the GPU work that arrived reaches 100 % of the\n"
        "cluster's capacity (mean +- SD over the seeds), the fragmentation rate there,\n"
        "the tasks that had failed by then, and the CPU time the runs took.\n"
        "\n"
        "  --nodes FILE     node list: sn,cpu_milli,memory_mib,gpu,model (GPU nodes are\n"
        "                   simulated; rows with gpu 0 are checked, then left out)\n"
        "  --pods FILE      task list: name,cpu_milli,memory_mib,num_gpu,gpu_milli and\n"
        "                   optionally gpu_spec (\"A|B\"); other columns are ignored\n"
        "  --policy LIST    comma-separated policies, or \"all\" (default): random, bestfit,\n"
        "                   dotprod, packing, clustering, fgd, binpack, spread, fragaware\n"
        "  --seeds A..B     seeds, inclusive (default 42..51, the paper's); N = one seed\n"
        "  --tune RATIO     GPU work asked for / capacity, in (0, 10] (default 1.3)\n"
        "  --jobs N         runs in parallel, 1..256 (default: the CPUs online)\n"
        "  --json           print JSON instead of the table\n"
        "  --curve FILE     write allocation and fragmentation per arrived percent (CSV)\n"
        "\n"
        "Methodology, policies and their formulas: docs/simulator.md.\n"
        "Exit status: 0 success, 1 unreadable or malformed input, 2 usage error.\n";

struct options {
	const char *nodes;
	const char *pods;
	bool policies[VXPU_SIM_POLICY_COUNT];
	uint64_t seed_first, seed_last;
	double tune;
	unsigned jobs;
	bool json;
	const char *curve;
};

struct job {
	enum vxpu_sim_policy policy;
	uint64_t seed;
	struct vxpu_sim_result result;
	double cpu_seconds;
	int failed;
	char err[256];
	_Atomic size_t done;
	_Atomic size_t total;
};

struct pool {
	const struct vxpu_trace *trace;
	double tune;
	struct job *jobs;
	size_t job_count;
	_Atomic size_t next;
	_Atomic size_t finished;
};

/* ---- flags ----------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int parse_u64_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	if (!all_digits(s, n))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int parse_seeds(const char *text, uint64_t *first, uint64_t *last)
{
	const char *dots = strstr(text, "..");
	const size_t len = strlen(text);
	if (!dots)
		return parse_u64_digits(text, len, UINT32_MAX, first) < 0
		               ? vxpu_cli_usage_error(CMD, "--seeds: \"%s\" is not A..B or N", text)
		               : (*last = *first, 0);
	if (parse_u64_digits(text, (size_t)(dots - text), UINT32_MAX, first) < 0 ||
	    parse_u64_digits(dots + 2, strlen(dots + 2), UINT32_MAX, last) < 0)
		return vxpu_cli_usage_error(CMD, "--seeds: \"%s\" is not A..B (whole numbers)",
		                            text);
	if (*first > *last)
		return vxpu_cli_usage_error(
		        CMD, "--seeds: \"%s\": the first seed is after the last", text);
	if (*last - *first >= MAX_SEEDS)
		return vxpu_cli_usage_error(CMD, "--seeds: \"%s\": more than %d seeds", text,
		                            MAX_SEEDS);
	return 0;
}

/* DIGITS[.DIGITS], at most 9 fractional digits, in (0, VXPU_SIM_TUNE_MAX]. */
static int parse_tune(const char *text, double *tune)
{
	const char *dot = strchr(text, '.');
	const size_t int_len = dot ? (size_t)(dot - text) : strlen(text);
	const size_t frac_len = dot ? strlen(dot + 1) : 0;
	uint64_t whole = 0, frac = 0;
	if (parse_u64_digits(text, int_len, 1000, &whole) < 0 ||
	    (dot && (frac_len > 9 || parse_u64_digits(dot + 1, frac_len, UINT64_MAX, &frac) < 0)))
		return vxpu_cli_usage_error(CMD, "--tune: \"%s\" is not a decimal number", text);
	double scale = 1.0;
	for (size_t i = 0; i < frac_len; i++)
		scale *= 10.0;
	const double v = (double)whole + (double)frac / scale;
	if (!(v > 0.0 && v <= VXPU_SIM_TUNE_MAX))
		return vxpu_cli_usage_error(CMD, "--tune: %s is out of range (0, %g]", text,
		                            VXPU_SIM_TUNE_MAX);
	*tune = v;
	return 0;
}

static int parse_policies(const char *text, bool *chosen)
{
	if (strcmp(text, "all") == 0) {
		for (int i = 0; i < VXPU_SIM_POLICY_COUNT; i++)
			chosen[i] = true;
		return 0;
	}
	const char *p = text;
	for (;;) {
		const char *comma = strchr(p, ',');
		const size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char name[64];
		if (n == 0)
			return vxpu_cli_usage_error(CMD,
			                            "--policy: empty name in \"%s\" (policies: %s)",
			                            text, vxpu_sim_policy_list());
		if (n >= sizeof(name))
			return vxpu_cli_usage_error(CMD,
			                            "--policy: unknown policy \"%.*s...\" "
			                            "(policies: %s)",
			                            32, p, vxpu_sim_policy_list());
		memcpy(name, p, n);
		name[n] = '\0';
		enum vxpu_sim_policy policy;
		if (vxpu_sim_policy_parse(name, &policy) < 0)
			return vxpu_cli_usage_error(
			        CMD, "--policy: unknown policy \"%s\" (policies: %s)", name,
			        vxpu_sim_policy_list());
		if (chosen[policy])
			return vxpu_cli_usage_error(CMD, "--policy: \"%s\" given twice", name);
		chosen[policy] = true;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Accepts "--flag VALUE" and "--flag=VALUE"; each flag at most once. */
static int parse_args(int argc, char **argv, struct options *o)
{
	bool seen_seeds = false, seen_tune = false, seen_jobs = false, seen_policy = false;
	o->seed_first = 42;
	o->seed_last = 51;
	o->tune = 1.3;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->jobs = cpus < 1 ? 1 : (cpus > MAX_JOBS ? MAX_JOBS : (unsigned)cpus);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
			return vxpu_cli_usage_error(CMD, "unexpected argument \"%s\"", arg);
		char flag[32];
		const char *value = NULL;
		const char *eq = strchr(arg, '=');
		const size_t flag_len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (flag_len >= sizeof(flag))
			return vxpu_cli_usage_error(CMD, "unknown flag \"%s\"", arg);
		memcpy(flag, arg, flag_len);
		flag[flag_len] = '\0';
		if (strcmp(flag, "--json") == 0) {
			if (eq)
				return vxpu_cli_usage_error(CMD, "--json takes no value");
			if (o->json)
				return vxpu_cli_usage_error(CMD, "--json given twice");
			o->json = true;
			continue;
		}
		static const char *const valued[] = {"--nodes", "--pods", "--policy", "--seeds",
		                                     "--tune",  "--jobs", "--curve"};
		bool known = false;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			known = known || strcmp(flag, valued[k]) == 0;
		if (!known)
			return vxpu_cli_usage_error(CMD, "unknown flag \"%s\"", flag);
		if (eq) {
			value = eq + 1;
		} else {
			if (i + 1 >= argc)
				return vxpu_cli_usage_error(CMD, "%s needs a value", flag);
			value = argv[++i];
		}
		if (value[0] == '\0')
			return vxpu_cli_usage_error(CMD, "%s: empty value", flag);
		if (strcmp(flag, "--nodes") == 0 || strcmp(flag, "--pods") == 0 ||
		    strcmp(flag, "--curve") == 0) {
			const char **slot = flag[2] == 'n'   ? &o->nodes
			                    : flag[2] == 'p' ? &o->pods
			                                     : &o->curve;
			if (*slot)
				return vxpu_cli_usage_error(CMD, "%s given twice", flag);
			*slot = value;
		} else if (strcmp(flag, "--policy") == 0) {
			if (seen_policy)
				return vxpu_cli_usage_error(CMD, "--policy given twice");
			seen_policy = true;
			if (parse_policies(value, o->policies) != 0)
				return VXPU_EXIT_USAGE;
		} else if (strcmp(flag, "--seeds") == 0) {
			if (seen_seeds)
				return vxpu_cli_usage_error(CMD, "--seeds given twice");
			seen_seeds = true;
			if (parse_seeds(value, &o->seed_first, &o->seed_last) != 0)
				return VXPU_EXIT_USAGE;
		} else if (strcmp(flag, "--tune") == 0) {
			if (seen_tune)
				return vxpu_cli_usage_error(CMD, "--tune given twice");
			seen_tune = true;
			if (parse_tune(value, &o->tune) != 0)
				return VXPU_EXIT_USAGE;
		} else {
			if (seen_jobs)
				return vxpu_cli_usage_error(CMD, "--jobs given twice");
			seen_jobs = true;
			uint64_t jobs;
			if (parse_u64_digits(value, strlen(value), MAX_JOBS, &jobs) < 0 ||
			    jobs == 0)
				return vxpu_cli_usage_error(CMD, "--jobs: \"%s\" is not in 1..%d",
				                            value, MAX_JOBS);
			o->jobs = (unsigned)jobs;
		}
	}
	if (!o->nodes)
		return vxpu_cli_usage_error(CMD, "--nodes is required");
	if (!o->pods)
		return vxpu_cli_usage_error(CMD, "--pods is required");
	if (!seen_policy)
		for (int i = 0; i < VXPU_SIM_POLICY_COUNT; i++)
			o->policies[i] = true;
	return 0;
}

/* ---- files ----------------------------------------------------------------- */

static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return vxpu_cli_fail(CMD, "cannot open %s: %s", path, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	while (b) {
		if (n == cap) {
			if (cap >= MAX_FILE_BYTES) {
				free(b);
				fclose(f);
				return vxpu_cli_fail(CMD, "%s: larger than 1 GiB", path);
			}
			char *grown = realloc(b, cap * 2);
			if (!grown) {
				free(b);
				b = NULL;
				break;
			}
			b = grown;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!b) {
		fclose(f);
		return vxpu_cli_fail(CMD, "%s: out of memory", path);
	}
	if (ferror(f)) {
		int e = errno;
		free(b);
		fclose(f);
		return vxpu_cli_fail(CMD, "cannot read %s: %s", path, strerror(e));
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

static int load_trace(const struct options *o, struct vxpu_trace *t)
{
	char *buf;
	size_t len;
	char err[512];
	if (read_file(o->nodes, &buf, &len) != 0)
		return VXPU_EXIT_FAILURE;
	int rc = vxpu_trace_load_nodes(t, buf, len, o->nodes, err, sizeof(err));
	free(buf);
	if (rc < 0)
		return vxpu_cli_fail(CMD, "%s", err);
	if (read_file(o->pods, &buf, &len) != 0)
		return VXPU_EXIT_FAILURE;
	rc = vxpu_trace_load_tasks(t, buf, len, o->pods, err, sizeof(err));
	free(buf);
	if (rc < 0)
		return vxpu_cli_fail(CMD, "%s", err);
	return 0;
}

/* ---- runs ------------------------------------------------------------------ */

static double seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_job(const struct pool *p, struct job *j)
{
	const double start = seconds(CLOCK_THREAD_CPUTIME_ID);
	struct vxpu_sim_options opt = {.policy = j->policy, .seed = j->seed, .tune = p->tune};
	struct vxpu_sim *sim;
	if (vxpu_sim_create(p->trace, &opt, &sim, j->err, sizeof(j->err)) < 0) {
		j->failed = 1;
		return;
	}
	atomic_store(&j->total, vxpu_sim_total(sim));
	size_t steps = 0;
	while (vxpu_sim_step(sim))
		if (++steps % 256 == 0)
			atomic_store(&j->done, steps);
	atomic_store(&j->done, vxpu_sim_total(sim));
	vxpu_sim_result(sim, &j->result);
	vxpu_sim_destroy(sim);
	j->cpu_seconds = seconds(CLOCK_THREAD_CPUTIME_ID) - start;
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->job_count)
			return NULL;
		run_job(p, &p->jobs[i]);
		atomic_fetch_add(&p->finished, 1);
	}
}

static void draw_progress(struct pool *p, bool final)
{
	double sum = 0.0;
	for (size_t i = 0; i < p->job_count; i++) {
		size_t total = atomic_load(&p->jobs[i].total), done = atomic_load(&p->jobs[i].done);
		sum += total ? (double)done / (double)total : 0.0;
	}
	const double frac = final ? 1.0 : sum / (double)p->job_count;
	const int width = 30, filled = (int)(frac * width);
	char bar[32];
	for (int i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\rsimulating [%s] %3d%%  %zu/%zu runs", bar, (int)(frac * 100.0),
	        atomic_load(&p->finished), p->job_count);
	if (final)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

static int run_all(struct pool *p, unsigned threads)
{
	if (threads > p->job_count)
		threads = (unsigned)p->job_count;
	pthread_t tids[MAX_JOBS];
	unsigned started = 0;
	for (; started < threads; started++)
		if (pthread_create(&tids[started], NULL, worker, p) != 0)
			break;
	if (started == 0)
		worker(p); /* no thread could start: run here */
	const bool tty = isatty(STDERR_FILENO);
	while (tty && atomic_load(&p->finished) < p->job_count) {
		draw_progress(p, false);
		nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (tty)
		draw_progress(p, true);
	for (size_t i = 0; i < p->job_count; i++)
		if (p->jobs[i].failed)
			return vxpu_cli_fail(CMD, "%s, seed %" PRIu64 ": %s",
			                     vxpu_sim_policy_name(p->jobs[i].policy),
			                     p->jobs[i].seed, p->jobs[i].err);
	return 0;
}

/* ---- output ---------------------------------------------------------------- */

struct summary {
	enum vxpu_sim_policy policy;
	size_t runs;
	bool reached; /* every seed reached 100 % */
	double unalloc_mean, unalloc_sd;
	double frag_mean, frag_sd;
	double failed_mean, failed_sd;
	double cpu_seconds;
};

static void summarize(const struct pool *p, size_t first, size_t seeds, struct summary *s)
{
	double unalloc[MAX_SEEDS], frag[MAX_SEEDS], failed[MAX_SEEDS];
	s->policy = p->jobs[first].policy;
	s->runs = seeds;
	s->reached = true;
	s->cpu_seconds = 0.0;
	for (size_t k = 0; k < seeds; k++) {
		const struct job *j = &p->jobs[first + k];
		s->reached = s->reached && j->result.reached;
		unalloc[k] = j->result.unallocated_pct;
		frag[k] = j->result.frag_pct;
		failed[k] = (double)j->result.failures_at_100;
		s->cpu_seconds += j->cpu_seconds;
	}
	vxpu_sim_mean_sd(unalloc, seeds, &s->unalloc_mean, &s->unalloc_sd);
	vxpu_sim_mean_sd(frag, seeds, &s->frag_mean, &s->frag_sd);
	vxpu_sim_mean_sd(failed, seeds, &s->failed_mean, &s->failed_sd);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void print_table(const struct options *o, const struct vxpu_trace *t,
                        const struct summary *sums, size_t count, double wall)
{
	printf("trace: %s, %zu tasks; %s, %zu GPU nodes, %" PRIu64 " GPUs", base_name(o->pods),
	       t->task_count, base_name(o->nodes), t->node_count,
	       t->gpu_milli_capacity / VXPU_TRACE_GPU_MILLI);
	if (t->skipped_nodes)
		printf(" (%zu nodes without GPU left out)", t->skipped_nodes);
	printf("\ntune %.3g, seeds %" PRIu64 "..%" PRIu64 "\n\n", o->tune, o->seed_first,
	       o->seed_last);
	printf("%-11s %20s %16s %16s %9s\n", "policy", "unallocated GPU %", "frag rate %",
	       "failed tasks", "cpu s");
	for (size_t i = 0; i < count; i++) {
		const struct summary *s = &sums[i];
		if (s->reached)
			printf("%-11s %12.2f \u00b1 %5.2f", vxpu_sim_policy_name(s->policy),
			       s->unalloc_mean, s->unalloc_sd);
		else
			printf("%-11s %20s", vxpu_sim_policy_name(s->policy), "n/a");
		printf(" %8.2f \u00b1 %5.2f %8.1f \u00b1 %5.1f %9.2f\n", s->frag_mean, s->frag_sd,
		       s->failed_mean, s->failed_sd, s->cpu_seconds);
	}
	printf("\nunallocated GPU %% when arrived GPU work reaches 100 %% of capacity; "
	       "wall %.2f s\n",
	       wall);
}

static cJSON *stat_json(double mean, double sd, const double *values, size_t n, bool valid)
{
	cJSON *o = cJSON_CreateObject();
	if (valid) {
		cJSON_AddNumberToObject(o, "mean", mean);
		cJSON_AddNumberToObject(o, "sd", sd);
		cJSON_AddItemToObject(o, "per_seed", cJSON_CreateDoubleArray(values, (int)n));
	} else {
		cJSON_AddNullToObject(o, "mean");
		cJSON_AddNullToObject(o, "sd");
		cJSON_AddNullToObject(o, "per_seed");
	}
	return o;
}

static int print_json(const struct options *o, const struct vxpu_trace *t, const struct pool *p,
                      const struct summary *sums, size_t count, size_t seeds, double wall)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *nodes = cJSON_AddObjectToObject(root, "nodes");
	cJSON_AddStringToObject(nodes, "file", o->nodes);
	cJSON_AddNumberToObject(nodes, "gpu_nodes", (double)t->node_count);
	cJSON_AddNumberToObject(nodes, "skipped_nodes", (double)t->skipped_nodes);
	cJSON_AddNumberToObject(nodes, "gpus", (double)(t->gpu_milli_capacity / 1000));
	cJSON *pods = cJSON_AddObjectToObject(root, "pods");
	cJSON_AddStringToObject(pods, "file", o->pods);
	cJSON_AddNumberToObject(pods, "tasks", (double)t->task_count);
	cJSON_AddNumberToObject(root, "tune", o->tune);
	cJSON *seed_list = cJSON_AddArrayToObject(root, "seeds");
	for (uint64_t s = o->seed_first; s <= o->seed_last; s++)
		cJSON_AddItemToArray(seed_list, cJSON_CreateNumber((double)s));
	cJSON *list = cJSON_AddArrayToObject(root, "policies");
	double unalloc[MAX_SEEDS], frag[MAX_SEEDS], failed[MAX_SEEDS];
	for (size_t i = 0; i < count; i++) {
		const struct summary *s = &sums[i];
		for (size_t k = 0; k < seeds; k++) {
			const struct vxpu_sim_result *r = &p->jobs[i * seeds + k].result;
			unalloc[k] = r->unallocated_pct;
			frag[k] = r->frag_pct;
			failed[k] = (double)r->failures_at_100;
		}
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "policy", vxpu_sim_policy_name(s->policy));
		cJSON_AddItemToObject(
		        e, "unallocated_gpu_pct",
		        stat_json(s->unalloc_mean, s->unalloc_sd, unalloc, seeds, s->reached));
		cJSON_AddItemToObject(e, "frag_rate_pct",
		                      stat_json(s->frag_mean, s->frag_sd, frag, seeds, s->reached));
		cJSON_AddItemToObject(e, "failed_tasks_at_100",
		                      stat_json(s->failed_mean, s->failed_sd, failed, seeds, true));
		cJSON_AddNumberToObject(e, "cpu_seconds", s->cpu_seconds);
		cJSON_AddItemToArray(list, e);
	}
	cJSON_AddNumberToObject(root, "wall_seconds", wall);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return vxpu_cli_fail(CMD, "out of memory");
	puts(text);
	cJSON_free(text);
	return 0;
}

static int write_curve(const char *path, const struct pool *p)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return vxpu_cli_fail(CMD, "cannot write %s: %s", path, strerror(errno));
	fprintf(f,
	        "policy,seed,arrived_pct,arrivals,allocated_pct,unallocated_pct,frag_rate_pct\n");
	for (size_t i = 0; i < p->job_count; i++) {
		const struct job *j = &p->jobs[i];
		for (size_t b = 0; b < j->result.curve_len; b++) {
			const struct vxpu_sim_point *pt = &j->result.curve[b];
			if (pt->arrivals == 0)
				continue;
			fprintf(f, "%s,%" PRIu64 ",%zu,%" PRIu32 ",%.4f,%.4f,%.4f\n",
			        vxpu_sim_policy_name(j->policy), j->seed, b, pt->arrivals,
			        pt->allocated_pct, 100.0 - pt->allocated_pct, pt->frag_pct);
		}
	}
	if (fclose(f) != 0)
		return vxpu_cli_fail(CMD, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

static int cmd_simulate_run(int argc, char **argv)
{
	struct options o = {0};
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc;
	struct vxpu_trace trace;
	vxpu_trace_init(&trace);
	rc = load_trace(&o, &trace);
	if (rc != 0) {
		vxpu_trace_free(&trace);
		return rc;
	}
	const size_t seeds = (size_t)(o.seed_last - o.seed_first + 1);
	size_t policies = 0;
	for (int i = 0; i < VXPU_SIM_POLICY_COUNT; i++)
		policies += o.policies[i];
	struct pool pool = {.trace = &trace, .tune = o.tune, .job_count = policies * seeds};
	pool.jobs = calloc(pool.job_count, sizeof(*pool.jobs));
	struct summary *sums = calloc(policies, sizeof(*sums));
	if (!pool.jobs || !sums) {
		rc = vxpu_cli_fail(CMD, "out of memory");
		goto out;
	}
	size_t k = 0;
	for (int i = 0; i < VXPU_SIM_POLICY_COUNT; i++) {
		if (!o.policies[i])
			continue;
		for (size_t s = 0; s < seeds; s++, k++) {
			pool.jobs[k].policy = (enum vxpu_sim_policy)i;
			pool.jobs[k].seed = o.seed_first + s;
		}
	}
	const double start = seconds(CLOCK_MONOTONIC);
	rc = run_all(&pool, o.jobs);
	const double wall = seconds(CLOCK_MONOTONIC) - start;
	if (rc != 0)
		goto out;
	bool all_reached = true;
	for (size_t i = 0; i < policies; i++) {
		summarize(&pool, i * seeds, seeds, &sums[i]);
		all_reached = all_reached && sums[i].reached;
	}
	if (!all_reached)
		fprintf(stderr,
		        "vxpu simulate: arrivals stop short of 100 %% of capacity "
		        "(--tune %.3g): no figure at 100 %%\n",
		        o.tune);
	if (o.curve && (rc = write_curve(o.curve, &pool)) != 0)
		goto out;
	if (o.json)
		rc = print_json(&o, &trace, &pool, sums, policies, seeds, wall);
	else
		print_table(&o, &trace, sums, policies, wall);
out:
	free(pool.jobs);
	free(sums);
	vxpu_trace_free(&trace);
	return rc;
}

static const struct vxpu_command vxpu_cmd_simulate = {
        .name = "simulate",
        .summary = "replay a GPU cluster trace under placement policies",
        .usage = usage_text,
        .run = cmd_simulate_run,
};

VXPU_REGISTER_COMMAND(vxpu_cmd_simulate);
