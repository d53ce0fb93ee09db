/*
 * cmd_node.c - `vxpu node`: the node agent's pieces, each runnable alone.
 *
 *   vxpu node health     watch the devices' health (XID / ECC events and
 *                        probes, src/node/health.c) and print one logfmt line
 *                        per device at start and one per change
 *   vxpu node host-pids  one pass of writing host PIDs into a container's
 *                        region (src/node/hostpid.c) and what it did
 *   vxpu node plugin     the Kubernetes side of the agent: one kubelet
 *                        device plugin per vendor resource (src/kube/
 *                        deviceplugin.c) answering Allocate from the node's
 *                        allocation lease and the pod's annotation on the
 *                        API server (deviceplugin_apisource.c), the node
 *                        registration annotation and device Events
 *                        (node_reporter.c), health, and a host-PID pass over
 *                        every container region each second
 *   vxpu node agent      the plugin and the monitor (src/node/monitor.c:
 *                        /metrics per container, the bypass watchdog, whose
 *                        findings become Events on the pod) in one process:
 *                        what the DaemonSet runs
 *   vxpu node monitor    the monitor alone (src/cli/node_monitor.c)
 *
 * Output goes to stdout, one line per event, flushed at once, so another
 * program (or a test) can follow it as it happens. Every flag value is
 * parsed strictly; a bad one is a usage error naming the flag and value.
 */
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/node_monitor.h"
#include "core/health.h"
#include "core/annotation.h"
#include "core/logfmt.h"
#include "core/model.h"
#include "core/vendor.h"
#include "node/discover.h"
#include "node/health.h"
#include "node/hostpid.h"
#include "kube/deviceplugin.h"
#include "kube/deviceplugin_apisource.h"
#include "kube/deviceplugin_match.h"
#include "kube/kubeclient.h"
#include "kube/node_reporter.h"
#include "limiter/region.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char node_usage[] =
        "usage: vxpu node agent|plugin --kubeconfig FILE|--in-cluster [flags]\n"
        "       vxpu node monitor --regions DIR [flags]\n"
        "       vxpu node health [health flags]\n"
        "       vxpu node host-pids --region FILE [--cgroup TEXT] [--any-process] [--proc DIR]\n"
        "\n"
        "agent runs the node agent as the DaemonSet does: one kubelet device plugin per\n"
        "vendor resource, Allocate answered from the node's allocation lease and the\n"
        "pod's vxpu.io/allocation annotation, the vxpu.io/node-registration annotation\n"
        "on the Node, Warning Events on the pods of a device that fails, device health\n"
        "and host PIDs in container regions, and the monitor: /metrics per container\n"
        "and the bypass watchdog (its findings also become Events on the pod). plugin\n"
        "is the same without the monitor. monitor runs the monitor alone (vxpu node\n"
        "monitor --help).\n"
        "\n"
        "agent and plugin flags:\n"
        "  --kubeconfig FILE           API server credentials (default: the service\n"
        "                              account in a cluster, else $KUBECONFIG)\n"
        "  --context NAME              kubeconfig context (default: current)\n"
        "  --in-cluster                the service account, even with $KUBECONFIG set\n"
        "  --node NAME                 this node (default $NODE_NAME, else the host name)\n"
        "  --lease-namespace NS        where the allocation Leases live (default: the\n"
        "                              credentials' namespace, as for the scheduler)\n"
        "  --heartbeat DURATION        registration refresh (default 30s, 1s..1h)\n"
        "  --no-events                 post no Events for pods on a failed device\n"
        "  --plugin-dir DIR            kubelet's plugin folder\n"
        "                              (default /var/lib/kubelet/device-plugins)\n"
        "  --resource NAME             one resource for every card (default: each card's\n"
        "                              vendor profile; one plugin per resource)\n"
        "  --slices N                  virtual IDs per card (default: the profile's)\n"
        "  --state-dir DIR             libvxpu.so, ld.so.preload, container regions\n"
        "                              (default /var/lib/vxpu)\n"
        "\n"
        "agent flags of the monitor (see vxpu node monitor --help; --regions defaults\n"
        "to STATE/containers, --listen to 0.0.0.0:9400):\n"
        "  --regions, --listen, --interval, --enforce, --memory-margin,\n"
        "  --memory-window, --compute-margin, --compute-window\n"
        "\n"
        "health (and agent/plugin) flags:\n"
        "  --backend auto|nvml|sim     management library to use (default auto; $VXPU_BACKEND)\n"
        "  --recovery never|when-clear recovery policy (default when-clear)\n"
        "  --recover-after DURATION    quiet time before recovery (default 30s; ms, s, m, h)\n"
        "  --app-xids LIST|none        XIDs a program causes, which never fail a device\n"
        "                              (default 13,31,43,45,68,109)\n"
        "  --probe-interval DURATION   how often devices are probed (default 500ms, 10ms..1m)\n"
        "  --duration DURATION         stop after this long (default: until SIGINT/SIGTERM)\n"
        "\n"
        "health prints one line per device at start and one per change:\n"
        "  ts=... msg=health dev=1 uuid=GPU-... healthy=false reason=\"critical XID 79\"\n"
        "A critical XID (any code not on the application list) or a double-bit ECC\n"
        "error fails a device at once; a lost device or a non-zero count of\n"
        "uncorrectable errors fails it at the next probe. Under when-clear, a device\n"
        "comes back at the first clean probe after --recover-after without errors.\n";

