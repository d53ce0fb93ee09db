/*
 * usage.c - per-process device utilisation through NVML (see usage.h).
 */
#include "node/usage.h"

#include "cuda/nvml_abi.h"
#include "node/nvmllib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE_MAX_SAMPLES 256

struct vxpu_usage_reader {
	nvmlReturn_t (*shutdown)(void);
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
	nvmlReturn_t (*process_util)(nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned *,
	                             unsigned long long);
	unsigned long long last_seen[VXPU_FOUND_MAX_DEVICES];
	nvmlProcessUtilizationSample_t samples[USAGE_MAX_SAMPLES];
};

int vxpu_usage_open(struct vxpu_usage_reader **out, const struct vxpu_discover_options *opts,
                    char *err, size_t errlen)
{
	void *lib = vxpu_nvml_open(opts, err, errlen);
	if (!lib)
		return -1;
	struct vxpu_usage_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nvmlReturn_t (*init)(void);
	*(void **)&init = vxpu_nvml_sym(lib, "nvmlInit_v2", "nvmlInit");
	*(void **)&r->shutdown = vxpu_nvml_sym(lib, "nvmlShutdown", NULL);
	*(void **)&r->by_index =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
	*(void **)&r->process_util = vxpu_nvml_sym(lib, "nvmlDeviceGetProcessUtilization", NULL);
	if (!init || !r->shutdown || !r->by_index || !r->process_util) {
		snprintf(err, errlen,
		         "the management library lacks the NVML utilisation entry points");
		free(r);
		return -1;
	}
	if (init() != NVML_SUCCESS) {
		snprintf(err, errlen, "nvmlInit failed");
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void vxpu_usage_close(struct vxpu_usage_reader *r)
{
	if (!r)
		return;
	r->shutdown();
	free(r);
}

int vxpu_usage_processes(struct vxpu_usage_reader *r, unsigned index, const int32_t *pids,
                         size_t npids, double *percent)
{
	*percent = 0;
	if (index >= VXPU_FOUND_MAX_DEVICES)
		return -1;
	nvmlDevice_t dev;
	if (r->by_index(index, &dev) != NVML_SUCCESS)
		return -1;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	unsigned long long now_us = (unsigned long long)now.tv_sec * 1000000ULL +
	                            (unsigned long long)now.tv_nsec / 1000ULL;
	unsigned count = USAGE_MAX_SAMPLES;
	nvmlReturn_t rc = r->process_util(dev, r->samples, &count, r->last_seen[index]);
	r->last_seen[index] = now_us;
	if (rc == NVML_ERROR_NOT_FOUND)
		return 0; /* nobody ran kernels in the window */
	if (rc != NVML_SUCCESS && rc != NVML_ERROR_INSUFFICIENT_SIZE)
		return -1;
	if (count > USAGE_MAX_SAMPLES)
		count = USAGE_MAX_SAMPLES;
	double total = 0;
	for (size_t p = 0; p < npids; p++) {
		double sum = 0;
		unsigned n = 0;
		for (unsigned s = 0; s < count; s++) {
			if ((int32_t)r->samples[s].pid == pids[p]) {
				sum += r->samples[s].smUtil;
				n++;
			}
		}
		if (n)
			total += sum / n;
	}
	*percent = total > 100 ? 100 : total;
	return 0;
}
