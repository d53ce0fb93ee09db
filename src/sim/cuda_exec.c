/*
 * cuda_exec.c - modules and functions, kernel launches, streams, events.
 *
 * Kernels: any module image loads (the simulator cannot run device code),
 * and any function name resolves. Two names have behaviour:
 *   busy(uint64_t usec)                               occupies the device usec us
 *   fill(CUdeviceptr dst, uint32_t value, uint64_t n) writes n words of value
 * (C++-mangled spellings _Z4busy... and _Z4fill... too). Every other kernel
 * takes SIM_GENERIC_KERNEL_NS of device time and does nothing.
 *
 * A launch is asynchronous: it reserves its interval on the device's shared
 * timeline (simstate: one kernel at a time per device, all processes, in
 * launch order) and returns; the stream remembers when its last work ends
 * and synchronisation sleeps until then. fill writes its memory at launch
 * time: every later observer (a copy, a sync) is ordered after it anyway.
 * Each stream has a hardware-like launch queue of SIM_QUEUE_DEPTH entries;
 * a launch into a full queue blocks until the oldest entry completes, so a
 * tight launch loop cannot run unboundedly ahead of the device.
 *
 * Streams: NULL (or CU_STREAM_LEGACY) is the context's legacy default
 * stream, which synchronises with all work of the context; the `_ptsz`
 * entry points (and CU_STREAM_PER_THREAD) map NULL to a per-thread default
 * stream. Events record the completion time of the work before them, so
 * cuEventElapsedTime measures device time, not host time.
 */
#include "sim/cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_MAGIC 0x4d525453u /* "STRM" */
#define EVENT_MAGIC 0x544e5645u  /* "EVNT" */
#define MODULE_MAGIC 0x444f4d53u /* "SMOD" */
#define FUNC_MAGIC 0x434e5546u   /* "FUNC" */

struct sim_module;

struct sim_function {
	uint32_t magic;
	struct sim_module *module;
	enum sim_kernel_kind kind;
	char name[128];
	struct sim_function *next;
};

struct sim_module {
	uint32_t magic;
	struct sim_ctx *ctx;
	struct sim_function *functions;
	struct sim_module *next;
};

static struct sim_module *modules;

static void module_free(struct sim_module *m)
{
	while (m->functions) {
		struct sim_function *f = m->functions;
		m->functions = f->next;
		free(f);
	}
	free(m);
}

void sim_modules_reset(void)
{
	while (modules) {
		struct sim_module *m = modules;
		modules = m->next;
		module_free(m);
	}
	while (sim.streams) {
		struct sim_stream *s = sim.streams;
		sim.streams = s->next;
		free(s);
	}
	while (sim.events) {
		struct sim_event *e = sim.events;
		sim.events = e->next;
		free(e);
	}
}

/* ---- streams ---------------------------------------------------------------------- */

static bool stream_valid(const struct sim_stream *s)
{
	for (const struct sim_stream *x = sim.streams; x; x = x->next)
		if (x == s)
			return x->magic == STREAM_MAGIC;
	return false;
}

static struct sim_stream *stream_new(struct sim_ctx *ctx, unsigned int flags, int priority)
{
	struct sim_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->magic = STREAM_MAGIC;
	s->ctx = ctx;
	s->flags = flags;
	s->priority = priority;
	s->next = sim.streams;
	sim.streams = s;
	return s;
}

static void stream_unlink_free(struct sim_stream *s)
{
	struct sim_stream **pp = &sim.streams;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	s->magic = 0;
	free(s);
}

CUresult sim_stream_resolve(CUstream h, bool ptsz, struct sim_stream **out)
{
	bool legacy = h == CU_STREAM_LEGACY || (h == NULL && !ptsz);
	bool per_thread = h == CU_STREAM_PER_THREAD || (h == NULL && ptsz);
	if (!legacy && !per_thread) {
		struct sim_stream *s = (struct sim_stream *)h;
		if (!stream_valid(s) || s->per_thread)
			return CUDA_ERROR_INVALID_HANDLE;
		*out = s;
		return CUDA_SUCCESS;
	}
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (legacy) {
		if (!ctx->legacy && !(ctx->legacy = stream_new(ctx, CU_STREAM_DEFAULT, 0)))
			return CUDA_ERROR_OUT_OF_MEMORY;
		*out = ctx->legacy;
		return CUDA_SUCCESS;
	}
	pthread_t self = pthread_self();
	for (struct sim_stream *s = sim.streams; s; s = s->next) {
		if (s->per_thread && s->ctx == ctx && pthread_equal(s->owner, self)) {
			*out = s;
			return CUDA_SUCCESS;
		}
	}
	struct sim_stream *s = stream_new(ctx, CU_STREAM_DEFAULT, 0);
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	s->per_thread = true;
	s->owner = self;
	*out = s;
	return CUDA_SUCCESS;
}