struct node_output {
	pthread_mutex_t lock; /* one whole line at a time; guards plugins and healthy */
	struct vxpu_discovery disc;
	/* plugin mode: one plugin per vendor resource (NULL while restarting) */
	unsigned nplugins;
	const struct vxpu_dp_plugin_plan *plans;
	struct vxpu_dp *plugins[VXPU_DP_MAX_PLUGINS];
	struct vxpu_node_reporter *reporter; /* registration and Events, or NULL */
	bool healthy[VXPU_FOUND_MAX_DEVICES];
};

static void print_health(struct node_output *o, unsigned index, const struct vxpu_device_health *h)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[512], num[32];
	size_t len = vxpu_logfmt_begin(line, sizeof(line),
	                               (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	                               VXPU_LOG_INFO, "health");
	snprintf(num, sizeof(num), "%u", index);
	vxpu_logfmt_field(line, sizeof(line), &len, "dev", num);
	if (index < o->disc.count)
		vxpu_logfmt_field(line, sizeof(line), &len, "uuid", o->disc.devices[index].uuid);
	vxpu_logfmt_field(line, sizeof(line), &len, "healthy", h->healthy ? "true" : "false");
	if (!h->healthy)
		vxpu_logfmt_field(line, sizeof(line), &len, "reason", h->reason);
	pthread_mutex_lock(&o->lock);
	puts(line);
	fflush(stdout);
	pthread_mutex_unlock(&o->lock);
}

static void on_change(void *ctx, unsigned index, const struct vxpu_device_health *h)
{
	struct node_output *o = ctx;
	print_health(o, index, h);
	pthread_mutex_lock(&o->lock);
	if (index < VXPU_FOUND_MAX_DEVICES)
		o->healthy[index] = h->healthy;
	for (unsigned p = 0; p < o->nplugins; p++)
		for (unsigned k = 0; k < o->plans[p].ncards; k++)
			if (o->plans[p].cards[k] == index && o->plugins[p])
				vxpu_dp_set_health(o->plugins[p], k, h->healthy);
	struct vxpu_node_reporter *rep = o->reporter;
	pthread_mutex_unlock(&o->lock);
	/* The reporter lives until the watcher has stopped (node_health's end). */
	vxpu_node_reporter_health(rep, index, h->healthy, h->healthy ? "" : h->reason);
}

static void print_event2(struct node_output *o, const char *msg, const char *key, const char *value,
                         const char *key2, const char *value2)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[1024];
	size_t len = vxpu_logfmt_begin(line, sizeof(line),
	                               (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	                               VXPU_LOG_INFO, msg);
	if (key)
		vxpu_logfmt_field(line, sizeof(line), &len, key, value);
	if (key2)
		vxpu_logfmt_field(line, sizeof(line), &len, key2, value2);
	pthread_mutex_lock(&o->lock);
	puts(line);
	fflush(stdout);
	pthread_mutex_unlock(&o->lock);
}

static void print_event(struct node_output *o, const char *msg, const char *key, const char *value)
{
	print_event2(o, msg, key, value, NULL, NULL);
}

struct plugin_flags {
	const char *plugin_dir, *resource, *state_dir, *node_name;
	const char *kubeconfig, *context, *lease_namespace;
	bool in_cluster, no_events;
	uint64_t heartbeat_ns;
	unsigned slices; /* 0: each card's profile slice count */
};

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %.300s: %s", path, strerror(errno));
	return -1;
}

/* Writes len bytes to path through a temporary file and a rename, so a
 * container starting meanwhile never maps half a file. */
