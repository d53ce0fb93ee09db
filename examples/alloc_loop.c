/*
 * alloc_loop - a sample GPU workload: allocate device memory in chunks,
 * touch it, hold it, free it. Written against the CUDA driver API only and
 * linked to libcuda.so.1 by name, so the same binary runs on the simulator
 * (LD_LIBRARY_PATH=build/sim), on a real NVIDIA driver, and under libvxpu's
 * limiter, which knows nothing of this program.
 *
 *   alloc_loop SIZE [--chunk SIZE] [--hold SECONDS] [--device N]
 *
 * SIZE uses vxpu's size syntax (docs/units.md; a bare number is MiB).
 * Prints one line per chunk and what cuMemGetInfo reports, holds the memory
 * for --hold seconds (default 0; SIGINT/SIGTERM end the hold early), frees
 * it. Exit status: 0 all allocated, 3 an allocation failed with
 * CUDA_ERROR_OUT_OF_MEMORY (what was obtained is printed and freed), 1 any
 * other driver error, 2 a usage error.
 */
#include "core/size.h"
#include "cuda/cuda_abi.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(const char *why)
{
	fprintf(stderr,
	        "alloc_loop: %s\nusage: alloc_loop SIZE [--chunk SIZE] [--hold SECONDS] "
	        "[--device N]\n",
	        why);
	return 2;
}

static const char *err_name(CUresult rc)
{
	const char *n = NULL;
	cuGetErrorName(rc, &n);
	return n ? n : "unknown error";
}

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t total = 0, chunk = 0;
	unsigned long hold = 0, device = 0;
	char why[200];
	if (argc < 2)
		return usage("missing SIZE");
	if (vxpu_size_parse(argv[1], VXPU_SIZE_BARE_MIB, &total, why, sizeof(why)) != 0)
		return usage(why);
	if (total == 0)
		return usage("SIZE must be more than 0");
	for (int i = 2; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--chunk") == 0) {
			if (!val)
				return usage("--chunk needs a size");
			if (vxpu_size_parse(val, VXPU_SIZE_BARE_MIB, &chunk, why, sizeof(why)) != 0)
				return usage(why);
			if (chunk == 0)
				return usage("--chunk must be more than 0");
		} else if (strcmp(argv[i], "--hold") == 0) {
			if (parse_count(val, 86400, &hold) != 0)
				return usage("invalid --hold (whole seconds, at most 86400)");
		} else if (strcmp(argv[i], "--device") == 0) {
			if (parse_count(val, 63, &device) != 0)
				return usage("invalid --device");
		} else {
			snprintf(why, sizeof(why), "unknown argument \"%s\"", argv[i]);
			return usage(why);
		}
	}
	if (!chunk || chunk > total)
		chunk = total;

	CUresult rc;
	CUdevice dev;
	CUcontext ctx;
	if ((rc = cuInit(0)) != CUDA_SUCCESS ||
	    (rc = cuDeviceGet(&dev, (int)device)) != CUDA_SUCCESS ||
	    (rc = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS ||
	    (rc = cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) {
		fprintf(stderr, "alloc_loop: cannot start on device %lu: %s\n", device,
		        err_name(rc));
		return 1;
	}
	size_t nchunks = (size_t)((total + chunk - 1) / chunk);
	CUdeviceptr *ptrs = calloc(nchunks, sizeof(*ptrs));
	if (!ptrs)
		return 1;
	uint64_t got = 0;
	size_t n = 0;
	int status = 0;
	while (got < total) {
		uint64_t want = total - got < chunk ? total - got : chunk;
		rc = cuMemAlloc_v2(&ptrs[n], (size_t)want);
		if (rc != CUDA_SUCCESS) {
			printf("allocation of %llu bytes failed: %s\n", (unsigned long long)want,
			       err_name(rc));
			status = rc == CUDA_ERROR_OUT_OF_MEMORY ? 3 : 1;
			break;
		}
		/* Touch the chunk's first page, as a real workload would. */
		cuMemsetD8_v2(ptrs[n], 0xab, want < 4096 ? (size_t)want : 4096);
		got += want;
		n++;
		printf("chunk %zu: %llu bytes, %llu in all\n", n, (unsigned long long)want,
		       (unsigned long long)got);
	}
	size_t free_b = 0, total_b = 0;
	cuMemGetInfo_v2(&free_b, &total_b);
	printf("allocated %llu bytes in %zu chunks; device reports free=%zu total=%zu\n",
	       (unsigned long long)got, n, free_b, total_b);
	fflush(stdout);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (unsigned long s = 0; s < hold * 10 && !stop; s++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < n; i++)
		cuMemFree_v2(ptrs[i]);
	free(ptrs);
	cuDevicePrimaryCtxRelease_v2(dev);
	return status;
}