/* When everything submitted to s so far will have completed. */
static uint64_t stream_done_time(const struct sim_stream *s)
{
	uint64_t t = s->last_end;
	if (s == s->ctx->legacy && s->ctx->last_end > t)
		t = s->ctx->last_end; /* the legacy stream waits for all blocking work */
	if (!(s->flags & CU_STREAM_NON_BLOCKING) && s->ctx->legacy && s->ctx->legacy->last_end > t)
		t = s->ctx->legacy->last_end;
	return t;
}

CUresult sim_stream_wait(struct sim_stream *s)
{
	sim_lock();
	if (!stream_valid(s)) {
		sim_unlock();
		return CUDA_ERROR_INVALID_HANDLE;
	}
	CUresult rc = sim_ctx_usable(s->ctx);
	if (rc == CUDA_SUCCESS && s->capture != CU_STREAM_CAPTURE_STATUS_NONE) {
		s->capture = CU_STREAM_CAPTURE_STATUS_INVALIDATED; /* as the real driver does */
		rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	uint64_t until = stream_done_time(s);
	int dev = s->ctx->dev;
	sim_unlock();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_wait_until(until);
	sim_lock();
	sim_pools_release_idle(dev);
	sim_unlock();
	return CUDA_SUCCESS;
}

static void events_destroy_ctx(struct sim_ctx *ctx);

void sim_streams_destroy_ctx(struct sim_ctx *ctx)
{
	struct sim_stream *s = sim.streams;
	while (s) {
		struct sim_stream *next = s->next;
		if (s->ctx == ctx)
			stream_unlink_free(s);
		s = next;
	}
	ctx->legacy = NULL;
	events_destroy_ctx(ctx);
	struct sim_module **mp = &modules;
	while (*mp) {
		struct sim_module *m = *mp;
		if (m->ctx != ctx) {
			mp = &m->next;
			continue;
		}
		*mp = m->next;
		module_free(m);
	}
}

/* ---- launching ------------------------------------------------------------------------ */

static uint64_t kernel_duration_ns(const struct sim_kernel_call *call)
{
	switch (call->kind) {
	case SIM_KERNEL_BUSY:
		return call->busy_usec > UINT64_MAX / 1000 ? UINT64_MAX / 2
		                                           : call->busy_usec * 1000;
	case SIM_KERNEL_FILL: {
		uint64_t bytes = call->fill_count * 4;
		uint64_t ns = bytes / (SIM_FILL_BYTES_PER_SEC / 1000000000ULL);
		return ns < 2000 ? 2000 : ns;
	}
	default:
		return SIM_GENERIC_KERNEL_NS;
	}
}

CUresult sim_launch(struct sim_stream *s, const struct sim_kernel_call *call)
{
	if (s->capture == CU_STREAM_CAPTURE_STATUS_ACTIVE)
		return sim_graph_append(s->capture_graph, call);
	if (s->capture == CU_STREAM_CAPTURE_STATUS_INVALIDATED)
		return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	CUresult rc = sim_ctx_usable(s->ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (call->kind == SIM_KERNEL_FILL) {
		if (call->fill_ptr % 4 != 0 || call->fill_count > SIZE_MAX / 4 ||
		    !sim_range_ok((uintptr_t)call->fill_ptr, (size_t)call->fill_count * 4))
			return CUDA_ERROR_ILLEGAL_ADDRESS;
	}
	/* A full launch queue blocks the host until its oldest launch completes. */
	for (;;) {
		uint64_t oldest = s->pending[s->pending_next];
		if (oldest <= vxpu_sim_now_ns())
			break;
		sim_unlock();
		sim_wait_until(oldest);
		sim_lock();
		if (!stream_valid(s))
			return CUDA_ERROR_INVALID_HANDLE;
	}
	if (call->kind == SIM_KERNEL_FILL) {
		if (!sim_range_ok((uintptr_t)call->fill_ptr, (size_t)call->fill_count * 4))
			return CUDA_ERROR_ILLEGAL_ADDRESS; /* freed while we waited */
		uint32_t *p = (uint32_t *)(uintptr_t)call->fill_ptr;
		for (uint64_t i = 0; i < call->fill_count; i++)
			p[i] = call->fill_value;
	}
	uint64_t start, end;
	uint64_t not_before = stream_done_time(s);
	vxpu_sim_timeline_reserve(&sim.st, s->ctx->dev, not_before, kernel_duration_ns(call),
	                          &start, &end);
	s->last_end = end;
	if (end > s->ctx->last_end)
		s->ctx->last_end = end;
	s->pending[s->pending_next] = end;
	s->pending_next = (s->pending_next + 1) % SIM_QUEUE_DEPTH;
	return CUDA_SUCCESS;
}

static struct sim_function *function_find(CUfunction h)
{
	for (struct sim_module *m = modules; m; m = m->next)
		for (struct sim_function *f = m->functions; f; f = f->next)
			if (f == (struct sim_function *)h)
				return f->magic == FUNC_MAGIC ? f : NULL;
	return NULL;
}

/* Reads the arguments of busy/fill from kernelParams or the packed `extra` buffer. */
static CUresult decode_args(const struct sim_function *f, void **params, void **extra,
                            struct sim_kernel_call *call)
{
	memset(call, 0, sizeof(*call));
	call->kind = f->kind;
	if (params && extra)
		return CUDA_ERROR_INVALID_VALUE;
	if (f->kind == SIM_KERNEL_GENERIC)
		return CUDA_SUCCESS;
	const unsigned char *buf = NULL;
	size_t len = 0;
	if (extra) {
		for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				buf = extra[i + 1];
			else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1])
				len = *(size_t *)extra[i + 1];
			else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if (!buf)
			return CUDA_ERROR_INVALID_VALUE;
	} else if (!params) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (f->kind == SIM_KERNEL_BUSY) {
		if (buf) {
			if (len < 8)
				return CUDA_ERROR_INVALID_VALUE;
			memcpy(&call->busy_usec, buf, 8);
		} else {
			if (!params[0])
				return CUDA_ERROR_INVALID_VALUE;
			memcpy(&call->busy_usec, params[0], 8);
		}
		return CUDA_SUCCESS;
	}
	if (buf) { /* natural alignment: ptr at 0, value at 8, count at 16 */
		if (len < 24)
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(&call->fill_ptr, buf, 8);
		memcpy(&call->fill_value, buf + 8, 4);
		memcpy(&call->fill_count, buf + 16, 8);
	} else {
		if (!params[0] || !params[1] || !params[2])
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(&call->fill_ptr, params[0], 8);
		memcpy(&call->fill_value, params[1], 4);
		memcpy(&call->fill_count, params[2], 8);
	}
	return CUDA_SUCCESS;
}

