/*
 * busy_loop - a sample compute workload: launch `busy` kernels back to back
 * (or at a fixed rhythm) for a while and report the share of the device it
 * got. It reaches the driver the way the CUDA runtime does:
 * dlopen("libcuda.so.1"), then every entry point through cuGetProcAddress
 * with the CUDA version it was written for (and the per-thread default
 * stream flag with --per-thread). So it runs unchanged on the simulator
 * (LD_LIBRARY_PATH=build/sim), on a real driver (with a real `busy` kernel
 * image it would need; the simulator accepts any image), and under an
 * interposing limiter that must catch cuGetProcAddress users.
 *
 *   busy_loop [--kernel-us N] [--seconds S] [--device N] [--per-thread]
 *             [--launch plain|ex|cooperative|graph] [--graph-kernels K]
 *             [--warmup-ms W] [--interval-ms I] [--period-us P]
 *
 * --launch picks the entry point: cuLaunchKernel, cuLaunchKernelEx,
 * cuLaunchCooperativeKernel, or cuGraphLaunch of a graph captured once with
 * K busy kernels (a "unit" of work is then the graph). --period-us P is the
 * latency mode: one unit every P us (paced on the host clock), each waited
 * for; it prints the p50/p99/max latency from the launch call to the unit's
 * end on the device (its event's time), so the host's own scheduling delays
 * (waking up on time, waking from the synchronisation) are not counted:
 * what remains is the device's queue and whatever held the launch back.
 *
 * Measuring: a reference event is recorded on an idle stream at the start
 * (its host time is known), and an event after every unit. A unit's end in
 * host time is reference + elapsed(reference, end event), and since a busy
 * kernel occupies the device exactly its argument, the unit used the device
 * over [end - duration, end]. The share is the overlap of those intervals
 * with the measured window [start + warmup, stop] divided by the window's
 * length - independent of how long the launches themselves waited, which is
 * what a limiter makes them do. With a compute limit of P %, it reads P %.
 *
 * Prints one line: units launched, units per second, device_share_percent,
 * the parameters, and when launching started and stopped and when the last
 * unit ended on the device (CLOCK_MONOTONIC seconds, to line up several
 * programs' timelines); with --interval-ms, one "interval" line per
 * interval; in latency mode, latency_p50_us / _p90_ / _p99_ / _max_us.
 */
#include "cuda/cuda_abi.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITTEN_FOR 12000 /* the CUDA version this program asks entry points for */
#define IN_FLIGHT 4

static struct {
	CUresult (*GetProcAddress)(const char *, void **, int, cuuint64_t,
	                           CUdriverProcAddressQueryResult *);
	CUresult (*Init)(unsigned int);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*PrimaryRetain)(CUcontext *, CUdevice);
	CUresult (*PrimaryRelease)(CUdevice);
	CUresult (*CtxSetCurrent)(CUcontext);
	CUresult (*ModuleLoadData)(CUmodule *, const void *);
	CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*LaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int,
	                         unsigned int, unsigned int, unsigned int, CUstream, void **,
	                         void **);
	CUresult (*LaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **, void **);
	CUresult (*LaunchCooperative)(CUfunction, unsigned int, unsigned int, unsigned int,
	                              unsigned int, unsigned int, unsigned int, unsigned int,
	                              CUstream, void **);
	CUresult (*StreamCreate)(CUstream *, unsigned int);
	CUresult (*BeginCapture)(CUstream, CUstreamCaptureMode);
	CUresult (*EndCapture)(CUstream, CUgraph *);
	CUresult (*GraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
	CUresult (*GraphLaunch)(CUgraphExec, CUstream);
	CUresult (*EventCreate)(CUevent *, unsigned int);
	CUresult (*EventRecord)(CUevent, CUstream);
	CUresult (*EventSynchronize)(CUevent);
	CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
	CUresult (*StreamSynchronize)(CUstream);
} cu;

enum launch_kind { LAUNCH_PLAIN, LAUNCH_EX, LAUNCH_COOPERATIVE, LAUNCH_GRAPH };

static int usage(const char *why)
{
	fprintf(stderr,
	        "busy_loop: %s\nusage: busy_loop [--kernel-us N] [--seconds S] [--device N] "
	        "[--per-thread]\n"
	        "                 [--launch plain|ex|cooperative|graph] [--graph-kernels K]\n"
	        "                 [--warmup-ms W] [--interval-ms I] [--period-us P]\n",
	        why);
	return 2;
}