static int write_atomically(const char *path, const char *data, size_t len, char *err,
                            size_t errlen)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w <= 0) {
			snprintf(err, errlen, "cannot write %.300s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		done += (size_t)w;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot install %.300s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* libvxpu.so: $VXPU_LIBRARY, else beside the vxpu binary. */
static int read_limiter(char **data, size_t *len, char *err, size_t errlen)
{
	char path[PATH_MAX];
	const char *env = getenv("VXPU_LIBRARY");
	if (env && *env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
		if (n <= 0) {
			snprintf(err, errlen, "cannot locate the vxpu binary");
			return -1;
		}
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		snprintf(slash ? slash + 1 : path, 16, "libvxpu.so");
	}
	FILE *f = fopen(path, "rb");
	struct stat sb;
	if (!f || fstat(fileno(f), &sb) != 0 || sb.st_size <= 0 || sb.st_size > (64 << 20)) {
		snprintf(err, errlen, "cannot read libvxpu.so at %.300s (set VXPU_LIBRARY): %s",
		         path, f ? "not a library file" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	*len = (size_t)sb.st_size;
	*data = malloc(*len);
	bool ok = *data && fread(*data, 1, *len, f) == *len;
	fclose(f);
	if (!ok) {
		free(*data);
		snprintf(err, errlen, "cannot read %.300s", path);
		return -1;
	}
	return 0;
}

/*
 * The host side of every answer: STATE/lib/libvxpu.so and
 * STATE/lib/ld.so.preload (naming the library's path inside containers),
 * STATE/containers (one region folder per container), STATE/devices.
 */
static int install_state(const struct vxpu_dp_config *c, const char *state, char *err,
                         size_t errlen)
{
	char lib[PATH_MAX];
	snprintf(lib, sizeof(lib), "%s/lib", state);
	if (make_dir(state, err, errlen) != 0 || make_dir(lib, err, errlen) != 0 ||
	    make_dir(c->region_root, err, errlen) != 0 ||
	    make_dir(c->device_dir_host, err, errlen) != 0)
		return -1;
	char *data;
	size_t len;
	if (read_limiter(&data, &len, err, errlen) != 0)
		return -1;
	int rc = write_atomically(c->library_host_path, data, len, err, errlen);
	free(data);
	char preload[VXPU_DP_PATH_MAX + 2];
	int n = snprintf(preload, sizeof(preload), "%s\n", c->library_container_path);
	return rc == 0 ? write_atomically(c->preload_host_path, preload, (size_t)n, err, errlen)
	               : -1;
}

/* Allocate's last step: the container's managed region, with the
 * allocation's limits and device UUIDs, before the container starts. */
/* The file in a container's region folder naming the pod's uid, so the
 * folder is removed with that pod and never with a later one of its name. */
#define POD_UID_FILE "pod-uid"

static int prepare_region(void *ctx, const struct vxpu_pod_allocation *a, unsigned container,
                          const struct vxpu_dp_answer *answer, char *err, size_t errlen)
{
	struct vxpu_dp_apisource *source = ctx;
	const struct vxpu_alloc_container *ct = &a->containers[container];
	if (ct->count > VXPU_REGION_MAX_DEVICES) {
		snprintf(err, errlen, "container \"%s\" has %u devices; a region holds %u",
		         ct->name, (unsigned)ct->count, VXPU_REGION_MAX_DEVICES);
		return -1;
	}
	if (make_dir(answer->region_host_dir, err, errlen) != 0)
		return -1;
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.managed = true;
	for (uint32_t i = 0; i < ct->count; i++) {
		const struct vxpu_alloc_device *d = &a->devices[ct->first + i];
		init.memory_limit[i] = d->memory_mib << 20;
		init.uuid_set[i] = vxpu_region_parse_uuid(d->id, init.uuid[i]) == 0;
	}
	char path[sizeof(answer->region_host_dir) + 8];
	snprintf(path, sizeof(path), "%s/region", answer->region_host_dir);
	struct vxpu_region r;
	if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_CREATE, &init, err, errlen) != 0)
		return -1;
	vxpu_region_close(&r);
	char pod[VXPU_DP_POD_KEY_MAX], uid[VXPU_DP_UID_MAX];
	snprintf(pod, sizeof(pod), "%s/%s", a->ns, a->pod);
	if (source && vxpu_dp_apisource_uid_of(source, pod, uid, sizeof(uid)) == 0) {
		snprintf(path, sizeof(path), "%s/" POD_UID_FILE, answer->region_host_dir);
		if (write_atomically(path, uid, strlen(uid), err, errlen) != 0)
			return -1;
	}
	return 0;
}

/*
 * A pod this node ran is gone: the region folders of its containers
 * (STATE/containers/<ns>_<pod>_<container>; names hold no '_') go too, when
 * their pod-uid file names that pod. A process still holding a region
 * keeps its mapping; nothing new can open it.
 */
struct gone_ctx {
	struct node_output *out;
	char region_root[VXPU_DP_PATH_MAX];
};

static void remove_pod_regions(void *ctx, const char *ns, const char *name, const char *uid)
{
	const struct gone_ctx *g = ctx;
	char prefix[VXPU_NAMESPACE_MAX + VXPU_POD_NAME_MAX + 4];
	snprintf(prefix, sizeof(prefix), "%s_%s_", ns, name);
	DIR *dir = opendir(g->region_root);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    strchr(de->d_name + strlen(prefix), '_'))
			continue;
		char folder[PATH_MAX], file[PATH_MAX + 16], have[VXPU_DP_UID_MAX] = "";
		if ((size_t)snprintf(folder, sizeof(folder), "%s/%s", g->region_root, de->d_name) >=
		    sizeof(folder))
			continue;
		snprintf(file, sizeof(file), "%s/" POD_UID_FILE, folder);
		FILE *f = fopen(file, "r");
		if (!f)
			continue;
		size_t n = fread(have, 1, sizeof(have) - 1, f);
		fclose(f);
		have[n] = '\0';
		if (strcmp(have, uid) != 0)
			continue; /* another pod of that name */
		DIR *inner = opendir(folder);
		struct dirent *e;
		while (inner && (e = readdir(inner)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			/* relative to the folder: no path length to overflow */
			unlinkat(dirfd(inner), e->d_name, 0);
		}
		if (inner)
			closedir(inner);
		if (rmdir(folder) == 0)
			print_event2(g->out, "region removed", "container", de->d_name, "pod-uid",
			             uid);
	}
	closedir(dir);
}

/*
 * One host-PID pass over every container region under STATE/containers:
 * each live slot without a host PID gets the one of the process that maps
 * that region file and carries the slot's PID (src/node/hostpid.h).
 */
static void refresh_host_pids(struct node_output *o, const char *region_root)
{
	DIR *dir = opendir(region_root);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/region", region_root, de->d_name) >=
		    sizeof(path))
			continue;
		struct vxpu_region r;
		char err[512];
		if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
			continue; /* not created yet, or removed meanwhile */
		struct vxpu_hostpid_filter f = {.by_mapping = true};
		struct vxpu_hostpid_report rep;
		if (vxpu_hostpid_update_region(&r, &f, &rep, err, sizeof(err)) == 0 &&
		    rep.written > 0) {
			char n[16];
			snprintf(n, sizeof(n), "%u", rep.written);
			print_event2(o, "host pids", "container", de->d_name, "written", n);
		}
		vxpu_region_close(&r);
	}
	closedir(dir);
}

/*
 * The discovered devices as a core node, finalized against the built-in
 * vendor profiles (which give each card its slice count and the resource
 * names).
 */