struct launch_dims {
	unsigned int gx, gy, gz, bx, by, bz, shmem;
};

static CUresult launch_common(CUfunction f, const struct launch_dims *d, CUstream hs, void **params,
                              void **extra, bool ptsz, bool cooperative)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (d->gx == 0 || d->gy == 0 || d->gz == 0 || d->bx == 0 || d->by == 0 || d->bz == 0 ||
	    d->bz > 64 || (uint64_t)d->bx * d->by * d->bz > 1024 || d->gy > 65535 ||
	    d->gz > 65535 || d->gx > 2147483647u || d->shmem > 232448)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_function *fn = function_find(f);
	struct sim_stream *s = NULL;
	struct sim_kernel_call call;
	if (!fn)
		rc = CUDA_ERROR_INVALID_HANDLE;
	if (rc == CUDA_SUCCESS)
		rc = sim_stream_resolve(hs, ptsz, &s);
	if (rc == CUDA_SUCCESS)
		rc = decode_args(fn, params, extra, &call);
	if (rc == CUDA_SUCCESS && cooperative &&
	    (uint64_t)d->gx * d->gy * d->gz >
	            (uint64_t)sim_device_config(s->ctx->dev)->sm_count * 32)
		rc = CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE;
	if (rc == CUDA_SUCCESS)
		rc = sim_launch(s, &call);
	sim_unlock();
	return rc;
}

