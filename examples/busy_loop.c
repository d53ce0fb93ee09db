/*
 * busy_loop - a sample compute workload: launch `busy` kernels back to back
 * for a while and report the throughput achieved. It reaches the driver the
 * way the CUDA runtime does: dlopen("libcuda.so.1"), then every entry point
 * through cuGetProcAddress with the CUDA version it was written for (and the
 * per-thread default stream flag with --per-thread). So it runs unchanged on
 * the simulator (LD_LIBRARY_PATH=build/sim), on a real driver (with a real
 * `busy` kernel image it would need; the simulator accepts any image), and
 * under an interposing limiter that must catch cuGetProcAddress users.
 *
 *   busy_loop [--kernel-us N] [--seconds S] [--device N] [--per-thread]
 *
 * Prints: kernels launched, kernels per second, and the share of wall time
 * the device spent on this process's kernels (from event timing). With a
 * compute limit of P %, the share should read about P %.
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
	CUresult (*EventCreate)(CUevent *, unsigned int);
	CUresult (*EventRecord)(CUevent, CUstream);
	CUresult (*EventSynchronize)(CUevent);
	CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
	CUresult (*StreamSynchronize)(CUstream);
} cu;

static int usage(const char *why)
{
	fprintf(stderr,
	        "busy_loop: %s\nusage: busy_loop [--kernel-us N] [--seconds S] [--device N] "
	        "[--per-thread]\n",
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

#define TRY(call)                                                                                  \
	do {                                                                                       \
		CUresult rc_ = (call);                                                             \
		if (rc_ != CUDA_SUCCESS) {                                                         \
			fprintf(stderr, "busy_loop: %s failed: %d\n", #call, (int)rc_);            \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	unsigned long kernel_us = 1000, seconds = 5, device = 0;
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
		} else if (strcmp(argv[i], "--per-thread") == 0) {
			flags = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
		} else {
			return usage("unknown argument");
		}
	}

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

	/* Each kernel is bracketed by events so its device time can be summed. */
	CUevent start[IN_FLIGHT], end[IN_FLIGHT];
	for (int i = 0; i < IN_FLIGHT; i++) {
		TRY(cu.EventCreate(&start[i], CU_EVENT_DEFAULT));
		TRY(cu.EventCreate(&end[i], CU_EVENT_DEFAULT));
	}
	uint64_t arg = kernel_us;
	void *params[] = {&arg};
	double t0 = now_s(), device_ms = 0;
	unsigned long long launched = 0, done = 0;
	while (now_s() - t0 < (double)seconds) {
		int slot = (int)(launched % IN_FLIGHT);
		if (launched >= IN_FLIGHT) { /* reuse the oldest slot once its kernel is done */
			float ms = 0;
			TRY(cu.EventSynchronize(end[slot]));
			TRY(cu.EventElapsedTime(&ms, start[slot], end[slot]));
			device_ms += ms;
			done++;
		}
		TRY(cu.EventRecord(start[slot], NULL));
		TRY(cu.LaunchKernel(busy, 1, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
		TRY(cu.EventRecord(end[slot], NULL));
		launched++;
	}
	while (done < launched) {
		int slot = (int)(done % IN_FLIGHT);
		float ms = 0;
		TRY(cu.EventSynchronize(end[slot]));
		TRY(cu.EventElapsedTime(&ms, start[slot], end[slot]));
		device_ms += ms;
		done++;
	}
	TRY(cu.StreamSynchronize(NULL));
	double wall = now_s() - t0;
	printf("launched=%llu kernels_per_second=%.1f device_share_percent=%.1f kernel_us=%lu "
	       "per_thread=%d\n",
	       launched, (double)launched / wall, device_ms / (wall * 10.0), kernel_us,
	       flags == CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
	cu.PrimaryRelease(dev);
	dlclose(lib);
	return 0;
}