static int parse_count(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int resolve(const char *name, void **slot, cuuint64_t flags)
{
	CUdriverProcAddressQueryResult st;
	if (cu.GetProcAddress(name, slot, WRITTEN_FOR, flags, &st) != CUDA_SUCCESS || !*slot) {
		fprintf(stderr, "busy_loop: the driver has no %s for CUDA %d (status %d)\n", name,
		        WRITTEN_FOR, (int)st);
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define TRY(call)                                                                                  \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			fprintf(stderr, "busy_loop: %s failed: %d\n", #call, (int)rc_);            \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

/* What the measurement accumulates. */
static struct {
	double window_from, window_to; /* host seconds */
	double busy;                   /* seconds of the window the units occupied */
	double interval;               /* 0: no interval lines */
	double *bins;                  /* busy seconds per interval */
	size_t nbins;
	double t0;
	double last_end; /* when the last unit ended on the device */
} m;

/* Adds a unit that occupied the device over [end - duration, end]. */
static void account(double end, double duration)
{
	double a = end - duration, b = end;
	if (end > m.last_end)
		m.last_end = end;
	double s = a > m.window_from ? a : m.window_from;
	double t = b < m.window_to ? b : m.window_to;
	if (t > s)
		m.busy += t - s;
	if (m.interval <= 0)
		return;
	size_t first = a > m.t0 ? (size_t)((a - m.t0) / m.interval) : 0;
	for (size_t k = first; k < m.nbins; k++) {
		double lo = m.t0 + (double)k * m.interval, hi = lo + m.interval;
		if (lo >= b)
			break;
		double x = a > lo ? a : lo, y = b < hi ? b : hi;
		if (y > x)
			m.bins[k] += y - x;
	}
}

int main(int argc, char **argv)
{
	unsigned long kernel_us = 1000, seconds = 5, device = 0, graph_kernels = 4;
	unsigned long warmup_ms = 0, interval_ms = 0, period_us = 0;
	enum launch_kind kind = LAUNCH_PLAIN;
	cuuint64_t flags = CU_GET_PROC_ADDRESS_DEFAULT;
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--kernel-us") == 0) {
			if (parse_count(val, 1, 10000000, &kernel_us) != 0)
				return usage("invalid --kernel-us (1..10000000)");
			i++;
		} else if (strcmp(argv[i], "--seconds") == 0) {
			if (parse_count(val, 1, 86400, &seconds) != 0)
				return usage("invalid --seconds (1..86400)");
			i++;
		} else if (strcmp(argv[i], "--device") == 0) {
			if (parse_count(val, 0, 63, &device) != 0)
				return usage("invalid --device");
			i++;
		} else if (strcmp(argv[i], "--graph-kernels") == 0) {
			if (parse_count(val, 1, 1000, &graph_kernels) != 0)
				return usage("invalid --graph-kernels (1..1000)");
			i++;
		} else if (strcmp(argv[i], "--warmup-ms") == 0) {
			if (parse_count(val, 0, 3600000, &warmup_ms) != 0)
				return usage("invalid --warmup-ms");
			i++;
		} else if (strcmp(argv[i], "--interval-ms") == 0) {
			if (parse_count(val, 1, 3600000, &interval_ms) != 0)
				return usage("invalid --interval-ms (1..3600000)");
			i++;
		} else if (strcmp(argv[i], "--period-us") == 0) {
			if (parse_count(val, 1, 10000000, &period_us) != 0)
				return usage("invalid --period-us (1..10000000)");
			i++;
		} else if (strcmp(argv[i], "--launch") == 0) {
			if (!val)
				return usage("--launch needs a value");
			if (strcmp(val, "plain") == 0)
				kind = LAUNCH_PLAIN;
			else if (strcmp(val, "ex") == 0)
				kind = LAUNCH_EX;
			else if (strcmp(val, "cooperative") == 0)
				kind = LAUNCH_COOPERATIVE;
			else if (strcmp(val, "graph") == 0)
				kind = LAUNCH_GRAPH;
			else
				return usage("invalid --launch (plain, ex, cooperative or graph)");
			i++;
		} else if (strcmp(argv[i], "--per-thread") == 0) {
			flags = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
		} else {
			return usage("unknown argument");
		}
	}
	if (warmup_ms >= seconds * 1000)
		return usage("--warmup-ms must be shorter than --seconds");

	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "busy_loop: cannot load libcuda.so.1: %s\n", dlerror());
		return 1;
	}
	*(void **)&cu.GetProcAddress = dlsym(lib, "cuGetProcAddress_v2");
	if (!cu.GetProcAddress) {
		fprintf(stderr, "busy_loop: libcuda.so.1 has no cuGetProcAddress_v2\n");
		return 1;
	}
	if (resolve("cuInit", (void **)&cu.Init, flags) ||
	    resolve("cuDeviceGet", (void **)&cu.DeviceGet, flags) ||
	    resolve("cuDevicePrimaryCtxRetain", (void **)&cu.PrimaryRetain, flags) ||
	    resolve("cuDevicePrimaryCtxRelease", (void **)&cu.PrimaryRelease, flags) ||
	    resolve("cuCtxSetCurrent", (void **)&cu.CtxSetCurrent, flags) ||
	    resolve("cuModuleLoadData", (void **)&cu.ModuleLoadData, flags) ||
	    resolve("cuModuleGetFunction", (void **)&cu.ModuleGetFunction, flags) ||
	    resolve("cuLaunchKernel", (void **)&cu.LaunchKernel, flags) ||
	    resolve("cuLaunchKernelEx", (void **)&cu.LaunchKernelEx, flags) ||
	    resolve("cuLaunchCooperativeKernel", (void **)&cu.LaunchCooperative, flags) ||
	    resolve("cuStreamCreate", (void **)&cu.StreamCreate, flags) ||
	    resolve("cuStreamBeginCapture", (void **)&cu.BeginCapture, flags) ||
	    resolve("cuStreamEndCapture", (void **)&cu.EndCapture, flags) ||
	    resolve("cuGraphInstantiate", (void **)&cu.GraphInstantiate, flags) ||
	    resolve("cuGraphLaunch", (void **)&cu.GraphLaunch, flags) ||
	    resolve("cuEventCreate", (void **)&cu.EventCreate, flags) ||
	    resolve("cuEventRecord", (void **)&cu.EventRecord, flags) ||
	    resolve("cuEventSynchronize", (void **)&cu.EventSynchronize, flags) ||
	    resolve("cuEventElapsedTime", (void **)&cu.EventElapsedTime, flags) ||
	    resolve("cuStreamSynchronize", (void **)&cu.StreamSynchronize, flags))
		return 1;

	CUdevice dev;
	CUcontext ctx;
	CUmodule mod;
	CUfunction busy;
	static const char image[] = "busy kernel image";
	TRY(cu.Init(0));
	TRY(cu.DeviceGet(&dev, (int)device));
	TRY(cu.PrimaryRetain(&ctx, dev));
	TRY(cu.CtxSetCurrent(ctx));
	TRY(cu.ModuleLoadData(&mod, image));
	TRY(cu.ModuleGetFunction(&busy, mod, "busy"));

	uint64_t arg = kernel_us;
	void *params[] = {&arg};
	/* Work goes to the default stream, except a graph (capture needs a stream). */
	CUstream work = NULL, idle;
	TRY(cu.StreamCreate(&idle, CU_STREAM_NON_BLOCKING));
	CUgraphExec exec = NULL;
	unsigned long per_unit = kind == LAUNCH_GRAPH ? graph_kernels : 1;
	if (kind == LAUNCH_GRAPH) {
		CUgraph graph;
		TRY(cu.StreamCreate(&work, CU_STREAM_NON_BLOCKING));
		TRY(cu.BeginCapture(work, CU_STREAM_CAPTURE_MODE_GLOBAL));
		for (unsigned long k = 0; k < graph_kernels; k++)
			TRY(cu.LaunchKernel(busy, 1, 1, 1, 128, 1, 1, 0, work, params, NULL));
		TRY(cu.EndCapture(work, &graph));
		TRY(cu.GraphInstantiate(&exec, graph, 0));
	}
	CUlaunchConfig config = {1, 1, 1, 128, 1, 1, 0, work, NULL, 0};
	double unit_s = (double)kernel_us * (double)per_unit / 1e6;

	CUevent ref, end[IN_FLIGHT];
	TRY(cu.EventCreate(&ref, CU_EVENT_DEFAULT));
	for (int i = 0; i < IN_FLIGHT; i++)
		TRY(cu.EventCreate(&end[i], CU_EVENT_DEFAULT));
	double before = now_s();
	TRY(cu.EventRecord(ref, idle));
	double ref_s = (before + now_s()) / 2;

	double t0 = now_s();
	m.t0 = t0;
	m.window_from = t0 + (double)warmup_ms / 1000;
	m.window_to = t0 + (double)seconds; /* adjusted to the real stop below */
	if (interval_ms) {
		m.interval = (double)interval_ms / 1000;
		m.nbins = (size_t)(seconds * 1000 / interval_ms);
		m.bins = calloc(m.nbins ? m.nbins : 1, sizeof(double));
		if (!m.bins)
			return 1;
	}
	size_t lat_cap = period_us ? (size_t)(seconds * 1000000 / period_us) + 2 : 0, lat_n = 0;
	double *latency = lat_cap ? calloc(lat_cap, sizeof(double)) : NULL;
	if (lat_cap && !latency)
		return 1;

	unsigned long long launched = 0, done = 0;
	for (;;) {
		double planned = t0 + (double)launched * (double)period_us / 1e6;
		if (period_us)
			sleep_until(planned);
		double at = now_s();
		if (at - t0 >= (double)seconds)
			break;
		int slot = (int)(launched % IN_FLIGHT);
		if (launched >= IN_FLIGHT) { /* reuse the oldest slot once its unit is done */
			float ms = 0;
			TRY(cu.EventSynchronize(end[slot]));
			TRY(cu.EventElapsedTime(&ms, ref, end[slot]));
			account(ref_s + (double)ms / 1e3, unit_s);
			done++;
		}
		switch (kind) {
		case LAUNCH_PLAIN:
			TRY(cu.LaunchKernel(busy, 1, 1, 1, 128, 1, 1, 0, work, params, NULL));
			break;
		case LAUNCH_EX:
			TRY(cu.LaunchKernelEx(&config, busy, params, NULL));
			break;
		case LAUNCH_COOPERATIVE:
			TRY(cu.LaunchCooperative(busy, 1, 1, 1, 128, 1, 1, 0, work, params));
			break;
		case LAUNCH_GRAPH:
			TRY(cu.GraphLaunch(exec, work));
			break;
		}
		TRY(cu.EventRecord(end[slot], work));
		launched++;
		if (period_us) { /* latency mode: from the launch call to the end on the device */
			float ms = 0;
			TRY(cu.EventSynchronize(end[slot]));
			TRY(cu.EventElapsedTime(&ms, ref, end[slot]));
			double lat = ref_s + (double)ms / 1e3 - at;
			if (at >= m.window_from && lat_n < lat_cap)
				latency[lat_n++] = lat;
		}
	}
	m.window_to = now_s();
	while (done < launched) {
		int slot = (int)(done % IN_FLIGHT);
		float ms = 0;
		TRY(cu.EventSynchronize(end[slot]));
		TRY(cu.EventElapsedTime(&ms, ref, end[slot]));
		account(ref_s + (double)ms / 1e3, unit_s);
		done++;
	}
	TRY(cu.StreamSynchronize(work));
	double window = m.window_to - m.window_from;
	printf("launched=%llu units_per_second=%.1f device_share_percent=%.2f kernel_us=%lu "
	       "kernels_per_unit=%lu launch=%s per_thread=%d start_s=%.6f stop_s=%.6f "
	       "last_end_s=%.6f\n",
	       launched, m.busy / unit_s / window, 100.0 * m.busy / window, kernel_us, per_unit,
	       kind == LAUNCH_PLAIN         ? "plain"
	       : kind == LAUNCH_EX          ? "ex"
	       : kind == LAUNCH_COOPERATIVE ? "cooperative"
	                                    : "graph",
	       flags == CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, t0, m.window_to, m.last_end);
	for (size_t k = 0; k < m.nbins; k++) {
		double lo = (double)k * m.interval;
		if (m.t0 + lo + m.interval > m.window_to)
			break;
		printf("interval from_ms=%.0f share_percent=%.2f\n", lo * 1000,
		       100.0 * m.bins[k] / m.interval);
	}
	if (period_us && lat_n > 0) {
		qsort(latency, lat_n, sizeof(double), compare_double);
		size_t p99 = (lat_n * 99 + 99) / 100 - 1;
		size_t p90 = (lat_n * 90 + 99) / 100 - 1;
		printf("latency samples=%zu latency_p50_us=%.0f latency_p90_us=%.0f "
		       "latency_p99_us=%.0f latency_max_us=%.0f\n",
		       lat_n, latency[lat_n / 2] * 1e6, latency[p90] * 1e6, latency[p99] * 1e6,
		       latency[lat_n - 1] * 1e6);
		if (getenv("BUSY_LOOP_LATENCIES"))
			for (size_t k = 0; k < lat_n; k++)
				printf("%.0f\n", latency[k] * 1e6);
	}
	free(latency);
	free(m.bins);
	cu.PrimaryRelease(dev);
	dlclose(lib);
	return 0;
}