static int build_node(const struct vxpu_discovery *found, const char *name,
                      const struct vxpu_vendor_table *vendors, struct vxpu_node *node, char *err,
                      size_t errlen)
{
	vxpu_node_init(node, name);
	for (unsigned i = 0; i < found->count; i++) {
		const struct vxpu_found_device *f = &found->devices[i];
		struct vxpu_device d;
		vxpu_device_init(&d, f->index, f->uuid[0] ? f->uuid : f->pci_bus_id, found->vendor,
		                 f->model, f->memory_bytes >> 20);
		d.numa = f->numa_node;
		d.healthy = f->healthy;
		if (vxpu_node_add_device(node, &d, err, errlen) != 0)
			return -1;
	}
	for (unsigned i = 0; i < found->count; i++)
		for (unsigned j = i + 1; j < found->count; j++) {
			const struct vxpu_found_link *k = &found->links[i][j];
			if (k->type[0] &&
			    vxpu_node_add_link(node, found->devices[i].index,
			                       found->devices[j].index, k->type,
			                       k->width ? k->width : 1, err, errlen) != 0)
				return -1;
		}
	return vxpu_node_finalize(node, vendors, err, errlen);
}

/* The answer's host paths under the state folder. */
static void state_paths(struct vxpu_dp_config *c, const char *state)
{
	vxpu_dp_config_default(c);
	snprintf(c->library_host_path, sizeof(c->library_host_path), "%s/lib/libvxpu.so", state);
	snprintf(c->preload_host_path, sizeof(c->preload_host_path), "%s/lib/ld.so.preload", state);
	snprintf(c->region_root, sizeof(c->region_root), "%s/containers", state);
	snprintf(c->device_dir_host, sizeof(c->device_dir_host), "%s/devices", state);
}

/* Starts plugin k with its cards' present health and registers it,
 * retrying registration until kubelet answers or a stop signal comes. */