SIM_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX,
                                unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                                void **extra)
{
	struct launch_dims d = {gridDimX,  gridDimY,  gridDimZ,      blockDimX,
	                        blockDimY, blockDimZ, sharedMemBytes};
	return launch_common(f, &d, hStream, kernelParams, extra, false, false);
}

SIM_API CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                     unsigned int gridDimZ, unsigned int blockDimX,
                                     unsigned int blockDimY, unsigned int blockDimZ,
                                     unsigned int sharedMemBytes, CUstream hStream,
                                     void **kernelParams, void **extra)
{
	struct launch_dims d = {gridDimX,  gridDimY,  gridDimZ,      blockDimX,
	                        blockDimY, blockDimZ, sharedMemBytes};
	return launch_common(f, &d, hStream, kernelParams, extra, true, false);
}

static CUresult launch_ex(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                          void **extra, bool ptsz)
{
	if (!config || (config->numAttrs > 0 && !config->attrs))
		return CUDA_ERROR_INVALID_VALUE;
	bool cooperative = false;
	for (unsigned int i = 0; i < config->numAttrs; i++)
		if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE &&
		    config->attrs[i].value.cooperative)
			cooperative = true;
	struct launch_dims d = {config->gridDimX,      config->gridDimY,  config->gridDimZ,
	                        config->blockDimX,     config->blockDimY, config->blockDimZ,
	                        config->sharedMemBytes};
	return launch_common(f, &d, config->hStream, kernelParams, extra, ptsz, cooperative);
}

SIM_API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                  void **extra)
{
	return launch_ex(config, f, kernelParams, extra, false);
}

SIM_API CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
                                       void **kernelParams, void **extra)
{
	return launch_ex(config, f, kernelParams, extra, true);
}

SIM_API CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
                                           unsigned int gridDimY, unsigned int gridDimZ,
                                           unsigned int blockDimX, unsigned int blockDimY,
                                           unsigned int blockDimZ, unsigned int sharedMemBytes,
                                           CUstream hStream, void **kernelParams)
{
	struct launch_dims d = {gridDimX,  gridDimY,  gridDimZ,      blockDimX,
	                        blockDimY, blockDimZ, sharedMemBytes};
	return launch_common(f, &d, hStream, kernelParams, NULL, false, true);
}

SIM_API CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                                unsigned int gridDimY, unsigned int gridDimZ,
                                                unsigned int blockDimX, unsigned int blockDimY,
                                                unsigned int blockDimZ, unsigned int sharedMemBytes,
                                                CUstream hStream, void **kernelParams)
{
	struct launch_dims d = {gridDimX,  gridDimY,  gridDimZ,      blockDimX,
	                        blockDimY, blockDimZ, sharedMemBytes};
	return launch_common(f, &d, hStream, kernelParams, NULL, true, true);
}

/* ---- modules -------------------------------------------------------------------------------- */

static CUresult module_load(CUmodule *module, const void *image)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!module || !image)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_module *m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->magic = MODULE_MAGIC;
	m->ctx = ctx;
	sim_lock();
	m->next = modules;
	modules = m;
	sim_unlock();
	*module = (CUmodule)m;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	return module_load(module, image);
}

SIM_API CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                    CUjit_option *options, void **optionValues)
{
	if (numOptions > 0 && (!options || !optionValues))
		return CUDA_ERROR_INVALID_VALUE;
	return module_load(module, image);
}

SIM_API CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	return module_load(module, fatCubin);
}

SIM_API CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
	if (!fname)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (access(fname, R_OK) != 0)
		return CUDA_ERROR_FILE_NOT_FOUND;
	return module_load(module, fname);
}

SIM_API CUresult cuModuleUnload(CUmodule hmod)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_module **mp = &modules;
	while (*mp && *mp != (struct sim_module *)hmod)
		mp = &(*mp)->next;
	if (!*mp) {
		sim_unlock();
		return CUDA_ERROR_INVALID_HANDLE;
	}
	struct sim_module *m = *mp;
	*mp = m->next;
	sim_unlock();
	module_free(m);
	return CUDA_SUCCESS;
}

static enum sim_kernel_kind kernel_kind(const char *name)
{
	if (strcmp(name, "busy") == 0 || strncmp(name, "_Z4busy", 7) == 0)
		return SIM_KERNEL_BUSY;
	if (strcmp(name, "fill") == 0 || strncmp(name, "_Z4fill", 7) == 0)
		return SIM_KERNEL_FILL;
	return SIM_KERNEL_GENERIC;
}

