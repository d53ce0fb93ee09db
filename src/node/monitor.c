/*
 * monitor.c - per-container usage from the regions and the management
 * library, its Prometheus exposition, and the sampling thread that runs
 * the bypass watchdog (see monitor.h).
 *
 * A pass reads everything into a fresh snapshot and the running monitor
 * swaps it in under a lock, so a scrape always renders one consistent
 * pass and never waits for the driver or the file system. The collector
 * keeps the library's entry points, the identity of the devices (from one
 * discovery at open: UUIDs and models do not change while a driver is
 * loaded), one region view buffer (about 170 KiB, reused for every file)
 * and, per device, the timestamp of the previous utilisation query, so
 * each pass asks NVML for per-process samples since the one before.
 *
 * Region files are opened read-only and closed within the pass: the
 * monitor never writes a region, never reclaims a slot, and a container
 * that goes away simply stops appearing.
 */
#include "node/monitor.h"

#include "common/log.h"
#include "cuda/nvml_abi.h"
#include "kube/http.h"
#include "limiter/region.h"
#include "meter/prom.h"
#include "node/nvmllib.h"
#include "core/fail.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MONITOR_MAX_PROCESSES 1024u /* NVML records per device and pass */

/* ---- the management library ---------------------------------------------- */

struct nvml_api {
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
	nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*processes_v2)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *); /* _v3/_v2 */
	nvmlReturn_t (*processes_v1)(nvmlDevice_t, unsigned *, nvmlProcessInfo_v1_t *);
	nvmlReturn_t (*process_util)(nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned *,
	                             unsigned long long);
};

/* What the library said about one process on one device this pass. */
struct proc_figure {
	int32_t pid;
	uint64_t memory;
	double sm_sum; /* sum of its utilisation samples */
	unsigned samples;
};

struct device_figures {
	bool live;       /* memory and processes answered */
	bool util_known; /* per-process utilisation answered */
	size_t count;
	struct proc_figure procs[MONITOR_MAX_PROCESSES]; /* sorted by pid */
};

struct vxpu_monitor_collector {
	char regions_dir[VXPU_MONITOR_PATH_MAX];
	char node[VXPU_MONITOR_NAME_MAX];
	char vendor[32];
	bool has_library;
	struct nvml_api api;
	struct vxpu_discovery disc;
	unsigned long long last_seen_us[VXPU_FOUND_MAX_DEVICES];
	struct device_figures *figures; /* [disc.count] */
	nvmlProcessInfo_t *proc_buf;
	nvmlProcessInfo_v1_t *proc_buf_v1;
	nvmlProcessUtilizationSample_t *util_buf;
	struct vxpu_region_view *view;
	/* Regions kept open (read-only) from pass to pass, sorted by folder
	 * name: mapping and unmapping 100 files per pass costs tens of
	 * milliseconds in TLB shootdowns in a threaded process. */
	struct open_region *open;
	size_t nopen;
};

struct open_region {
	char *name;        /* the container folder */
	uint64_t dev, ino; /* of the file when opened: a replaced file is reopened */
	struct vxpu_region r;
};

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int load_library(struct vxpu_monitor_collector *c, const struct vxpu_discover_options *opts,
                        char *err, size_t errlen)
{
	void *lib = vxpu_nvml_open(opts, err, errlen);
	if (!lib)
		return -1;
	nvmlReturn_t (*init)(void);
	*(void **)&init = vxpu_nvml_sym(lib, "nvmlInit_v2", "nvmlInit");
	*(void **)&c->api.by_index =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
	*(void **)&c->api.memory = vxpu_nvml_sym(lib, "nvmlDeviceGetMemoryInfo", NULL);
	*(void **)&c->api.utilization = vxpu_nvml_sym(lib, "nvmlDeviceGetUtilizationRates", NULL);
	*(void **)&c->api.processes_v2 =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetComputeRunningProcesses_v3",
	                      "nvmlDeviceGetComputeRunningProcesses_v2");
	if (!c->api.processes_v2)
		*(void **)&c->api.processes_v1 =
		        vxpu_nvml_sym(lib, "nvmlDeviceGetComputeRunningProcesses", NULL);
	*(void **)&c->api.process_util =
	        vxpu_nvml_sym(lib, "nvmlDeviceGetProcessUtilization", NULL);
	if (!init || !c->api.by_index || !c->api.memory ||
	    (!c->api.processes_v2 && !c->api.processes_v1))
		return vxpu_fail(
		        err, errlen,
		        "the management library lacks the NVML memory and process entry points");
	if (init() != NVML_SUCCESS)
		return vxpu_fail(err, errlen, "nvmlInit failed");
	return 0;
}

int vxpu_monitor_collector_open(struct vxpu_monitor_collector **out,
                                const struct vxpu_discover_options *discover,
                                const char *regions_dir, const char *node, char *err, size_t errlen)
{
	if (!regions_dir || !*regions_dir || strlen(regions_dir) >= VXPU_MONITOR_PATH_MAX - 300)
		return vxpu_fail(err, errlen, "regions directory \"%s\": empty or too long",
		                 regions_dir ? regions_dir : "");
	struct vxpu_monitor_collector *c = calloc(1, sizeof(*c));
	if (!c)
		return vxpu_fail(err, errlen, "out of memory");
	copy_text(c->regions_dir, sizeof(c->regions_dir), regions_dir);
	if (node && *node) {
		copy_text(c->node, sizeof(c->node), node);
	} else if (gethostname(c->node, sizeof(c->node) - 1) != 0) {
		copy_text(c->node, sizeof(c->node), "unknown");
	}
	c->view = malloc(sizeof(*c->view));
	if (!c->view)
		goto oom;
	if (vxpu_discover(discover, &c->disc, err, errlen) != 0)
		goto fail;
	copy_text(c->vendor, sizeof(c->vendor), c->disc.vendor[0] ? c->disc.vendor : "gpu");
	if (c->disc.backend != VXPU_BACKEND_INVENTORY) {
		if (load_library(c, discover, err, errlen) != 0)
			goto fail;
		c->has_library = true;
		c->figures = calloc(c->disc.count ? c->disc.count : 1, sizeof(*c->figures));
		c->proc_buf = calloc(MONITOR_MAX_PROCESSES, sizeof(*c->proc_buf));
		c->proc_buf_v1 = calloc(MONITOR_MAX_PROCESSES, sizeof(*c->proc_buf_v1));
		c->util_buf = calloc(MONITOR_MAX_PROCESSES, sizeof(*c->util_buf));
		if (!c->figures || !c->proc_buf || !c->proc_buf_v1 || !c->util_buf)
			goto oom;
	}
	*out = c;
	return 0;
oom:
	vxpu_fail(err, errlen, "out of memory");
fail:
	vxpu_monitor_collector_close(c);
	return -1;
}