static int plugin_up(struct node_output *o, const struct plugin_flags *pf, unsigned k,
                     struct vxpu_dp_apisource_view *view, const sigset_t *stop_signals, char *err,
                     size_t errlen)
{
	static struct vxpu_dp_options dpo;
	const struct vxpu_dp_plugin_plan *plan = &o->plans[k];
	memset(&dpo, 0, sizeof(dpo));
	snprintf(dpo.plugin_dir, sizeof(dpo.plugin_dir), "%s", pf->plugin_dir);
	snprintf(dpo.endpoint, sizeof(dpo.endpoint), "%s", plan->endpoint);
	snprintf(dpo.resource, sizeof(dpo.resource), "%s", plan->resource);
	state_paths(&dpo.answer, pf->state_dir);
	dpo.prepare = prepare_region;
	dpo.prepare_ctx = view->source;
	dpo.lookup = vxpu_dp_apisource_lookup;
	dpo.lookup_ctx = view;
	dpo.ncards = plan->ncards;
	pthread_mutex_lock(&o->lock);
	for (unsigned c = 0; c < plan->ncards; c++) {
		const struct vxpu_found_device *d = &o->disc.devices[plan->cards[c]];
		snprintf(dpo.cards[c].id, sizeof(dpo.cards[c].id), "%s", d->uuid);
		dpo.cards[c].numa = d->numa_node;
		dpo.cards[c].slices = plan->slices[c];
		dpo.cards[c].healthy = o->healthy[plan->cards[c]];
	}
	pthread_mutex_unlock(&o->lock);
	struct vxpu_dp *p;
	if (vxpu_dp_start(&p, &dpo, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&o->lock);
	o->plugins[k] = p;
	for (unsigned c = 0; c < plan->ncards; c++) /* a flip during the start */
		vxpu_dp_set_health(p, c, o->healthy[plan->cards[c]]);
	pthread_mutex_unlock(&o->lock);
	for (;;) {
		if (vxpu_dp_register(p, err, errlen) == 0) {
			print_event2(o, "registered", "resource", plan->resource, "endpoint",
			             plan->endpoint);
			return 0;
		}
		print_event(o, "register failed", "error", err);
		struct timespec wait = {.tv_sec = 0, .tv_nsec = 500000000L};
		if (sigtimedwait(stop_signals, NULL, &wait) >= 0)
			return 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* At stop: how long the plugin took to answer Allocate (the last 4096). */
static void print_allocate_times(struct node_output *o, struct vxpu_dp *p, const char *resource)
{
	static uint64_t ns[VXPU_DP_TIMES];
	unsigned n = vxpu_dp_allocate_times(p, ns, VXPU_DP_TIMES);
	if (n == 0)
		return;
	qsort(ns, n, sizeof(ns[0]), cmp_u64);
	unsigned i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
	char line[160];
	snprintf(line, sizeof(line), "n=%u p50=%.2fms p99=%.2fms max=%.2fms", n,
	         (double)ns[i50 ? i50 - 1 : 0] / 1e6, (double)ns[i99 ? i99 - 1 : 0] / 1e6,
	         (double)ns[n - 1] / 1e6);
	print_event2(o, "allocate times", "resource", resource, "latency", line);
}

static void plugin_down(struct node_output *o, unsigned k)
{
	pthread_mutex_lock(&o->lock);
	struct vxpu_dp *p = o->plugins[k];
	o->plugins[k] = NULL;
	pthread_mutex_unlock(&o->lock);
	vxpu_dp_stop(p);
}

/* --heartbeat etc.: a health duration (ms, s, m, h) within [min_ns, max_ns]. */
static int parse_bounded(const char *value, uint64_t min_ns, uint64_t max_ns, const char *range,
                         uint64_t *out, char *why, size_t whylen)
{
	if (vxpu_health_duration_parse(value, out, why, whylen) != 0)
		return -1;
	if (*out < min_ns || *out > max_ns) {
		snprintf(why, whylen, "invalid duration \"%s\": must be %s", value, range);
		return -1;
	}
	return 0;
}

/* Flags of the plugin and the agent: 1 taken, 0 not one, -1 usage error. */
static int plugin_flag(int argc, char **argv, int *i, struct plugin_flags *pf)
{
	if (strcmp(argv[*i], "--in-cluster") == 0) {
		pf->in_cluster = true;
		return 1;
	}
	if (strcmp(argv[*i], "--no-events") == 0) {
		pf->no_events = true;
		return 1;
	}
	static const char *const names[] = {
	        "--plugin-dir", "--resource", "--slices",          "--state-dir", "--node",
	        "--kubeconfig", "--context",  "--lease-namespace", "--heartbeat"};
	int which = -1;
	const char *value = NULL;
	for (int k = 0; k < 9 && which < 0; k++) {
		bool matched;
		value = vxpu_cli_flag_value(argc, argv, i, names[k], &matched);
		if (matched)
			which = k;
	}
	if (which < 0)
		return 0;
	if (!value || !*value) {
		vxpu_cli_usage_error("node", "flag %s needs a value", names[which]);
		return -1;
	}
	char why[256];
	switch (which) {
	case 0:
		pf->plugin_dir = value;
		break;
	case 1:
		if (!strchr(value, '/') || strlen(value) >= 128) {
			vxpu_cli_usage_error(
			        "node", "invalid --resource \"%s\" (a name such as nvidia.com/gpu)",
			        value);
			return -1;
		}
		pf->resource = value;
		break;
	case 2: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (*value < '1' || *value > '9' || *end || errno || v > 1024) {
			vxpu_cli_usage_error(
			        "node", "invalid --slices \"%s\" (a whole number from 1 to 1024)",
			        value);
			return -1;
		}
		pf->slices = (unsigned)v;
		break;
	}
	case 3:
		if (value[0] != '/' || strlen(value) > 200) {
			vxpu_cli_usage_error(
			        "node",
			        "invalid --state-dir \"%s\" (an absolute path, at most 200 bytes)",
			        value);
			return -1;
		}
		pf->state_dir = value;
		break;
	case 4:
		if (strlen(value) >= VXPU_NODE_NAME_MAX) {
			vxpu_cli_usage_error("node", "invalid --node \"%s\"", value);
			return -1;
		}
		pf->node_name = value;
		break;
	case 5:
		pf->kubeconfig = value;
		break;
	case 6:
		pf->context = value;
		break;
	case 7:
		if (strlen(value) >= 64) {
			vxpu_cli_usage_error("node", "invalid --lease-namespace \"%s\"", value);
			return -1;
		}
		pf->lease_namespace = value;
		break;
	default:
		if (parse_bounded(value, 1000000000ULL, 3600000000000ULL, "1s to 1h",
		                  &pf->heartbeat_ns, why, sizeof(why)) != 0) {
			vxpu_cli_usage_error("node", "--heartbeat: %s", why);
			return -1;
		}
		break;
	}
	return 1;
}

/* The plugin's kubeconfig choice: --kubeconfig, --in-cluster, else the
 * service account when in a cluster, else $KUBECONFIG. */
static int kube_config(const struct plugin_flags *pf, struct vxpu_kube_config *cfg, char *err,
                       size_t errlen)
{
	const char *kubeconfig = pf->kubeconfig;
	if (!kubeconfig && !pf->in_cluster && !getenv("KUBERNETES_SERVICE_HOST"))
		kubeconfig = getenv("KUBECONFIG");
	if (kubeconfig)
		return vxpu_kube_config_from_kubeconfig(cfg, kubeconfig, pf->context, err, errlen);
	return vxpu_kube_config_in_cluster(cfg, VXPU_KUBE_SA_DIR, err, errlen);
}

/* The agent's Kubernetes side, from start to stop (see the file comment). */
struct agent_state {
	struct vxpu_kube_config kcfg;
	struct vxpu_kube_client *client;
	struct vxpu_dp_apisource *source;
	struct vxpu_dp_apisource_view views[VXPU_DP_MAX_PLUGINS];
	struct vxpu_dp_plugin_plan plans[VXPU_DP_MAX_PLUGINS];
	struct vxpu_vendor_table vendors;
	struct vxpu_node node;
	char node_name[VXPU_NODE_NAME_MAX];
};

/* The monitor's device health: the watcher's, through the agent's state. */
static bool monitor_health(void *ctx, unsigned index, bool *healthy)
{
	struct node_output *o = ctx;
	if (index >= o->disc.count)
		return false;
	pthread_mutex_lock(&o->lock);
	*healthy = o->healthy[index];
	pthread_mutex_unlock(&o->lock);
	return true;
}

/* A watchdog finding becomes an Event on the container's pod. */
static void monitor_event(void *ctx, const struct vxpu_monitor_event *ev)
{
	struct node_output *o = ctx;
	const struct vxpu_watchdog_event *w = ev->watchdog;
	if (w->type == VXPU_WATCHDOG_CLEARED)
		return;
	bool memory = w->kind == VXPU_WATCHDOG_MEMORY;
	char used[32], limit[32], message[1024];
	if (memory) {
		snprintf(used, sizeof(used), "%.0f MiB", w->used / 1048576.0);
		snprintf(limit, sizeof(limit), "%.0f MiB", w->limit / 1048576.0);
	} else {
		snprintf(used, sizeof(used), "%.0f %%", w->used);
		snprintf(limit, sizeof(limit), "%.0f %%", w->limit);
	}
	if (w->type == VXPU_WATCHDOG_ENFORCE)
		snprintf(message, sizeof(message),
		         "container %s used %s of %s on device %s (limit %s) past the watchdog's "
		         "window: %u process%s killed",
		         ev->container, used, memory ? "memory" : "compute", ev->uuid, limit,
		         ev->killed, ev->killed == 1 ? "" : "es");
	else
		snprintf(message, sizeof(message),
		         "container %s uses %s of %s on device %s, above its limit %s for %.1f s: "
		         "it bypasses libvxpu",
		         ev->container, used, memory ? "memory" : "compute", ev->uuid, limit,
		         (double)w->over_ns / 1e9);
	pthread_mutex_lock(&o->lock);
	struct vxpu_node_reporter *rep = o->reporter;
	pthread_mutex_unlock(&o->lock);
	vxpu_node_reporter_pod_event(
	        rep, ev->ns, ev->pod, true,
	        w->type == VXPU_WATCHDOG_ENFORCE ? "LimitEnforced" : "LimitBypassed", message);
}

enum node_mode { MODE_HEALTH, MODE_PLUGIN, MODE_AGENT };

static int node_health(int argc, char **argv, enum node_mode mode)
{
	bool plugin = mode != MODE_HEALTH;
	struct vxpu_node_monitor_flags mf;
	vxpu_node_monitor_flags_default(&mf);
	struct plugin_flags pf = {.plugin_dir = "/var/lib/kubelet/device-plugins",
	                          .state_dir = "/var/lib/vxpu",
	                          .heartbeat_ns = 30000000000ULL};
	struct vxpu_health_watch_options opts;
	memset(&opts, 0, sizeof(opts));
	if (vxpu_cli_discover_defaults(&opts.discover) != 0)
		return vxpu_cli_usage_error("node", "invalid VXPU_BACKEND \"%s\"",
		                            getenv("VXPU_BACKEND"));
	vxpu_health_policy_default(&opts.policy);
	uint64_t duration_ns = 0, probe_ns = 500000000ULL;
	char why[256];
	for (int i = 2; i < argc; i++) {
		int used = vxpu_cli_discover_flag("node", argc, argv, i, &opts.discover);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		if (mode == MODE_AGENT) {
			int taken = vxpu_node_monitor_flag("node", argc, argv, i, &mf);
			if (taken < 0)
				return VXPU_EXIT_USAGE;
			if (taken > 0) {
				i += taken - 1;
				continue;
			}
		}
		if (plugin) {
			int taken = plugin_flag(argc, argv, &i, &pf);
			if (taken < 0)
				return VXPU_EXIT_USAGE;
			if (taken > 0)
				continue;
		}
		static const char *const names[] = {"--recovery", "--recover-after", "--app-xids",
		                                    "--probe-interval", "--duration"};
		int which = -1;
		const char *value = NULL;
		for (int k = 0; k < 5 && which < 0; k++) {
			bool matched;
			value = vxpu_cli_flag_value(argc, argv, &i, names[k], &matched);
			if (matched)
				which = k;
		}
		if (which < 0)
			return vxpu_cli_usage_error("node", "unknown flag \"%s\"", argv[i]);
		if (!value)
			return vxpu_cli_usage_error("node", "flag %s needs a value", names[which]);
		int rc = 0;
		switch (which) {
		case 0:
			rc = vxpu_health_policy_set_recovery(&opts.policy, value, why, sizeof(why));
			break;
		case 1:
			rc = vxpu_health_policy_set_clear_for(&opts.policy, value, why,
			                                      sizeof(why));
			break;
		case 2:
			rc = vxpu_health_policy_set_app_xids(&opts.policy, value, why, sizeof(why));
			break;
		case 3:
			rc = parse_bounded(value, 10000000ULL, 60000000000ULL, "10ms to 1m",
			                   &probe_ns, why, sizeof(why));
			break;
		default:
			rc = vxpu_health_duration_parse(value, &duration_ns, why, sizeof(why));
			break;
		}
		if (rc != 0)
			return vxpu_cli_usage_error("node", "%s: %s", names[which], why);
	}
	if (plugin && pf.context && !pf.kubeconfig)
		return vxpu_cli_usage_error("node", "--context needs --kubeconfig");
	if (plugin && pf.in_cluster && pf.kubeconfig)
		return vxpu_cli_usage_error("node",
		                            "--in-cluster and --kubeconfig exclude each other");
	if (opts.discover.backend == VXPU_BACKEND_INVENTORY)
		return vxpu_cli_usage_error(
		        "node", "--backend inventory has no health events (use nvml or sim)");
	opts.probe_interval_ms = (unsigned)(probe_ns / 1000000ULL);

	static struct node_output out;
	static struct agent_state ag;
	pthread_mutex_init(&out.lock, NULL);
	char err[1024];
	if (plugin) {
		/* Credentials first: a plugin that cannot reach the API server
		 * cannot answer Allocate, so it does not start. */
		if (kube_config(&pf, &ag.kcfg, err, sizeof(err)) != 0) {
			vxpu_kube_config_free(&ag.kcfg);
			return vxpu_cli_fail("node", "%s", err);
		}
		if (!pf.node_name) {
			const char *env = getenv("NODE_NAME");
			if (env && *env && strlen(env) < sizeof(ag.node_name)) {
				snprintf(ag.node_name, sizeof(ag.node_name), "%s", env);
			} else if (gethostname(ag.node_name, sizeof(ag.node_name) - 1) != 0 ||
			           !ag.node_name[0]) {
				snprintf(ag.node_name, sizeof(ag.node_name), "localhost");
			}
			pf.node_name = ag.node_name;
		}
	}
	if (vxpu_discover(&opts.discover, &out.disc, err, sizeof(err)) != 0) {
		if (plugin)
			vxpu_kube_config_free(&ag.kcfg);
		return vxpu_cli_fail("node", "%s", err);
	}

	/* Signals are taken synchronously by this thread; the other threads
	 * inherit the mask, so SIGINT/SIGTERM never interrupt their waits. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	int status = VXPU_EXIT_OK;
	bool stopped = false;
	struct vxpu_health_watcher *w = NULL;
	int nplans = 0;
	if (plugin) {
		/* The vendor profiles name each card's resource and slice count
		 * (one plugin per resource), unless the flags say. */
		vxpu_vendor_table_builtin(&ag.vendors);
		if (build_node(&out.disc, pf.node_name, &ag.vendors, &ag.node, err, sizeof(err)) !=
		            0 ||
		    (nplans = vxpu_dp_plan_plugins(&ag.node, pf.resource, pf.slices, ag.plans,
		                                   VXPU_DP_MAX_PLUGINS, err, sizeof(err))) < 0) {
			status = vxpu_cli_fail("node", "%s", err);
			goto out;
		}
		struct vxpu_dp_config paths;
		state_paths(&paths, pf.state_dir);
		if (install_state(&paths, pf.state_dir, err, sizeof(err)) != 0 ||
		    vxpu_kube_client_new(&ag.kcfg, &ag.client, err, sizeof(err)) != 0 ||
		    vxpu_dp_apisource_new(&ag.source, ag.client, pf.node_name, pf.lease_namespace,
		                          err, sizeof(err)) != 0) {
			status = vxpu_cli_fail("node", "%s", err);
			goto out;
		}
		for (int p = 0; p < nplans; p++) {
			ag.views[p].source = ag.source;
			ag.views[p].ncards = ag.plans[p].ncards;
			for (unsigned c = 0; c < ag.plans[p].ncards; c++)
				ag.views[p].cards[c] = ag.node.devices[ag.plans[p].cards[c]].id;
		}
		out.plans = ag.plans;
		print_event2(&out, "kubernetes", "server", ag.kcfg.server, "lease",
		             vxpu_dp_apisource_lease(ag.source));
	}

	opts.on_change = on_change;
	opts.ctx = &out;
	if (vxpu_health_watch_start(&w, &opts, err, sizeof(err)) != 0) {
		status = vxpu_cli_fail("node", "%s", err);
		goto out;
	}
	struct vxpu_device_health now[VXPU_FOUND_MAX_DEVICES];
	unsigned n = vxpu_health_watch_snapshot(w, now, VXPU_FOUND_MAX_DEVICES);
	for (unsigned i = 0; i < n; i++)
		print_health(&out, i, &now[i]);
	pthread_mutex_lock(&out.lock);
	for (unsigned i = 0; i < n; i++)
		out.healthy[i] = now[i].healthy;
	pthread_mutex_unlock(&out.lock);

	if (plugin) {
		for (unsigned i = 0; i < n && i < ag.node.ndevices; i++)
			ag.node.devices[i].healthy = now[i].healthy;
		static struct gone_ctx gone;
		gone.out = &out;
		struct vxpu_dp_config gpaths;
		state_paths(&gpaths, pf.state_dir);
		snprintf(gone.region_root, sizeof(gone.region_root), "%s", gpaths.region_root);
		struct vxpu_node_reporter_options ro = {
		        .client = ag.client,
		        .component = "vxpu-node-agent",
		        .heartbeat_ms = (unsigned)(pf.heartbeat_ns / 1000000ULL),
		        .events = !pf.no_events,
		        .on_pod_gone = remove_pod_regions,
		        .ctx = &gone,
		};
		struct vxpu_node_reporter *rep;
		if (vxpu_node_reporter_start(&rep, &ro, &ag.node, err, sizeof(err)) != 0) {
			status = vxpu_cli_fail("node", "%s", err);
			goto out;
		}
		pthread_mutex_lock(&out.lock);
		out.reporter = rep;
		pthread_mutex_unlock(&out.lock);
		/* Allocate finds most pods in the reporter's watch of this node. */
		vxpu_dp_apisource_set_cache(ag.source, vxpu_node_reporter_pod_allocation, rep);
		/* A flip between the snapshot and the reporter's start. */
		n = vxpu_health_watch_snapshot(w, now, VXPU_FOUND_MAX_DEVICES);
		for (unsigned i = 0; i < n && i < ag.node.ndevices; i++)
			if (now[i].healthy != ag.node.devices[i].healthy)
				vxpu_node_reporter_health(rep, i, now[i].healthy, now[i].reason);
		out.nplugins = (unsigned)nplans;
		for (int p = 0; p < nplans && !stopped; p++) {
			int up = plugin_up(&out, &pf, (unsigned)p, &ag.views[p], &stop_signals, err,
			                   sizeof(err));
			if (up < 0) {
				status = vxpu_cli_fail("node", "%s", err);
				goto out;
			}
			stopped = up > 0;
		}
	}
	struct vxpu_monitor *monitor = NULL;
	char regions[VXPU_DP_PATH_MAX];
	if (mode == MODE_AGENT && !stopped) {
		struct vxpu_monitor_config mc;
		memset(&mc, 0, sizeof(mc));
		mc.discover = opts.discover;
		mc.node = pf.node_name;
		mc.device_health = monitor_health;
		mc.on_event = monitor_event;
		mc.ctx = &out;
		vxpu_node_monitor_config(&mf, &mc);
		if (!mf.regions_dir) {
			struct vxpu_dp_config paths;
			state_paths(&paths, pf.state_dir);
			snprintf(regions, sizeof(regions), "%s", paths.region_root);
			mc.regions_dir = regions;
		}
		if (vxpu_monitor_start(&mc, &monitor, err, sizeof(err)) != 0) {
			status = vxpu_cli_fail("node", "monitor: %s", err);
			goto out;
		}
		print_event2(&out, "monitor", "address", vxpu_monitor_address(monitor), "regions",
		             mc.regions_dir);
	}
	/* Every 100 ms: a stop signal, the end of --duration, or (plugin) a
	 * kubelet restart, seen as a plugin's socket file going away. */
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsigned long ticks = 0;
	while (!stopped) {
		struct timespec tick = {.tv_sec = 0, .tv_nsec = 100000000L};
		if (sigtimedwait(&stop_signals, NULL, &tick) >= 0)
			break;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		uint64_t ran = (uint64_t)(t.tv_sec - start.tv_sec) * 1000000000ULL +
		               (uint64_t)(t.tv_nsec - start.tv_nsec);
		if (duration_ns && ran >= duration_ns)
			break;
		if (plugin && ++ticks % 10 == 0) {
			struct vxpu_dp_config paths;
			state_paths(&paths, pf.state_dir);
			refresh_host_pids(&out, paths.region_root);
		}
		for (unsigned p = 0; plugin && p < out.nplugins && !stopped; p++) {
			if (!vxpu_dp_socket_gone(out.plugins[p]))
				continue;
			print_event(&out, "kubelet restarted", "socket", ag.plans[p].endpoint);
			plugin_down(&out, p);
			int up = plugin_up(&out, &pf, p, &ag.views[p], &stop_signals, err,
			                   sizeof(err));
			if (up < 0) {
				status = vxpu_cli_fail("node", "%s", err);
				stopped = true;
			}
			stopped = stopped || up > 0;
		}
	}
	vxpu_monitor_stop(monitor);
out:
	for (unsigned p = 0; p < out.nplugins; p++) {
		if (out.plugins[p])
			print_allocate_times(&out, out.plugins[p], ag.plans[p].resource);
		plugin_down(&out, p);
	}
	vxpu_health_watch_stop(w);
	pthread_mutex_lock(&out.lock);
	struct vxpu_node_reporter *rep = out.reporter;
	out.reporter = NULL;
	pthread_mutex_unlock(&out.lock);
	if (ag.source) {
		vxpu_dp_apisource_set_cache(ag.source, NULL, NULL);
		vxpu_dp_apisource_flush(ag.source);
		struct vxpu_dp_apisource_stats st;
		vxpu_dp_apisource_stats(ag.source, &st);
		char line[512];
		snprintf(line, sizeof(line),
		         "answered=%llu consumed=%llu refused=%llu from_watch=%llu "
		         "release_failed=%llu",
		         (unsigned long long)st.answered, (unsigned long long)st.consumed,
		         (unsigned long long)st.refused, (unsigned long long)st.cache_hits,
		         (unsigned long long)st.release_failed);
		print_event(&out, "allocations", "counts", line);
	}
	vxpu_node_reporter_stop(rep);
	vxpu_dp_apisource_free(ag.source);
	vxpu_kube_client_free(ag.client);
	if (plugin) {
		vxpu_kube_config_free(&ag.kcfg);
		vxpu_node_destroy(&ag.node);
	}
	return status;
}

static int node_host_pids(int argc, char **argv)
{
	struct vxpu_hostpid_filter f = {.by_mapping = true};
	const char *region_path = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--any-process") == 0) {
			f.by_mapping = false;
			continue;
		}
		static const char *const names[] = {"--region", "--cgroup", "--proc"};
		int which = -1;
		const char *value = NULL;
		for (int k = 0; k < 3 && which < 0; k++) {
			bool matched;
			value = vxpu_cli_flag_value(argc, argv, &i, names[k], &matched);
			if (matched)
				which = k;
		}
		if (which < 0)
			return vxpu_cli_usage_error("node", "unknown flag \"%s\"", argv[i]);
		if (!value || !*value)
			return vxpu_cli_usage_error("node", "flag %s needs a value", names[which]);
		if (which == 0)
			region_path = value;
		else if (which == 1)
			f.cgroup = value;
		else
			f.proc_root = value;
	}
	if (!region_path)
		return vxpu_cli_usage_error("node", "host-pids needs --region FILE");
	struct vxpu_region r;
	char err[512];
	if (vxpu_region_open(&r, region_path, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
		return vxpu_cli_fail("node", "%s", err);
	struct vxpu_hostpid_report rep;
	int rc = vxpu_hostpid_update_region(&r, &f, &rep, err, sizeof(err));
	vxpu_region_close(&r);
	if (rc != 0)
		return vxpu_cli_fail("node", "%s", err);
	printf("written=%u known=%u unmatched=%u ambiguous=%u raced=%u\n", rep.written, rep.known,
	       rep.unmatched, rep.ambiguous, rep.raced);
	return VXPU_EXIT_OK;
}

static int node_run(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "monitor") == 0) /* its own flags */
		return vxpu_node_monitor_command(argc - 1, argv + 1);
	if (argc < 2 || vxpu_cli_wants_help(argc, argv))
		return argc < 2 ? vxpu_cli_usage_error(
		                          "node",
		                          "missing what to run (agent, plugin, monitor, health or "
		                          "host-pids)")
		                : (fputs(node_usage, stdout), VXPU_EXIT_OK);
	if (strcmp(argv[1], "health") == 0)
		return node_health(argc, argv, MODE_HEALTH);
	if (strcmp(argv[1], "plugin") == 0)
		return node_health(argc, argv, MODE_PLUGIN);
	if (strcmp(argv[1], "agent") == 0)
		return node_health(argc, argv, MODE_AGENT);
	if (strcmp(argv[1], "host-pids") == 0)
		return node_host_pids(argc, argv);
	return vxpu_cli_usage_error(
	        "node", "unknown part \"%s\" (use agent, plugin, monitor, health or host-pids)",
	        argv[1]);
}

static const struct vxpu_command node_command = {
        .name = "node",
        .summary = "the node agent (kubelet device plugins, registration, health, host PIDs) "
                   "and its parts",
        .usage = node_usage,
        .run = node_run,
        .answers_help = true,
};
VXPU_REGISTER_COMMAND(node_command);