SIM_API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!hfunc || !name || strlen(name) >= sizeof(((struct sim_function *)0)->name))
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_module *m = modules;
	while (m && m != (struct sim_module *)hmod)
		m = m->next;
	if (!m) {
		sim_unlock();
		return CUDA_ERROR_INVALID_HANDLE;
	}
	struct sim_function *f = m->functions;
	while (f && strcmp(f->name, name) != 0)
		f = f->next;
	if (!f && (f = calloc(1, sizeof(*f)))) {
		f->magic = FUNC_MAGIC;
		f->module = m;
		f->kind = kernel_kind(name);
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->next = m->functions;
		m->functions = f;
	}
	sim_unlock();
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*hfunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

/* ---- stream entry points ----------------------------------------------------------------------
 */

static CUresult stream_create(CUstream *phStream, unsigned int flags, int priority)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!phStream || (flags & ~(unsigned int)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s = stream_new(ctx, flags,
	                                  priority < -5  ? -5
	                                  : priority > 0 ? 0
	                                                 : priority);
	sim_unlock();
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*phStream = (CUstream)s;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	return stream_create(phStream, Flags, 0);
}

SIM_API CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
	return stream_create(phStream, flags, priority);
}

static CUresult stream_destroy(CUstream h)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_stream *s = (struct sim_stream *)h;
	if (!stream_valid(s) || s->per_thread || s == s->ctx->legacy)
		rc = CUDA_ERROR_INVALID_HANDLE;
	else
		stream_unlink_free(s); /* pending work still completes on the timeline */
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamDestroy(CUstream hStream)
{
	return stream_destroy(hStream);
}

SIM_API CUresult cuStreamDestroy_v2(CUstream hStream)
{
	return stream_destroy(hStream);
}

static CUresult stream_sync(CUstream h, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	sim_unlock();
	return rc == CUDA_SUCCESS ? sim_stream_wait(s) : rc;
}

SIM_API CUresult cuStreamSynchronize(CUstream hStream)
{
	return stream_sync(hStream, false);
}

SIM_API CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
	return stream_sync(hStream, true);
}

static CUresult stream_query(CUstream h, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS)
		rc = sim_ctx_usable(s->ctx);
	if (rc == CUDA_SUCCESS && stream_done_time(s) > vxpu_sim_now_ns())
		rc = CUDA_ERROR_NOT_READY;
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamQuery(CUstream hStream)
{
	return stream_query(hStream, false);
}

SIM_API CUresult cuStreamQuery_ptsz(CUstream hStream)
{
	return stream_query(hStream, true);
}

static struct sim_event *event_find(CUevent h)
{
	for (struct sim_event *e = sim.events; e; e = e->next)
		if (e == (struct sim_event *)h)
			return e->magic == EVENT_MAGIC ? e : NULL;
	return NULL;
}

static CUresult stream_wait_event(CUstream h, CUevent ev, unsigned int flags, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (flags & ~(unsigned int)CU_EVENT_WAIT_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	struct sim_event *e = rc == CUDA_SUCCESS ? event_find(ev) : NULL;
	if (rc == CUDA_SUCCESS && !e)
		rc = CUDA_ERROR_INVALID_HANDLE;
	if (rc == CUDA_SUCCESS && e->recorded && e->time > s->last_end)
		s->last_end = e->time; /* later work on s starts after the event */
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return stream_wait_event(hStream, hEvent, Flags, false);
}

SIM_API CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return stream_wait_event(hStream, hEvent, Flags, true);
}

static CUresult stream_get_ctx(CUstream h, CUcontext *pctx, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS)
		*pctx = (CUcontext)s->ctx;
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
	return stream_get_ctx(hStream, pctx, false);
}

SIM_API CUresult cuStreamGetCtx_ptsz(CUstream hStream, CUcontext *pctx)
{
	return stream_get_ctx(hStream, pctx, true);
}

/* CUDA 12.5 form: the stream may belong to a green context (never, here). */
SIM_API CUresult cuStreamGetCtx_v2(CUstream hStream, CUcontext *pctx, CUgreenCtx *pGreenCtx)
{
	if (!pGreenCtx)
		return CUDA_ERROR_INVALID_VALUE;
	*pGreenCtx = NULL;
	return stream_get_ctx(hStream, pctx, false);
}