static void close_open_region(struct open_region *o)
{
	vxpu_region_close(&o->r);
	free(o->name);
	o->name = NULL;
}

void vxpu_monitor_collector_close(struct vxpu_monitor_collector *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nopen; i++)
		close_open_region(&c->open[i]);
	free(c->open);
	free(c->figures);
	free(c->proc_buf);
	free(c->proc_buf_v1);
	free(c->util_buf);
	free(c->view);
	free(c);
}

static int compare_figure(const void *a, const void *b)
{
	const struct proc_figure *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static struct proc_figure *find_figure(struct device_figures *f, int32_t pid)
{
	size_t lo = 0, hi = f->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->procs[mid].pid == pid)
			return &f->procs[mid];
		if (f->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The processes holding memory on device dev: pid and bytes, sorted. */
static int read_processes(struct vxpu_monitor_collector *c, nvmlDevice_t dev,
                          struct device_figures *f)
{
	unsigned count = MONITOR_MAX_PROCESSES;
	f->count = 0;
	if (c->api.processes_v2) {
		if (c->api.processes_v2(dev, &count, c->proc_buf) != NVML_SUCCESS)
			return -1;
		for (unsigned i = 0; i < count && i < MONITOR_MAX_PROCESSES; i++) {
			f->procs[f->count++] = (struct proc_figure){
			        .pid = (int32_t)c->proc_buf[i].pid,
			        .memory = c->proc_buf[i].usedGpuMemory == (unsigned long long)-1
			                          ? 0
			                          : c->proc_buf[i].usedGpuMemory};
		}
	} else {
		if (c->api.processes_v1(dev, &count, c->proc_buf_v1) != NVML_SUCCESS)
			return -1;
		for (unsigned i = 0; i < count && i < MONITOR_MAX_PROCESSES; i++) {
			f->procs[f->count++] = (struct proc_figure){
			        .pid = (int32_t)c->proc_buf_v1[i].pid,
			        .memory = c->proc_buf_v1[i].usedGpuMemory == (unsigned long long)-1
			                          ? 0
			                          : c->proc_buf_v1[i].usedGpuMemory};
		}
	}
	if (f->count > 1)
		qsort(f->procs, f->count, sizeof(f->procs[0]), compare_figure);
	/* One record per pid: a process listed twice (two contexts) adds up. */
	size_t out = 0;
	for (size_t i = 0; i < f->count; i++) {
		if (out && f->procs[out - 1].pid == f->procs[i].pid)
			f->procs[out - 1].memory += f->procs[i].memory;
		else
			f->procs[out++] = f->procs[i];
	}
	f->count = out;
	return 0;
}

/* Per-process utilisation samples since the previous pass, added to f. */
static void read_process_util(struct vxpu_monitor_collector *c, unsigned index, nvmlDevice_t dev,
                              struct device_figures *f)
{
	f->util_known = false;
	if (!c->api.process_util)
		return;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	unsigned long long now_us = (unsigned long long)now.tv_sec * 1000000ULL +
	                            (unsigned long long)now.tv_nsec / 1000ULL;
	unsigned count = MONITOR_MAX_PROCESSES;
	nvmlReturn_t rc = c->api.process_util(dev, c->util_buf, &count, c->last_seen_us[index]);
	c->last_seen_us[index] = now_us;
	if (rc == NVML_ERROR_NOT_FOUND) { /* nobody ran kernels in the window */
		f->util_known = true;
		return;
	}
	if (rc != NVML_SUCCESS)
		return;
	f->util_known = true;
	for (unsigned s = 0; s < count && s < MONITOR_MAX_PROCESSES; s++) {
		struct proc_figure *p = find_figure(f, (int32_t)c->util_buf[s].pid);
		if (!p)
			continue; /* no memory on the device: no context, not ours to attribute */
		p->sm_sum += c->util_buf[s].smUtil;
		p->samples++;
	}
}

static void read_devices(struct vxpu_monitor_collector *c, struct vxpu_monitor_snapshot *s)
{
	s->ndevices = c->disc.count;
	s->library_up = false;
	for (unsigned i = 0; i < c->disc.count; i++) {
		const struct vxpu_found_device *fd = &c->disc.devices[i];
		struct vxpu_monitor_device *d = &s->devices[i];
		memset(d, 0, sizeof(*d));
		d->index = fd->index;
		copy_text(d->uuid, sizeof(d->uuid), fd->uuid);
		copy_text(d->model, sizeof(d->model), fd->model);
		d->memory_total = fd->memory_bytes;
		d->healthy = -1;
		if (!c->has_library)
			continue;
		struct device_figures *f = &c->figures[i];
		f->live = false;
		f->util_known = false;
		f->count = 0;
		nvmlDevice_t dev;
		nvmlMemory_t mem;
		if (c->api.by_index(fd->index, &dev) != NVML_SUCCESS ||
		    c->api.memory(dev, &mem) != NVML_SUCCESS || read_processes(c, dev, f) != 0)
			continue;
		f->live = true;
		s->library_up = true;
		d->live = true;
		d->memory_total = mem.total;
		d->memory_used = mem.used;
		nvmlUtilization_t util;
		if (c->api.utilization && c->api.utilization(dev, &util) == NVML_SUCCESS)
			d->utilization = util.gpu;
		read_process_util(c, i, dev, f);
	}
}

/* NAMESPACE_POD_CONTAINER -> the three names. 0 or -1. */
static int split_key(const char *key, struct vxpu_monitor_container *ct)
{
	const char *a = strchr(key, '_');
	const char *b = a ? strchr(a + 1, '_') : NULL;
	if (!a || !b || strchr(b + 1, '_') || a == key || b == a + 1 || !b[1])
		return -1;
	size_t la = (size_t)(a - key), lb = (size_t)(b - a - 1), lc = strlen(b + 1);
	if (la >= VXPU_MONITOR_NAME_MAX || lb >= VXPU_MONITOR_NAME_MAX ||
	    lc >= VXPU_MONITOR_NAME_MAX)
		return -1;
	memcpy(ct->ns, key, la);
	ct->ns[la] = '\0';
	memcpy(ct->pod, a + 1, lb);
	ct->pod[lb] = '\0';
	memcpy(ct->container, b + 1, lc);
	ct->container[lc] = '\0';
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void skip(struct vxpu_monitor_snapshot *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void skip(struct vxpu_monitor_snapshot *s, const char *fmt, ...)
{
	s->regions_skipped++;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->skip_reason, sizeof(s->skip_reason), fmt, ap);
	va_end(ap);
	vxpu_log(VXPU_LOG_DEBUG, "region skipped", "reason", s->skip_reason, (char *)NULL);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

/* The host device whose UUID is text, or -1. */
static int device_of_uuid(const struct vxpu_monitor_collector *c, const char *text)
{
	for (unsigned i = 0; i < c->disc.count; i++)
		if (strcasecmp(c->disc.devices[i].uuid, text) == 0)
			return (int)i;
	return -1;
}

/*
 * Reads one container's region into s (a container and its shares).
 * Returns 0, 1 when skipped, -1 when out of memory.
 */
/*
 * The container's identity and region path from its folder name into ct.
 * 0, or -1 with the reason in why.
 */
static int container_identity(const struct vxpu_monitor_collector *c, const char *name,
                              struct vxpu_monitor_container *ct, char *why, size_t whylen)
{
	memset(ct, 0, sizeof(*ct));
	if (strlen(name) >= sizeof(ct->key) || split_key(name, ct) != 0)
		return vxpu_fail(why, whylen,
		                 "%.200s: the folder name is not NAMESPACE_POD_CONTAINER", name);
	copy_text(ct->key, sizeof(ct->key), name);
	int plen = snprintf(ct->region_path, sizeof(ct->region_path), "%s/%s/region",
	                    c->regions_dir, name);
	if (plen < 0 || (size_t)plen >= sizeof(ct->region_path))
		return vxpu_fail(why, whylen, "%.200s: path too long", name);
	return 0;
}

/*
 * The open region of folder `name` for this pass, moved into next[*k]:
 * the one kept from the previous pass (old[*j], the cursor of a merge of
 * two sorted lists) when its file is still the same, else a fresh read-only
 * open. Entries of old before name are closed on the way. NULL with the
 * reason when the file cannot be opened or checked; -1 in *oom when out of
 * memory.
 */
static struct vxpu_region *open_for_pass(struct open_region *old, size_t nold, size_t *j,
                                         struct open_region *next, size_t *k, const char *name,
                                         const char *path, char *why, size_t whylen, bool *oom)
{
	while (*j < nold && strcmp(old[*j].name, name) < 0)
		close_open_region(&old[(*j)++]);
	struct open_region *kept =
	        *j < nold && strcmp(old[*j].name, name) == 0 ? &old[(*j)++] : NULL;
	struct stat st;
	if (stat(path, &st) != 0) {
		if (kept)
			close_open_region(kept);
		vxpu_fail(why, whylen, "region %s: %s", path, strerror(errno));
		return NULL;
	}
	struct open_region *o = &next[*k];
	if (kept && kept->dev == (uint64_t)st.st_dev && kept->ino == (uint64_t)st.st_ino) {
		*o = *kept;
		(*k)++;
		return &o->r;
	}
	if (kept)
		close_open_region(kept);
	memset(o, 0, sizeof(*o));
	if (vxpu_region_open(&o->r, path, VXPU_REGION_OPEN_READ, NULL, why, whylen) != 0)
		return NULL;
	struct stat fst;
	o->name = strdup(name);
	if (!o->name || fstat(o->r.fd, &fst) != 0) {
		*oom = o->name == NULL;
		if (!*oom)
			vxpu_fail(why, whylen, "region %s: fstat: %s", path, strerror(errno));
		vxpu_region_close(&o->r);
		free(o->name);
		return NULL;
	}
	o->dev = (uint64_t)fst.st_dev;
	o->ino = (uint64_t)fst.st_ino;
	(*k)++;
	return &o->r;
}

/*
 * Reads one container's open region r into s (the container ct and its
 * shares). Returns 0, or -1 when out of memory.
 */
static int read_container(struct vxpu_monitor_collector *c, struct vxpu_monitor_container ct,
                          const struct vxpu_region *r, struct vxpu_monitor_snapshot *s,
                          size_t *container_cap, size_t *share_cap)
{
	struct vxpu_region_view *v = c->view;
	vxpu_region_read(r, v);
	unsigned core_limit[VXPU_REGION_MAX_DEVICES];
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		core_limit[d] = atomic_load(&r->devices[d].core_limit);

	for (unsigned i = 0; i < v->process_count; i++) {
		if (!v->processes[i].alive)
			continue;
		ct.processes++;
		if (v->processes[i].host_pid <= 0)
			ct.unattributed++;
	}
	size_t nprocs = ct.processes - ct.unattributed;
	if (nprocs) {
		ct.procs = calloc(nprocs, sizeof(*ct.procs));
		if (!ct.procs)
			return -1;
		for (unsigned i = 0; i < v->process_count; i++) {
			const struct vxpu_region_process *p = &v->processes[i];
			if (p->alive && p->host_pid > 0)
				ct.procs[ct.nprocs++] =
				        (struct vxpu_monitor_process){.host_pid = p->host_pid,
				                                      .slot = p->slot,
				                                      .generation = p->generation};
		}
	}
	if (grow((void **)&s->containers, container_cap, s->ncontainers + 1,
	         sizeof(*s->containers)) != 0 ||
	    grow((void **)&s->shares, share_cap, s->nshares + v->device_count,
	         sizeof(*s->shares)) != 0) {
		free(ct.procs);
		return -1;
	}
	size_t index = s->ncontainers;
	s->containers[s->ncontainers++] = ct;

	for (unsigned d = 0; d < v->device_count; d++) {
		const struct vxpu_region_device_view *dv = &v->devices[d];
		unsigned core = core_limit[d] <= 100 ? core_limit[d] : 0;
		if (!dv->uuid_set && dv->memory_limit == VXPU_REGION_UNLIMITED && dv->used == 0 &&
		    core == 0)
			continue; /* a device slot this container does not use */
		struct vxpu_monitor_share *sh = &s->shares[s->nshares++];
		memset(sh, 0, sizeof(*sh));
		sh->container = index;
		sh->ordinal = d;
		sh->gpu = -1;
		if (dv->uuid_set) {
			vxpu_region_format_uuid(dv->uuid, sh->uuid, sizeof(sh->uuid));
			sh->gpu = device_of_uuid(c, sh->uuid);
		}
		sh->memory_limit = dv->memory_limit;
		sh->memory_charged = dv->used;
		sh->core_limit = core;
		sh->compute_charged_ns = dv->charged_ns;
		sh->compute_held_ns = dv->held_ns;
		sh->launches = dv->launches;
		sh->held_launches = dv->held_launches;
		if (sh->gpu < 0)
			continue;
		struct vxpu_monitor_device *dev = &s->devices[sh->gpu];
		dev->containers++;
		if (sh->memory_limit != VXPU_REGION_UNLIMITED)
			dev->memory_allocated += sh->memory_limit;
		dev->compute_allocated += sh->core_limit;
		if (!c->has_library || !c->figures[sh->gpu].live)
			continue;
		struct device_figures *f = &c->figures[sh->gpu];
		sh->memory_used_known = true;
		sh->utilization_known = f->util_known;
		for (size_t p = 0; p < ct.nprocs; p++) {
			const struct proc_figure *fig = find_figure(f, ct.procs[p].host_pid);
			if (!fig)
				continue;
			sh->memory_used += fig->memory;
			if (fig->samples)
				sh->utilization += fig->sm_sum / fig->samples;
		}
		if (sh->utilization > 100)
			sh->utilization = 100;
	}
	return 0;
}

void vxpu_monitor_snapshot_free(struct vxpu_monitor_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ncontainers; i++)
		free(s->containers[i].procs);
	free(s->containers);
	free(s->shares);
	free(s->watch);
	s->containers = NULL;
	s->shares = NULL;
	s->watch = NULL;
	s->ncontainers = s->nshares = s->nwatch = 0;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Every folder of the sorted names into s, through the kept open regions. 0 or -1 (OOM). */
static int read_containers(struct vxpu_monitor_collector *c, char **names, size_t nnames,
                           struct vxpu_monitor_snapshot *s)
{
	struct open_region *next = nnames ? calloc(nnames, sizeof(*next)) : NULL;
	if (nnames && !next)
		return -1;
	size_t j = 0, k = 0, container_cap = 0, share_cap = 0;
	int rc = 0;
	for (size_t i = 0; i < nnames && rc == 0; i++) {
		struct vxpu_monitor_container ct;
		char why[400];
		if (container_identity(c, names[i], &ct, why, sizeof(why)) != 0) {
			skip(s, "%s", why);
			continue;
		}
		bool oom = false;
		struct vxpu_region *r = open_for_pass(c->open, c->nopen, &j, next, &k, names[i],
		                                      ct.region_path, why, sizeof(why), &oom);
		if (!oom && !r) {
			skip(s, "%s", why);
			continue;
		}
		if (oom || read_container(c, ct, r, s, &container_cap, &share_cap) != 0)
			rc = -1;
	}
	/* What the merge did not reach: folders gone (or a pass cut short). */
	for (; j < c->nopen; j++)
		if (c->open[j].name)
			close_open_region(&c->open[j]);
	free(c->open);
	c->open = next;
	c->nopen = k;
	return rc;
}

int vxpu_monitor_collect(struct vxpu_monitor_collector *c, struct vxpu_monitor_snapshot *s,
                         char *err, size_t errlen)
{
	uint64_t started = monotonic_ns();
	vxpu_monitor_snapshot_free(s);
	uint64_t passes = s->passes;
	memset(s, 0, sizeof(*s));
	s->passes = passes;
	copy_text(s->node, sizeof(s->node), c->node);
	copy_text(s->vendor, sizeof(s->vendor), c->vendor);
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	s->taken_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	read_devices(c, s);

	DIR *dir = opendir(c->regions_dir);
	if (!dir)
		return vxpu_fail(err, errlen, "cannot list regions directory %s: %s",
		                 c->regions_dir, strerror(errno));
	char **names = NULL;
	size_t nnames = 0, names_cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (grow((void **)&names, &names_cap, nnames + 1, sizeof(*names)) != 0 ||
		    !(names[nnames] = strdup(de->d_name))) {
			rc = -1;
			break;
		}
		nnames++;
	}
	closedir(dir);
	if (rc == 0) {
		/* Sorted, so the exposition does not depend on directory order. */
		if (nnames > 1)
			qsort(names, nnames, sizeof(*names), compare_names);
		rc = read_containers(c, names, nnames, s);
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (rc != 0) {
		vxpu_monitor_snapshot_free(s);
		return vxpu_fail(err, errlen, "out of memory");
	}
	s->passes++;
	s->collect_ns = monotonic_ns() - started;
	return 0;
}

/* ---- killing ------------------------------------------------------------------ */

/* Whether the driver lists pid on device index now. */
static bool driver_lists(struct vxpu_monitor_collector *c, unsigned index, int32_t pid)
{
	nvmlDevice_t dev;
	struct device_figures *f = &c->figures[index];
	if (c->api.by_index(c->disc.devices[index].index, &dev) != NVML_SUCCESS ||
	    read_processes(c, dev, f) != 0)
		return false;
	return find_figure(f, pid) != NULL;
}

unsigned vxpu_monitor_kill_share(struct vxpu_monitor_collector *c,
                                 const struct vxpu_monitor_snapshot *s, size_t share)
{
	if (share >= s->nshares || !c->has_library)
		return 0;
	const struct vxpu_monitor_share *sh = &s->shares[share];
	if (sh->gpu < 0 || (unsigned)sh->gpu >= c->disc.count)
		return 0;
	const struct vxpu_monitor_container *ct = &s->containers[sh->container];
	struct vxpu_region r;
	char why[400];
	if (vxpu_region_open(&r, ct->region_path, VXPU_REGION_OPEN_READ, NULL, why, sizeof(why)) !=
	    0) {
		vxpu_log(VXPU_LOG_WARN, "watchdog cannot re-read region", "error", why,
		         (char *)NULL);
		return 0;
	}
	unsigned killed = 0;
	for (size_t i = 0; i < ct->nprocs; i++) {
		const struct vxpu_monitor_process *p = &ct->procs[i];
		if (p->host_pid <= 1 || p->host_pid == getpid())
			continue;
		int fd = pidfd_open(p->host_pid, 0);
		if (fd < 0)
			continue; /* gone already */
		/* From here the pidfd names one process for good; check it is ours. */
		bool same_claim = atomic_load(&r.slots[p->slot].state) == VXPU_REGION_SLOT_LIVE &&
		                  atomic_load(&r.slots[p->slot].generation) == p->generation &&
		                  vxpu_region_host_pid(&r, p->slot) == p->host_pid;
		if (same_claim && driver_lists(c, (unsigned)sh->gpu, p->host_pid) &&
		    pidfd_send_signal(fd, SIGKILL, NULL, 0) == 0)
			killed++;
		close(fd);
	}
	vxpu_region_close(&r);
	return killed;
}

/* ---- rendering ------------------------------------------------------------------ */

struct render {
	struct vxpu_prom w;
	unsigned skipped;
	const struct vxpu_monitor_snapshot *s;
};

static void family(struct render *r, const char *name, enum vxpu_prom_type type, const char *help)
{
	if (vxpu_prom_family(&r->w, name, type, help) != 0)
		r->skipped++;
}

static void sample(struct render *r, const struct vxpu_prom_label *labels, size_t n, double value)
{
	if (vxpu_prom_sample(&r->w, labels, n, value) != 0)
		r->skipped++;
}

/* Device labels, DCGM's (modelName spelt model_name: promtool's lint wants
 * snake_case label names). */
struct device_labels {
	char gpu[16], device[48];
	struct vxpu_prom_label l[5];
};

static void device_labels(struct device_labels *dl, const struct vxpu_monitor_snapshot *s,
                          const struct vxpu_monitor_device *d, const char *vendor)
{
	snprintf(dl->gpu, sizeof(dl->gpu), "%u", d->index);
	snprintf(dl->device, sizeof(dl->device), "%s%u", vendor, d->index);
	dl->l[0] = (struct vxpu_prom_label){"gpu", dl->gpu};
	dl->l[1] = (struct vxpu_prom_label){"UUID", d->uuid};
	dl->l[2] = (struct vxpu_prom_label){"device", dl->device};
	dl->l[3] = (struct vxpu_prom_label){"model_name", d->model};
	dl->l[4] = (struct vxpu_prom_label){"Hostname", s->node};
}

enum device_field {
	DEV_FB_TOTAL,
	DEV_FB_USED,
	DEV_FB_FREE,
	DEV_GPU_UTIL,
	DEV_ALLOCATED,
	DEV_COMPUTE,
	DEV_CONTAINERS,
	DEV_HEALTHY,
};

static const struct {
	const char *name, *help;
	bool needs_live;
} device_families[] = {
        [DEV_FB_TOTAL] = {"DCGM_FI_DEV_FB_TOTAL", "Device memory total (in MiB).", true},
        [DEV_FB_USED] = {"DCGM_FI_DEV_FB_USED", "Device memory used (in MiB).", true},
        [DEV_FB_FREE] = {"DCGM_FI_DEV_FB_FREE", "Device memory free (in MiB).", true},
        [DEV_GPU_UTIL] = {"DCGM_FI_DEV_GPU_UTIL", "Device utilization (in %).", true},
        [DEV_ALLOCATED] = {"vxpu_device_memory_allocated_bytes",
                           "Sum of the memory limits of the containers on the device.", false},
        [DEV_COMPUTE] = {"vxpu_device_compute_allocated_percent",
                         "Sum of the compute limits of the containers on the device.", false},
        [DEV_CONTAINERS] = {"vxpu_device_containers", "Containers holding a share of the device.",
                            false},
        [DEV_HEALTHY] = {"vxpu_device_healthy", "1 when the device is healthy, 0 when failed.",
                         false},
};

/* DCGM reports framebuffer sizes in whole MiB. */
static double whole_mib(uint64_t bytes)
{
	return (double)(bytes >> 20);
}

static void render_devices(struct render *r, const char *vendor)
{
	const struct vxpu_monitor_snapshot *s = r->s;
	for (size_t f = 0; f < sizeof(device_families) / sizeof(device_families[0]); f++) {
		family(r, device_families[f].name, VXPU_PROM_GAUGE, device_families[f].help);
		for (size_t i = 0; i < s->ndevices; i++) {
			const struct vxpu_monitor_device *d = &s->devices[i];
			if (device_families[f].needs_live && !d->live)
				continue;
			double v = 0;
			switch ((enum device_field)f) {
			case DEV_FB_TOTAL:
				v = whole_mib(d->memory_total);
				break;
			case DEV_FB_USED:
				v = whole_mib(d->memory_used);
				break;
			case DEV_FB_FREE:
				v = whole_mib(d->memory_total > d->memory_used
				                      ? d->memory_total - d->memory_used
				                      : 0);
				break;
			case DEV_GPU_UTIL:
				v = d->utilization;
				break;
			case DEV_ALLOCATED:
				v = (double)d->memory_allocated;
				break;
			case DEV_COMPUTE:
				v = d->compute_allocated;
				break;
			case DEV_CONTAINERS:
				v = d->containers;
				break;
			case DEV_HEALTHY:
				if (d->healthy < 0)
					continue;
				v = d->healthy;
				break;
			}
			struct device_labels dl;
			memset(&dl, 0, sizeof(dl));
			device_labels(&dl, s, d, vendor);
			sample(r, dl.l, 5, v);
		}
	}
}

/* Share labels: the container, its device number, the host device. */
struct share_labels {
	char ordinal[16], gpu[16];
	struct vxpu_prom_label l[7];
};

static void share_labels(struct share_labels *sl, const struct vxpu_monitor_snapshot *s,
                         const struct vxpu_monitor_share *sh)
{
	const struct vxpu_monitor_container *ct = &s->containers[sh->container];
	snprintf(sl->ordinal, sizeof(sl->ordinal), "%u", sh->ordinal);
	if (sh->gpu >= 0)
		snprintf(sl->gpu, sizeof(sl->gpu), "%u", s->devices[sh->gpu].index);
	else
		sl->gpu[0] = '\0'; /* the region names no device of this node */
	sl->l[0] = (struct vxpu_prom_label){"namespace", ct->ns};
	sl->l[1] = (struct vxpu_prom_label){"pod", ct->pod};
	sl->l[2] = (struct vxpu_prom_label){"container", ct->container};
	sl->l[3] = (struct vxpu_prom_label){"container_device", sl->ordinal};
	sl->l[4] = (struct vxpu_prom_label){"gpu", sl->gpu};
	sl->l[5] = (struct vxpu_prom_label){"UUID", sh->uuid};
	sl->l[6] = (struct vxpu_prom_label){"Hostname", s->node};
}

enum share_field {
	SH_LIMIT,
	SH_CHARGED,
	SH_USED,
	SH_CORE,
	SH_UTIL,
	SH_COMPUTE_CHARGED,
	SH_COMPUTE_HELD,
	SH_LAUNCHES,
	SH_HELD_LAUNCHES,
};

static const struct {
	const char *name, *help;
	enum vxpu_prom_type type;
} share_families[] = {
        [SH_LIMIT] = {"vxpu_container_memory_limit_bytes",
                      "The container's device memory limit (absent when unlimited).",
                      VXPU_PROM_GAUGE},
        [SH_CHARGED] = {"vxpu_container_memory_charged_bytes",
                        "Device memory the container's processes obtained through libvxpu.",
                        VXPU_PROM_GAUGE},
        [SH_USED] = {"vxpu_container_memory_used_bytes",
                     "Device memory the driver reports for the container's processes.",
                     VXPU_PROM_GAUGE},
        [SH_CORE] = {"vxpu_container_compute_limit_percent",
                     "The container's compute limit, percent of the device (absent when none).",
                     VXPU_PROM_GAUGE},
        [SH_UTIL] = {"vxpu_container_utilization_percent",
                     "Device time the container's processes used since the previous sample, "
                     "percent of the device.",
                     VXPU_PROM_GAUGE},
        [SH_COMPUTE_CHARGED] = {"vxpu_container_compute_charged_seconds_total",
                                "Device time libvxpu charged to the container's compute budget.",
                                VXPU_PROM_COUNTER},
        [SH_COMPUTE_HELD] = {"vxpu_container_compute_throttled_seconds_total",
                             "Time the container's kernel launches waited for its compute "
                             "budget.",
                             VXPU_PROM_COUNTER},
        [SH_LAUNCHES] = {"vxpu_container_kernel_launches_total",
                         "Kernel launches under a compute limit or priority.", VXPU_PROM_COUNTER},
        [SH_HELD_LAUNCHES] = {"vxpu_container_kernel_launches_throttled_total",
                              "Kernel launches that waited for the compute budget.",
                              VXPU_PROM_COUNTER},
};

static void render_shares(struct render *r)
{
	const struct vxpu_monitor_snapshot *s = r->s;
	for (size_t f = 0; f < sizeof(share_families) / sizeof(share_families[0]); f++) {
		family(r, share_families[f].name, share_families[f].type, share_families[f].help);
		for (size_t i = 0; i < s->nshares; i++) {
			const struct vxpu_monitor_share *sh = &s->shares[i];
			double v;
			switch ((enum share_field)f) {
			case SH_LIMIT:
				if (sh->memory_limit == VXPU_REGION_UNLIMITED)
					continue;
				v = (double)sh->memory_limit;
				break;
			case SH_CHARGED:
				v = (double)sh->memory_charged;
				break;
			case SH_USED:
				if (!sh->memory_used_known)
					continue;
				v = (double)sh->memory_used;
				break;
			case SH_CORE:
				if (sh->core_limit == 0)
					continue;
				v = sh->core_limit;
				break;
			case SH_UTIL:
				if (!sh->utilization_known)
					continue;
				v = sh->utilization;
				break;
			default:
				/* The budget's counters, where libvxpu keeps a budget. */
				if (sh->core_limit == 0 && sh->launches == 0)
					continue;
				v = f == SH_COMPUTE_CHARGED ? (double)sh->compute_charged_ns / 1e9
				    : f == SH_COMPUTE_HELD  ? (double)sh->compute_held_ns / 1e9
				    : f == SH_LAUNCHES      ? (double)sh->launches
				                            : (double)sh->held_launches;
				break;
			}
			struct share_labels sl;
			memset(&sl, 0, sizeof(sl));
			share_labels(&sl, s, sh);
			sample(r, sl.l, 7, v);
		}
	}
}

static void render_containers(struct render *r)
{
	const struct vxpu_monitor_snapshot *s = r->s;
	for (int f = 0; f < 2; f++) {
		if (f == 0)
			family(r, "vxpu_container_processes", VXPU_PROM_GAUGE,
			       "Live processes of the container in its region.");
		else
			family(r, "vxpu_container_processes_unattributed", VXPU_PROM_GAUGE,
			       "Live processes of the container whose host PID is not known yet.");
		for (size_t i = 0; i < s->ncontainers; i++) {
			const struct vxpu_monitor_container *ct = &s->containers[i];
			struct vxpu_prom_label l[] = {{"namespace", ct->ns},
			                              {"pod", ct->pod},
			                              {"container", ct->container},
			                              {"Hostname", s->node}};
			sample(r, l, 4, f == 0 ? ct->processes : ct->unattributed);
		}
	}
}

static const struct vxpu_monitor_container *container_of_key(const struct vxpu_monitor_snapshot *s,
                                                             const char *key)
{
	size_t lo = 0, hi = s->ncontainers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, s->containers[mid].key);
		if (c == 0)
			return &s->containers[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void render_watchdog(struct render *r)
{
	const struct vxpu_monitor_snapshot *s = r->s;
	static const struct {
		const char *name, *help;
		enum vxpu_prom_type type;
	} fams[] = {
	        {"vxpu_watchdog_flagged",
	         "1 while the container uses more than its limit plus the margin for longer "
	         "than the window.",
	         VXPU_PROM_GAUGE},
	        {"vxpu_watchdog_violations_total",
	         "Times the container was flagged for using more than its limit.",
	         VXPU_PROM_COUNTER},
	        {"vxpu_watchdog_kills_total", "Processes of the container killed by enforcement.",
	         VXPU_PROM_COUNTER},
	};
	for (size_t f = 0; f < 3; f++) {
		family(r, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < s->nwatch; i++) {
			const struct vxpu_watchdog_status *st = &s->watch[i];
			const struct vxpu_monitor_container *ct = container_of_key(s, st->key);
			if (!ct)
				continue;
			char gpu[16];
			const char *uuid = "";
			snprintf(gpu, sizeof(gpu), "%u", st->gpu);
			for (size_t d = 0; d < s->ndevices; d++)
				if (s->devices[d].index == st->gpu)
					uuid = s->devices[d].uuid;
			struct vxpu_prom_label l[] = {{"namespace", ct->ns},
			                              {"pod", ct->pod},
			                              {"container", ct->container},
			                              {"gpu", gpu},
			                              {"UUID", uuid},
			                              {"kind", vxpu_watchdog_kind_name(st->kind)},
			                              {"Hostname", s->node}};
			double v = f == 0 ? (st->flagged ? 1 : 0)
			                  : (double)(f == 1 ? st->violations : st->kills);
			sample(r, l, 7, v);
		}
	}
}

static void render_self(struct render *r)
{
	const struct vxpu_monitor_snapshot *s = r->s;
	struct vxpu_prom_label host[] = {{"Hostname", s->node}};
	family(r, "vxpu_monitor_library_up", VXPU_PROM_GAUGE,
	       "1 when the management library answered the last sample.");
	sample(r, host, 1, s->library_up ? 1 : 0);
	family(r, "vxpu_monitor_regions", VXPU_PROM_GAUGE,
	       "Container regions read by the last sample.");
	sample(r, host, 1, (double)s->ncontainers);
	family(r, "vxpu_monitor_regions_skipped", VXPU_PROM_GAUGE,
	       "Entries of the regions directory the last sample could not read.");
	sample(r, host, 1, s->regions_skipped);
	family(r, "vxpu_monitor_sample_duration_seconds", VXPU_PROM_GAUGE,
	       "How long the last sample took.");
	sample(r, host, 1, (double)s->collect_ns / 1e9);
	family(r, "vxpu_monitor_last_sample_timestamp_seconds", VXPU_PROM_GAUGE,
	       "When the last sample was taken, seconds since the epoch.");
	sample(r, host, 1, (double)s->taken_unix_ms / 1000.0);
	family(r, "vxpu_monitor_samples_total", VXPU_PROM_COUNTER,
	       "Samples taken since the start.");
	sample(r, host, 1, (double)s->passes);
}

char *vxpu_monitor_render(const struct vxpu_monitor_snapshot *s, size_t *len, unsigned *skipped)
{
	const char *vendor = s->vendor[0] ? s->vendor : "gpu";
	struct render r = {.s = s};
	vxpu_prom_init(&r.w);
	render_devices(&r, vendor);
	render_shares(&r);
	render_containers(&r);
	render_watchdog(&r);
	render_self(&r);
	if (skipped)
		*skipped = r.skipped;
	return vxpu_prom_finish(&r.w, len);
}

/* ---- the running monitor ---------------------------------------------------------- */

struct vxpu_monitor {
	struct vxpu_monitor_config cfg;
	char regions_dir[VXPU_MONITOR_PATH_MAX];
	struct vxpu_monitor_collector *collector;
	struct vxpu_watchdog *watchdog;
	struct vxpu_http_server *server;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards current, last_pass_ns, stopping */
	pthread_cond_t wake;
	bool stopping;
	struct vxpu_monitor_snapshot current; /* the latest finished pass */
	uint64_t last_pass_ns;                /* monotonic time of that pass */
	struct vxpu_monitor_snapshot next;    /* the sampling thread's own */
	char address[96];
};

struct emit_ctx {
	struct vxpu_monitor *m;
	const struct vxpu_monitor_snapshot *s;
	const size_t *share_of; /* observation -> share */
};

static void format_figure(char *buf, size_t cap, enum vxpu_watchdog_kind kind, double v)
{
	if (kind == VXPU_WATCHDOG_MEMORY)
		snprintf(buf, cap, "%.0f", v);
	else
		snprintf(buf, cap, "%.1f", v);
}

static unsigned on_watchdog(void *ctx, const struct vxpu_watchdog_event *ev)
{
	struct emit_ctx *e = ctx;
	size_t share = e->share_of[ev->observation];
	const struct vxpu_monitor_share *sh = &e->s->shares[share];
	const struct vxpu_monitor_container *ct = &e->s->containers[sh->container];
	unsigned killed = 0;
	if (ev->type == VXPU_WATCHDOG_ENFORCE) {
		killed = vxpu_monitor_kill_share(e->m->collector, e->s, share);
		if (killed == 0)
			return 0; /* nothing left to kill: no line, no event */
	}
	static const char *const what[] = {"watchdog flagged", "watchdog killed",
	                                   "watchdog cleared"};
	char gpu[16], used[32], limit[32], threshold[32], over[32], nkilled[16];
	snprintf(gpu, sizeof(gpu), "%u", ev->gpu);
	format_figure(used, sizeof(used), ev->kind, ev->used);
	format_figure(limit, sizeof(limit), ev->kind, ev->limit);
	format_figure(threshold, sizeof(threshold), ev->kind, ev->threshold);
	snprintf(over, sizeof(over), "%llu", (unsigned long long)(ev->over_ns / 1000000));
	snprintf(nkilled, sizeof(nkilled), "%u", killed);
	vxpu_log(VXPU_LOG_WARN, what[ev->type], "kind", vxpu_watchdog_kind_name(ev->kind),
	         "namespace", ct->ns, "pod", ct->pod, "container", ct->container, "gpu", gpu,
	         "uuid", sh->uuid, "used", used, "limit", limit, "threshold", threshold, "over_ms",
	         over, ev->type == VXPU_WATCHDOG_ENFORCE ? "killed" : (char *)NULL, nkilled,
	         (char *)NULL);
	if (e->m->cfg.on_event) {
		struct vxpu_monitor_event me = {.watchdog = ev,
		                                .ns = ct->ns,
		                                .pod = ct->pod,
		                                .container = ct->container,
		                                .uuid = sh->uuid,
		                                .killed = killed};
		e->m->cfg.on_event(e->m->cfg.ctx, &me);
	}
	return killed;
}

/* One pass into m->next: collect, health, watchdog; then publish it.
 * 0, or -1 with the reason (logged too) when nothing could be collected. */
static int monitor_pass(struct vxpu_monitor *m, char *err, size_t errlen)
{
	if (vxpu_monitor_collect(m->collector, &m->next, err, errlen) != 0) {
		vxpu_log(VXPU_LOG_WARN, "monitor sample failed", "error", err, (char *)NULL);
		return -1;
	}
	struct vxpu_monitor_snapshot *s = &m->next;
	if (m->cfg.device_health)
		for (size_t i = 0; i < s->ndevices; i++) {
			bool healthy;
			if (m->cfg.device_health(m->cfg.ctx, s->devices[i].index, &healthy))
				s->devices[i].healthy = healthy ? 1 : 0;
		}
	struct vxpu_watchdog_observation *obs =
	        s->nshares ? calloc(s->nshares, sizeof(*obs)) : NULL;
	size_t *share_of = s->nshares ? calloc(s->nshares, sizeof(*share_of)) : NULL;
	size_t n = 0;
	if (s->nshares && (!obs || !share_of)) {
		vxpu_log(VXPU_LOG_WARN, "monitor sample failed", "error", "out of memory",
		         (char *)NULL);
	} else {
		for (size_t i = 0; i < s->nshares; i++) {
			const struct vxpu_monitor_share *sh = &s->shares[i];
			if (sh->gpu < 0)
				continue;
			share_of[n] = i;
			obs[n++] = (struct vxpu_watchdog_observation){
			        .key = s->containers[sh->container].key,
			        .gpu = s->devices[sh->gpu].index,
			        .memory_used_known = sh->memory_used_known,
			        .memory_used = sh->memory_used,
			        .memory_limit = sh->memory_limit,
			        .utilization_known = sh->utilization_known,
			        .utilization = sh->utilization,
			        .core_limit = sh->core_limit};
		}
		struct emit_ctx e = {.m = m, .s = s, .share_of = share_of};
		if (vxpu_watchdog_observe(m->watchdog, monotonic_ns(), obs, n, on_watchdog, &e) !=
		    0)
			vxpu_log(VXPU_LOG_WARN, "watchdog pass failed", "error", "out of memory",
			         (char *)NULL);
		size_t total = vxpu_watchdog_status(m->watchdog, NULL, 0);
		if (total) {
			s->watch = calloc(total, sizeof(*s->watch));
			if (s->watch)
				s->nwatch = vxpu_watchdog_status(m->watchdog, s->watch, total);
		}
	}
	free(obs);
	free(share_of);
	pthread_mutex_lock(&m->lock);
	struct vxpu_monitor_snapshot old = m->current;
	m->current = m->next;
	m->last_pass_ns = monotonic_ns();
	pthread_mutex_unlock(&m->lock);
	/* The old pass becomes the buffer of the next one (collect frees it). */
	m->next = old;
	m->next.passes = m->current.passes;
	return 0;
}

static void *sampling_thread(void *arg)
{
	struct vxpu_monitor *m = arg;
	uint64_t interval = (uint64_t)m->cfg.interval_ms * 1000000ULL;
	uint64_t due = monotonic_ns() + interval;
	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		struct timespec ts = {.tv_sec = (time_t)(due / 1000000000ULL),
		                      .tv_nsec = (long)(due % 1000000000ULL)};
		int rc = pthread_cond_timedwait(&m->wake, &m->lock, &ts);
		if (m->stopping)
			break;
		if (rc != ETIMEDOUT && monotonic_ns() < due)
			continue;
		pthread_mutex_unlock(&m->lock);
		char err[400];
		monitor_pass(m, err, sizeof(err));
		/* Fixed rate; a pass that overran starts the next one an interval later. */
		uint64_t now = monotonic_ns();
		due += interval;
		if (due <= now)
			due = now + interval;
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

char *vxpu_monitor_metrics(struct vxpu_monitor *m, size_t *len)
{
	pthread_mutex_lock(&m->lock);
	char *text = vxpu_monitor_render(&m->current, len, NULL);
	pthread_mutex_unlock(&m->lock);
	return text;
}

static void handle_metrics(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	size_t len = 0;
	char *text = vxpu_monitor_metrics(ctx, &len);
	vxpu_http_respond_take(resp, 200, VXPU_PROM_CONTENT_TYPE, text, len);
}

static void handle_healthz(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                           void *ctx)
{
	(void)req;
	struct vxpu_monitor *m = ctx;
	pthread_mutex_lock(&m->lock);
	uint64_t age = monotonic_ns() - m->last_pass_ns;
	pthread_mutex_unlock(&m->lock);
	uint64_t limit = 10ULL * m->cfg.interval_ms * 1000000ULL;
	if (age <= limit)
		vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "ok\n", 3);
	else
		vxpu_http_respond_error(resp, 503, "no sample for %llu ms",
		                        (unsigned long long)(age / 1000000));
}

int vxpu_monitor_start(const struct vxpu_monitor_config *cfg, struct vxpu_monitor **out, char *err,
                       size_t errlen)
{
	if (!cfg->regions_dir)
		return vxpu_fail(err, errlen, "regions directory not set");
	struct vxpu_monitor *m = calloc(1, sizeof(*m));
	if (!m)
		return vxpu_fail(err, errlen, "out of memory");
	m->cfg = *cfg;
	if (m->cfg.interval_ms == 0)
		m->cfg.interval_ms = VXPU_MONITOR_INTERVAL_MS;
	copy_text(m->regions_dir, sizeof(m->regions_dir), cfg->regions_dir);
	m->cfg.regions_dir = m->regions_dir;
	m->cfg.listen = NULL; /* only used here, not kept */
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (vxpu_monitor_collector_open(&m->collector, &cfg->discover, cfg->regions_dir, cfg->node,
	                                err, errlen) != 0)
		goto fail;
	if (vxpu_watchdog_new(&m->watchdog, &cfg->watchdog) != 0) {
		vxpu_fail(err, errlen, "out of memory");
		goto fail;
	}
	/* The first pass, so /metrics has content from the start; a regions
	 * directory that cannot be listed is a start error. */
	if (monitor_pass(m, err, errlen) != 0)
		goto fail;
	if (cfg->listen) {
		static const char *const paths[] = {"/metrics", "/healthz"};
		struct vxpu_http_route routes[] = {{"GET", paths[0], handle_metrics, m},
		                                   {"GET", paths[1], handle_healthz, m}};
		struct vxpu_http_config hc = {
		        .name = "monitor", .listen = cfg->listen, .routes = routes, .nroutes = 2};
		if (vxpu_http_start(&hc, &m->server, err, errlen) != 0)
			goto fail;
		copy_text(m->address, sizeof(m->address), vxpu_http_address(m->server));
	}
	if (pthread_create(&m->thread, NULL, sampling_thread, m) != 0) {
		vxpu_fail(err, errlen, "cannot start the sampling thread");
		goto fail;
	}
	m->thread_started = true;
	*out = m;
	return 0;
fail:
	vxpu_monitor_stop(m);
	return -1;
}

const char *vxpu_monitor_address(const struct vxpu_monitor *m)
{
	return m->address;
}

void vxpu_monitor_stop(struct vxpu_monitor *m)
{
	if (!m)
		return;
	/* The server first: no handler may run once the snapshot is freed. */
	vxpu_http_stop(m->server, 1000);
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->stopping = true;
		pthread_cond_signal(&m->wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	vxpu_monitor_snapshot_free(&m->current);
	vxpu_monitor_snapshot_free(&m->next);
	vxpu_watchdog_free(m->watchdog);
	vxpu_monitor_collector_close(m->collector);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