SIM_API CUresult cuStreamGetCtx_v2_ptsz(CUstream hStream, CUcontext *pctx, CUgreenCtx *pGreenCtx)
{
	if (!pGreenCtx)
		return CUDA_ERROR_INVALID_VALUE;
	*pGreenCtx = NULL;
	return stream_get_ctx(hStream, pctx, true);
}

/* ---- events -------------------------------------------------------------------------------------
 */

static void events_destroy_ctx(struct sim_ctx *ctx)
{
	struct sim_event **pp = &sim.events;
	while (*pp) {
		struct sim_event *e = *pp;
		if (e->ctx == ctx) {
			*pp = e->next;
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

SIM_API CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	unsigned int known =
	        CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
	if (!phEvent || (Flags & ~known) ||
	    ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING)))
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_event *e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->magic = EVENT_MAGIC;
	e->ctx = ctx;
	e->flags = Flags;
	sim_lock();
	e->next = sim.events;
	sim.events = e;
	sim_unlock();
	*phEvent = (CUevent)e;
	return CUDA_SUCCESS;
}

static CUresult event_record(CUevent ev, CUstream h, unsigned int flags, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (flags & ~(unsigned int)CU_EVENT_RECORD_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_event *e = event_find(ev);
	struct sim_stream *s = NULL;
	if (!e)
		rc = CUDA_ERROR_INVALID_HANDLE;
	if (rc == CUDA_SUCCESS)
		rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS && s->capture == CU_STREAM_CAPTURE_STATUS_NONE) {
		uint64_t now = vxpu_sim_now_ns(), done = stream_done_time(s);
		e->time = done > now ? done : now;
		e->recorded = true;
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	return event_record(hEvent, hStream, 0, false);
}

SIM_API CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	return event_record(hEvent, hStream, 0, true);
}

SIM_API CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
	return event_record(hEvent, hStream, flags, false);
}

SIM_API CUresult cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags)
{
	return event_record(hEvent, hStream, flags, true);
}

SIM_API CUresult cuEventQuery(CUevent hEvent)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_event *e = event_find(hEvent);
	if (!e)
		rc = CUDA_ERROR_INVALID_HANDLE;
	else if (e->recorded && e->time > vxpu_sim_now_ns())
		rc = CUDA_ERROR_NOT_READY;
	sim_unlock();
	return rc;
}

SIM_API CUresult cuEventSynchronize(CUevent hEvent)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_event *e = event_find(hEvent);
	uint64_t until = e && e->recorded ? e->time : 0;
	int dev = e ? e->ctx->dev : 0;
	if (e)
		rc = sim_ctx_usable(e->ctx);
	sim_unlock();
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_wait_until(until);
	sim_lock();
	sim_pools_release_idle(dev);
	sim_unlock();
	return CUDA_SUCCESS;
}

static CUresult event_destroy(CUevent hEvent)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_event **pp = &sim.events;
	while (*pp && *pp != (struct sim_event *)hEvent)
		pp = &(*pp)->next;
	struct sim_event *e = *pp;
	if (e)
		*pp = e->next;
	sim_unlock();
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	free(e);
	return CUDA_SUCCESS;
}

SIM_API CUresult cuEventDestroy(CUevent hEvent)
{
	return event_destroy(hEvent);
}

SIM_API CUresult cuEventDestroy_v2(CUevent hEvent)
{
	return event_destroy(hEvent);
}

static CUresult elapsed(float *ms, CUevent hStart, CUevent hEnd)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!ms)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_event *a = event_find(hStart), *b = event_find(hEnd);
	uint64_t now = vxpu_sim_now_ns();
	if (!a || !b || !a->recorded || !b->recorded || (a->flags & CU_EVENT_DISABLE_TIMING) ||
	    (b->flags & CU_EVENT_DISABLE_TIMING))
		rc = CUDA_ERROR_INVALID_HANDLE;
	else if (a->time > now || b->time > now)
		rc = CUDA_ERROR_NOT_READY;
	else
		*ms = (float)((double)((int64_t)(b->time - a->time)) / 1e6);
	sim_unlock();
	return rc;
}

SIM_API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	return elapsed(pMilliseconds, hStart, hEnd);
}

SIM_API CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	return elapsed(pMilliseconds, hStart, hEnd);
}
