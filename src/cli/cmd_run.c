/*
 * cmd_run.c - `vxpu run`: run one command on a fraction of this machine's
 * accelerators, isolated by libvxpu.so and recorded in the ledger.
 *
 * Order of events, and why:
 *   1. flags are parsed strictly before anything is touched;
 *   2. a lock file is created and locked: it is this run's liveness, taken
 *      before the allocation exists so that no instant has an allocation
 *      without a live owner;
 *   3. in one write transaction: dead owners' allocations are reclaimed,
 *      the live ones rebuild the node's usage, the core allocator fits the
 *      request (same policies and refusal reasons as the cluster), and the
 *      allocation plus its ledger intervals are written. Concurrent runs
 *      serialise on the transaction, so they can never over-allocate;
 *   4. the command is started with the limits in its environment and
 *      libvxpu.so preloaded; it inherits the lock descriptor, so the
 *      allocation stays held while either this process or the command lives;
 *   5. signals sent to `vxpu run` are forwarded; usage is read from the
 *      container's region every second into minute samples;
 *   6. when the command ends, its intervals are closed with its exit status
 *      and the allocation is deleted. If `vxpu run` is killed instead, the
 *      next vxpu command that looks at allocations reclaims it.
 */
#include "cli/cli.h"
#include "cli/common_flags.h"
#include "cli/local.h"
#include "core/percent.h"
#include "core/request.h"
#include "core/size.h"
#include "limiter/region.h"
#include "meter/ledger.h"
#include "meter/sampler.h"
#include "node/usage.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN "run"

struct run_flags {
	uint32_t gpus;
	uint64_t mem_mib;     /* 0 = unset */
	int mem_percent;      /* 0 = unset */
	int cores;            /* 0 = unset */
	const char *priority; /* high | normal | low */
	const char *gpu_type;
	const char *tenant;
	const char *project;
	const char *user;
	bool wait;
	int64_t wait_ms; /* 0 = forever */
	struct vxpu_discover_options discover;
	char **command;
};

/* --wait=TIMEOUT: DIGITS followed by s, m or h (or nothing: seconds). */
static int parse_duration_ms(const char *text, int64_t *ms)
{
	int64_t v = 0;
	const char *p = text;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 1000000000)
			return -1;
	}
	int64_t unit = 1000;
	if (*p == 's')
		p++;
	else if (*p == 'm')
		unit = 60000, p++;
	else if (*p == 'h')
		unit = 3600000, p++;
	if (*p != '\0' || v == 0)
		return -1;
	*ms = v * unit;
	return 0;
}

/* The flags of vxpu run that take a value, in enum value_flag's order. */
static const char *const value_flags[] = {"--gpus",     "--gpu-mem", "--gpu-cores", "--priority",
                                          "--gpu-type", "--tenant",  "--project",   "--user"};
enum value_flag {
	FLAG_GPUS,
	FLAG_GPU_MEM,
	FLAG_GPU_CORES,
	FLAG_PRIORITY,
	FLAG_GPU_TYPE,
	FLAG_TENANT,
	FLAG_PROJECT,
	FLAG_USER,
	FLAG_NONE, /* argv[*i] is none of them */
};

/* Which value flag argv[*i] is, with its value in *value (NULL when the flag
 * is given without one); *i moves past a two-word "--name VALUE". */
static enum value_flag value_flag_at(int argc, char **argv, int *i, const char **value)
{
	*value = NULL;
	for (int k = 0; k < FLAG_NONE; k++) {
		bool matched;
		*value = vxpu_cli_flag_value(argc, argv, i, value_flags[k], &matched);
		if (matched)
			return (enum value_flag)k;
	}
	return FLAG_NONE;
}

static int parse_run_flags(int argc, char **argv, struct run_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->gpus = 1;
	f->priority = "normal";
	if (vxpu_cli_discover_defaults(&f->discover) != 0)
		return vxpu_cli_usage_error(
		        RUN, "invalid VXPU_BACKEND \"%s\" (use auto, nvml, sim or inventory)",
		        getenv("VXPU_BACKEND"));
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break; /* the command starts here */
		int used = vxpu_cli_discover_flag(RUN, argc, argv, i, &f->discover);
		if (used < 0)
			return VXPU_EXIT_USAGE;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		const char *v;
		enum value_flag which = value_flag_at(argc, argv, &i, &v);
		char err[256];
		if (which == FLAG_GPUS) {
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;
			if (!v || !*v || *end || n < 1 || n > 32 || v[0] == '+' || v[0] == ' ')
				return vxpu_cli_usage_error(
				        RUN, "invalid --gpus \"%s\" (a whole number from 1 to 32)",
				        v ? v : "");
			f->gpus = (uint32_t)n;
		} else if (which == FLAG_GPU_MEM) {
			size_t len = v ? strlen(v) : 0;
			if (len && v[len - 1] == '%') {
				if (vxpu_percent_parse(v, &f->mem_percent, err, sizeof(err)) != 0)
					return vxpu_cli_usage_error(RUN, "invalid --gpu-mem: %s",
					                            err);
			} else {
				uint64_t bytes;
				if (!v || vxpu_size_parse(v, VXPU_SIZE_BARE_MIB, &bytes, err,
				                          sizeof(err)) != 0)
					return vxpu_cli_usage_error(RUN, "invalid --gpu-mem: %s",
					                            v ? err : "needs a value");
				if (bytes < VXPU_MIB)
					return vxpu_cli_usage_error(
					        RUN, "invalid --gpu-mem \"%s\": less than 1 MiB",
					        v);
				f->mem_mib = (bytes + VXPU_MIB - 1) / VXPU_MIB;
			}
		} else if (which == FLAG_GPU_CORES) {
			if (!v || vxpu_percent_parse(v, &f->cores, err, sizeof(err)) != 0)
				return vxpu_cli_usage_error(RUN, "invalid --gpu-cores: %s",
				                            v ? err : "needs a value");
		} else if (which == FLAG_PRIORITY) {
			if (!v || (strcmp(v, "high") != 0 && strcmp(v, "normal") != 0 &&
			           strcmp(v, "low") != 0))
				return vxpu_cli_usage_error(
				        RUN, "invalid --priority \"%s\" (use high, normal or low)",
				        v ? v : "");
			f->priority = v;
		} else if (which == FLAG_GPU_TYPE) {
			if (!v || !*v)
				return vxpu_cli_usage_error(RUN,
				                            "flag --gpu-type needs a model name");
			f->gpu_type = v;
		} else if (which == FLAG_TENANT || which == FLAG_PROJECT || which == FLAG_USER) {
			const char *flag = value_flags[which];
			if (!v || !vxpu_ledger_valid_name(v) || strlen(v) > 63)
				return vxpu_cli_usage_error(RUN,
				                            "invalid %s \"%s\" (up to 63 letters, "
				                            "digits and _, then also . @ + -)",
				                            flag, v ? v : "");
			if (which == FLAG_TENANT)
				f->tenant = v;
			else if (which == FLAG_PROJECT)
				f->project = v;
			else
				f->user = v;
		} else if (strcmp(a, "--wait") == 0) {
			f->wait = true;
		} else if (strncmp(a, "--wait=", 7) == 0) {
			f->wait = true;
			if (parse_duration_ms(a + 7, &f->wait_ms) != 0)
				return vxpu_cli_usage_error(
				        RUN, "invalid --wait \"%s\" (e.g. 30s, 5m, 2h)", a + 7);
		} else {
			return vxpu_cli_usage_error(RUN, "unknown flag \"%s\"", a);
		}
	}
	if (i >= argc)
		return vxpu_cli_usage_error(
		        RUN, "missing the command to run (vxpu run [FLAGS] -- CMD [ARGS...])");
	if (f->mem_mib && f->mem_percent)
		return vxpu_cli_usage_error(RUN, "--gpu-mem is given twice");
	f->command = argv + i;
	return VXPU_EXIT_OK;
}

/* The user running this command, as the ledger's name rules allow. */
static void invoking_user(char *buf, size_t cap)
{
	struct passwd *pw = getpwuid(getuid());
	if (pw && vxpu_ledger_valid_name(pw->pw_name))
		snprintf(buf, cap, "%s", pw->pw_name);
	else
		snprintf(buf, cap, "uid%u", (unsigned)getuid());
}

static void join_command(char **argv, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (char **a = argv; *a && len + 1 < cap; a++) {
		for (const char *c = *a; *c && len + 1 < cap; c++)
			buf[len++] =
			        (*c == '\n' || *c == '\r' || (unsigned char)*c < ' ') ? ' ' : *c;
		if (a[1] && len + 1 < cap)
			buf[len++] = ' ';
	}
	buf[len] = '\0';
}

/* libvxpu.so: $VXPU_LIBRARY, else beside the vxpu binary. */
static int find_limiter(char *path, size_t cap)
{
	const char *env = getenv("VXPU_LIBRARY");
	if (env && *env) {
		snprintf(path, cap, "%s", env);
		return access(path, R_OK) == 0 ? 0 : -1;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	static const char *const places[] = {"libvxpu.so", "limiter/libvxpu.so",
	                                     "../lib/vxpu/libvxpu.so"};
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		if ((size_t)snprintf(path, cap, "%s/%s", exe, places[i]) >= cap)
			return -1;
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

/* The simulator's library folder, when the devices come from it. */
static int sim_dir(const struct vxpu_discover_options *o, char *path, size_t cap)
{
	const char *env = o->sim_lib_dir ? o->sim_lib_dir : getenv("VXPU_SIM_LIB_DIR");
	if (env && *env) {
		snprintf(path, cap, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return (size_t)snprintf(path, cap, "%.*s/sim", (int)(cap > 5 ? cap - 5 : 0), exe) < cap
	               ? 0
	               : -1;
}

/* Adds value to a list variable, before (first) or after the old entries. */
static void set_env_list(const char *name, const char *value, char sep, bool first)
{
	const char *old = getenv(name);
	if (!old || !*old) {
		setenv(name, value, 1);
		return;
	}
	size_t len = strlen(value) + strlen(old) + 2;
	char *both = malloc(len);
	if (!both)
		return;
	if (first)
		snprintf(both, len, "%s%c%s", value, sep, old);
	else
		snprintf(both, len, "%s%c%s", old, sep, value);
	setenv(name, both, 1);
	free(both);
}

/* Drops inherited limits so that only this allocation's apply. */
static void clear_inherited_limits(void)
{
	static const char *const prefixes[] = {"VXPU_MEMORY_LIMIT",        "VXPU_CORE_LIMIT",
	                                       "CUDA_DEVICE_MEMORY_LIMIT", "CUDA_DEVICE_SM_LIMIT",
	                                       "CUDA_TASK_PRIORITY",       "VXPU_PRIORITY"};
	extern char **environ;
	for (;;) {
		bool removed = false;
		for (char **e = environ; e && *e && !removed; e++) {
			for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
				size_t n = strlen(prefixes[p]);
				if (strncmp(*e, prefixes[p], n) == 0 &&
				    ((*e)[n] == '=' || (*e)[n] == '_')) {
					char name[128];
					const char *eq = strchr(*e, '=');
					size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
					if (len >= sizeof(name))
						len = sizeof(name) - 1;
					memcpy(name, *e, len);
					name[len] = '\0';
					unsetenv(name);
					removed = true;
					break;
				}
			}
		}
		if (!removed)
			break;
	}
}

/* A share's compute limit in percent of its device, 0 when none was asked for. */
static uint32_t share_core_percent(const struct vxpu_local *l, const struct vxpu_local_share *s)
{
	int pos = vxpu_local_device_pos(l, s->device_index);
	uint32_t units = pos >= 0 ? l->node.devices[pos].unit_count : 100;
	if (s->compute_units == 0 || units == 0)
		return 0;
	unsigned pct = (unsigned)((s->compute_units * 100 + units - 1) / units);
	return pct > 100 ? 100 : pct;
}

/* Environment of the workload: visible devices, limits, region, preload. */
static int prepare_environment(const struct vxpu_local *l, const struct vxpu_local_alloc *a,
                               const struct run_flags *f, const char *limiter)
{
	clear_inherited_limits();
	char visible[512] = "";
	size_t len = 0;
	for (uint32_t i = 0; i < a->nshares; i++) {
		len += (size_t)snprintf(visible + len, sizeof(visible) - len, "%s%d", i ? "," : "",
		                        a->shares[i].device_index);
		if (len >= sizeof(visible))
			return -1;
		char name[64], value[64];
		snprintf(name, sizeof(name), "VXPU_MEMORY_LIMIT_%u", i);
		snprintf(value, sizeof(value), "%lluMiB",
		         (unsigned long long)a->shares[i].memory_mib);
		setenv(name, value, 1);
		uint32_t pct = share_core_percent(l, &a->shares[i]);
		if (pct > 0) {
			snprintf(name, sizeof(name), "VXPU_CORE_LIMIT_%u", i);
			snprintf(value, sizeof(value), "%u", pct);
			setenv(name, value, 1);
		}
	}
	setenv("CUDA_VISIBLE_DEVICES", visible, 1);
	setenv("VXPU_PRIORITY", f->priority, 1);
	setenv("VXPU_REGION", a->region_path, 1);
	char devdir[PATH_MAX + 16];
	snprintf(devdir, sizeof(devdir), "%s/devices", l->home);
	setenv("VXPU_DEVICE_DIR", devdir, 1);
	setenv("VXPU_ALLOCATION", a->id, 1);
	/* After the caller's own preloads: a sanitizer runtime or a profiler
	 * must stay first, and libvxpu.so reaches the driver through dlsym of
	 * the real libraries, not through symbol order. */
	set_env_list("LD_PRELOAD", limiter, ':', false);
	if (l->found.backend == VXPU_BACKEND_SIM) {
		char dir[PATH_MAX];
		if (sim_dir(&f->discover, dir, sizeof(dir)) == 0)
			set_env_list("LD_LIBRARY_PATH", dir, ':', true);
	}
	return 0;
}

/*
 * Creates the allocation's region before the workload starts, "managed":
 * its limits (memory, compute share), priority and device UUIDs come from
 * the allocation, and a process's own environment can no longer widen them
 * (docs/limiter.md).
 */
static int create_region(const struct vxpu_local *l, const struct vxpu_local_alloc *a,
                         const char *priority, char *err, size_t errlen)
{
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.managed = true;
	init.priority = VXPU_PRIORITY_NORMAL;
	if (strcmp(priority, "high") == 0)
		init.priority = VXPU_PRIORITY_HIGH;
	else if (strcmp(priority, "low") == 0)
		init.priority = VXPU_PRIORITY_LOW;
	for (uint32_t i = 0; i < a->nshares && i < VXPU_REGION_MAX_DEVICES; i++) {
		init.core_limit[i] = share_core_percent(l, &a->shares[i]);
		init.memory_limit[i] = a->shares[i].memory_mib << 20;
		init.uuid_set[i] =
		        vxpu_region_parse_uuid(a->shares[i].device_uuid, init.uuid[i]) == 0;
	}
	struct vxpu_region r;
	if (vxpu_region_open(&r, a->region_path, VXPU_REGION_OPEN_CREATE, &init, err, errlen) != 0)
		return -1;
	vxpu_region_close(&r);
	return 0;
}

/* Writes the allocation and its ledger intervals (caller's transaction). */
static int record_allocation(struct vxpu_local *l, struct vxpu_local_alloc *a,
                             const struct vxpu_placement *p, char *err, size_t errlen)
{
	a->nshares = 0;
	for (uint32_t i = 0; i < p->nshares && a->nshares < VXPU_LOCAL_MAX_SHARES; i++) {
		const struct vxpu_share *s = &p->shares[i];
		const struct vxpu_device *d = &l->node.devices[s->device];
		struct vxpu_local_share *ls = &a->shares[a->nshares++];
		ls->device_index = (int)d->index;
		snprintf(ls->device_uuid, sizeof(ls->device_uuid), "%s", d->id);
		ls->memory_mib = s->memory_mib;
		ls->compute_units = s->compute_units;
		ls->exclusive = s->exclusive;
		ls->template_index = (int)s->template_index; /* -1 stays -1 */
	}
	if (vxpu_local_insert(vxpu_ledger_sqlite(l->ledger), a, err, errlen) != 0)
		return -1;
	for (uint32_t i = 0; i < a->nshares; i++) {
		const struct vxpu_local_share *ls = &a->shares[i];
		int pos = vxpu_local_device_pos(l, ls->device_index);
		const struct vxpu_device *d = &l->node.devices[pos];
		uint32_t units = d->unit_count ? d->unit_count : 100;
		int64_t mem = (int64_t)ls->memory_mib;
		if (mem > (int64_t)d->memory_mib)
			mem = (int64_t)d->memory_mib; /* oversubscribed share: bill the device */
		struct vxpu_ledger_interval iv = {
		        .allocation_id = a->id,
		        .device_index = ls->device_index,
		        .node = l->hostname,
		        .device_uuid = ls->device_uuid,
		        .device_model = d->model,
		        .device_memory_mib = (int64_t)d->memory_mib,
		        .memory_mib = mem < 1 ? 1 : mem,
		        .compute_percent = (int)((ls->compute_units * 100 + units - 1) / units),
		        .tenant = a->tenant,
		        .project = a->project,
		        .user = a->user,
		        .command = a->command,
		        .start_ms = a->start_ms,
		};
		if (iv.compute_percent > 100)
			iv.compute_percent = 100;
		if (vxpu_ledger_interval_start(l->ledger, &iv, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Allocates, waiting in the FIFO queue when asked. Returns 0 with the
 * allocation recorded, 1 when it does not fit (reasons printed), -1 on error.
 */
static int allocate(struct vxpu_local *l, struct vxpu_pod_request *pod, const struct run_flags *f,
                    struct vxpu_local_alloc *a, char *err, size_t errlen)
{
	struct vxpu_fit_options opts = {.device_policy = VXPU_POLICY_BINPACK};
	struct sqlite3 *db = vxpu_ledger_sqlite(l->ledger);
	int64_t ticket = 0;
	int64_t began = vxpu_wall_ms();
	bool tty = isatty(STDERR_FILENO);
	bool announced = false;
	if (f->wait) {
		if (vxpu_ledger_begin(l->ledger, err, errlen) != 0)
			return -1;
		if (vxpu_local_queue_push(db, (int64_t)getpid(), a->lock_path, began, &ticket, err,
		                          errlen) != 0 ||
		    vxpu_ledger_commit(l->ledger, err, errlen) != 0) {
			vxpu_ledger_rollback(l->ledger);
			return -1;
		}
	}
	for (;;) {
		if (vxpu_ledger_begin(l->ledger, err, errlen) != 0)
			return -1;
		int64_t now = vxpu_wall_ms();
		if (vxpu_local_load(l, now, err, errlen) != 0)
			goto fail;
		int64_t head = 0;
		int ahead = 0;
		if (f->wait && vxpu_local_queue_scan(db, ticket, &head, &ahead, err, errlen) != 0)
			goto fail;
		static struct vxpu_placement placement;
		static struct vxpu_refusal why;
		char reason[512] = "";
		bool fits = false;
		if (!f->wait || head == ticket) {
			fits = vxpu_fit_node(&l->node, pod, &opts, &placement, &why);
			if (!fits)
				vxpu_refusal_format(&why, reason, sizeof(reason));
		} else {
			snprintf(reason, sizeof(reason), "%d run%s ahead in the queue", ahead,
			         ahead == 1 ? "" : "s");
		}
		if (fits) {
			a->start_ms = now;
			if (vxpu_node_commit(&l->node, &placement, a->id, err, errlen) != 0 ||
			    record_allocation(l, a, &placement, err, errlen) != 0 ||
			    (ticket && vxpu_local_queue_remove(db, ticket, err, errlen) != 0))
				goto fail;
			if (vxpu_ledger_commit(l->ledger, err, errlen) != 0)
				goto fail;
			if (announced && tty)
				fputs("\r\033[K", stderr);
			return 0;
		}
		if (vxpu_ledger_commit(l->ledger, err, errlen) != 0)
			goto fail;
		if (!f->wait) {
			fprintf(stderr, "vxpu run: the request does not fit on %s: %s\n",
			        l->hostname, reason);
			return 1;
		}
		long waited = (long)((now - began) / 1000);
		if (f->wait_ms && now - began >= f->wait_ms) {
			if (tty)
				fputs("\r\033[K", stderr);
			fprintf(stderr, "vxpu run: gave up waiting after %lds: %s\n", waited,
			        reason);
			if (vxpu_ledger_begin(l->ledger, err, errlen) == 0) {
				vxpu_local_queue_remove(db, ticket, err, errlen);
				vxpu_ledger_commit(l->ledger, err, errlen);
			}
			return 1;
		}
		if (tty)
			fprintf(stderr, "\r\033[Kvxpu run: waiting %lds: %s", waited, reason);
		else if (!announced)
			fprintf(stderr, "vxpu run: waiting for room: %s\n", reason);
		announced = true;
		sleep_ms(250);
	}
fail:
	vxpu_ledger_rollback(l->ledger);
	return -1;
}

/* Ends this run's allocation: intervals closed, rows and files removed. */
static int release(struct vxpu_local *l, const struct vxpu_local_alloc *a, bool exited, int status,
                   char *err, size_t errlen)
{
	if (vxpu_ledger_begin(l->ledger, err, errlen) != 0)
		return -1;
	int64_t now = vxpu_wall_ms();
	if (vxpu_ledger_interval_end(l->ledger, a->id, now < a->start_ms ? a->start_ms : now,
	                             exited, status, NULL, err, errlen) != 0 ||
	    vxpu_local_delete(vxpu_ledger_sqlite(l->ledger), a->id, err, errlen) != 0 ||
	    vxpu_ledger_commit(l->ledger, err, errlen) != 0) {
		vxpu_ledger_rollback(l->ledger);
		return -1;
	}
	unlink(a->region_path);
	unlink(a->lock_path);
	return 0;
}

/* Per-share usage sampling from the container's region into the ledger. */
struct run_sampling {
	struct vxpu_region region;
	bool open;
	struct vxpu_usage_reader *usage; /* NULL: utilisation not measurable */
	struct vxpu_sampler samplers[VXPU_LOCAL_MAX_SHARES];
};

static void record_minute(struct vxpu_local *l, const struct vxpu_local_alloc *a, uint32_t i,
                          const struct vxpu_sampler_minute *m)
{
	struct vxpu_ledger_sample s = {
	        .allocation_id = a->id,
	        .device_index = a->shares[i].device_index,
	        .minute_ms = m->minute_ms,
	        .used_memory_mib = m->used_memory_mib,
	        .utilisation_percent = m->utilisation_percent,
	};
	char err[256];
	if (vxpu_ledger_sample_record(l->ledger, &s, err, sizeof(err)) != 0)
		fprintf(stderr, "vxpu run: cannot record a usage sample: %s\n", err);
}

static void sample_usage(struct vxpu_local *l, const struct vxpu_local_alloc *a,
                         struct run_sampling *rs)
{
	if (!rs->open) {
		char err[256];
		if (access(a->region_path, R_OK) != 0 ||
		    vxpu_region_open(&rs->region, a->region_path, VXPU_REGION_OPEN_READ, NULL, err,
		                     sizeof(err)) != 0)
			return; /* the workload has not touched the GPU yet */
		rs->open = true;
	}
	static struct vxpu_region_view view;
	vxpu_region_read(&rs->region, &view);
	/* The workload's processes, by the PID the driver sees (the host PID
	 * when the node agent recorded one, else the PID itself). */
	static int32_t pids[VXPU_REGION_MAX_SLOTS];
	size_t npids = 0;
	for (unsigned p = 0; p < view.process_count; p++)
		if (view.processes[p].alive)
			pids[npids++] = view.processes[p].host_pid ? view.processes[p].host_pid
			                                           : view.processes[p].pid;
	int64_t now = vxpu_wall_ms();
	for (uint32_t i = 0; i < a->nshares && i < VXPU_REGION_MAX_DEVICES; i++) {
		struct vxpu_sampler_minute m;
		double used_mib = (double)view.devices[i].used / (double)VXPU_MIB;
		double util = 0;
		if (rs->usage && npids > 0 &&
		    vxpu_usage_processes(rs->usage, (unsigned)a->shares[i].device_index, pids,
		                         npids, &util) != 0)
			util = 0;
		if (vxpu_sampler_add(&rs->samplers[i], now, used_mib, util, &m) == 1)
			record_minute(l, a, i, &m);
	}
}

static void flush_samples(struct vxpu_local *l, const struct vxpu_local_alloc *a,
                          struct run_sampling *rs)
{
	for (uint32_t i = 0; i < a->nshares; i++) {
		struct vxpu_sampler_minute m;
		if (vxpu_sampler_flush(&rs->samplers[i], &m) == 1)
			record_minute(l, a, i, &m);
	}
	if (rs->open)
		vxpu_region_close(&rs->region);
	vxpu_usage_close(rs->usage);
	rs->usage = NULL;
}

/*
 * Starts the command and supervises it. Returns its status in the shell's
 * convention (exit code, or 128 + signal).
 */
static int launch(struct vxpu_local *l, const struct vxpu_local_alloc *a, char **command,
                  const struct vxpu_discover_options *discover, bool *exited)
{
	sigset_t forward, old;
	sigemptyset(&forward);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&forward, sigs[i]);
	sigprocmask(SIG_BLOCK, &forward, &old);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		fprintf(stderr, "vxpu run: cannot start %s: %s\n", command[0], strerror(errno));
		*exited = false;
		return VXPU_EXIT_FAILURE;
	}
	if (child == 0) {
		/* The workload dies with its supervisor rather than run on unmetered. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(command[0], command);
		fprintf(stderr, "vxpu run: cannot run %s: %s\n", command[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	static struct run_sampling rs;
	memset(&rs, 0, sizeof(rs));
	for (uint32_t i = 0; i < a->nshares; i++)
		vxpu_sampler_init(&rs.samplers[i]);
	struct vxpu_discover_options used = *discover;
	used.backend = l->found.backend;
	char why[512];
	if (used.backend != VXPU_BACKEND_INVENTORY &&
	    vxpu_usage_open(&rs.usage, &used, why, sizeof(why)) != 0) {
		rs.usage = NULL;
		fprintf(stderr, "vxpu run: utilisation will be recorded as 0: %s\n", why);
	}
	int status = 0;
	for (;;) {
		struct timespec tick = {1, 0};
		siginfo_t info;
		int sig = sigtimedwait(&forward, &info, &tick);
		if (sig < 0) {
			sample_usage(l, a, &rs);
		} else if (sig != SIGCHLD) {
			/* A terminal already signalled the whole foreground group;
			 * forward only what was sent to vxpu run alone. */
			if (info.si_code == SI_USER || info.si_code == SI_QUEUE)
				kill(child, sig);
		}
		pid_t done = waitpid(child, &status, WNOHANG);
		if (done == child)
			break;
	}
	sample_usage(l, a, &rs);
	flush_samples(l, a, &rs);
	sigprocmask(SIG_SETMASK, &old, NULL);
	*exited = true;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return VXPU_EXIT_FAILURE;
}

static int build_request(const struct run_flags *f, const char *tenant, const char *project,
                         struct vxpu_pod_request *pod)
{
	char name[64];
	snprintf(name, sizeof(name), "run-%d", (int)getpid());
	vxpu_pod_request_init(pod, tenant, name);
	snprintf(pod->project, sizeof(pod->project), "%.*s", (int)sizeof(pod->project) - 1,
	         project);
	pod->device_policy = VXPU_POLICY_BINPACK;
	struct vxpu_container_request *c =
	        vxpu_pod_request_add_container(pod, "main", VXPU_CONTAINER_APP);
	if (!c)
		return -1;
	c->count = f->gpus;
	c->memory_mib = f->mem_mib;
	c->memory_percent = (uint32_t)f->mem_percent;
	c->compute_percent = (uint32_t)f->cores;
	c->exclusive = f->cores == 100;
	c->priority = strcmp(f->priority, "high") == 0 ? 0 : 1;
	if (f->gpu_type)
		snprintf(c->use_types, sizeof(c->use_types), "%s", f->gpu_type);
	char err[256];
	if (vxpu_pod_request_normalize(pod, err, sizeof(err)) != 0) {
		vxpu_cli_usage_error(RUN, "%s", err);
		return -1;
	}
	return 0;
}

static int run_run(int argc, char **argv)
{
	static struct run_flags f;
	int rc = parse_run_flags(argc, argv, &f);
	if (rc != VXPU_EXIT_OK)
		return rc;
	static struct vxpu_local_alloc a;
	memset(&a, 0, sizeof(a));
	snprintf(a.tenant, sizeof(a.tenant), "%s", f.tenant ? f.tenant : "default");
	snprintf(a.project, sizeof(a.project), "%s", f.project ? f.project : "default");
	if (f.user)
		snprintf(a.user, sizeof(a.user), "%s", f.user);
	else
		invoking_user(a.user, sizeof(a.user));
	snprintf(a.priority, sizeof(a.priority), "%s", f.priority);
	join_command(f.command, a.command, sizeof(a.command));
	a.owner_pid = getpid();

	static struct vxpu_pod_request pod;
	if (build_request(&f, a.tenant, a.project, &pod) != 0)
		return VXPU_EXIT_USAGE;

	char limiter[PATH_MAX];
	if (find_limiter(limiter, sizeof(limiter)) != 0)
		return vxpu_cli_fail(
		        RUN, "libvxpu.so not found beside the vxpu binary; set VXPU_LIBRARY "
		             "(the workload would run without isolation)");

	char err[768] = "";
	static struct vxpu_local l;
	if (vxpu_local_open(&l, &f.discover, err, sizeof(err)) != 0) {
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "%s", err);
	}
	if (vxpu_ledger_new_id(a.id, sizeof(a.id), err, sizeof(err)) != 0) {
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "%s", err);
	}
	if (strlen(l.home) > 900) {
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "VXPU_HOME path is too long: %s", l.home);
	}
	snprintf(a.lock_path, sizeof(a.lock_path), "%.900s/run/%s.lock", l.home, a.id);
	snprintf(a.region_path, sizeof(a.region_path), "%.900s/regions/%s.region", l.home, a.id);
	int lock_fd = vxpu_lockfile_hold(a.lock_path, err, sizeof(err));
	if (lock_fd < 0) {
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "%s", err);
	}
	rc = allocate(&l, &pod, &f, &a, err, sizeof(err));
	if (rc != 0) {
		unlink(a.lock_path);
		close(lock_fd);
		vxpu_local_close(&l);
		if (rc < 0)
			return vxpu_cli_fail(RUN, "%s", err);
		return VXPU_EXIT_FAILURE;
	}
	if (prepare_environment(&l, &a, &f, limiter) != 0) {
		release(&l, &a, false, 0, err, sizeof(err));
		close(lock_fd);
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "too many devices for CUDA_VISIBLE_DEVICES");
	}
	if (create_region(&l, &a, f.priority, err, sizeof(err)) != 0) {
		release(&l, &a, false, 0, err, sizeof(err));
		close(lock_fd);
		vxpu_local_close(&l);
		return vxpu_cli_fail(RUN, "cannot create the region %s: %s", a.region_path, err);
	}
	bool exited = false;
	int status = launch(&l, &a, f.command, &f.discover, &exited);
	if (release(&l, &a, exited, status, err, sizeof(err)) != 0)
		fprintf(stderr,
		        "vxpu run: cannot release allocation %s: %s (the next vxpu command will)\n",
		        a.id, err);
	close(lock_fd);
	vxpu_local_close(&l);
	return status;
}

static const struct vxpu_command vxpu_cmd_run = {
        .name = "run",
        .summary = "run a command on a fraction of this machine's GPUs",
        .usage =
                "usage: vxpu run [FLAGS] [--] CMD [ARGS...]\n"
                "\n"
                "Allocates a fraction of this machine's accelerators, runs CMD with that\n"
                "fraction enforced by libvxpu.so, records the interval in the ledger and\n"
                "releases it when CMD ends. Exits with CMD's status (128+N if killed by\n"
                "signal N); 1 when the request cannot be served, 2 on a usage error.\n"
                "\n"
                "  --gpus N               devices (default 1)\n"
                "  --gpu-mem SIZE|PCT%    memory per device: 4GiB, 4096 (MiB), 25% (default: all)\n"
                "  --gpu-cores PCT        compute share per device, 1-100 (default: none "
                "reserved;\n"
                "                         100 means exclusive use)\n"
                "  --priority P           high, normal (default) or low\n"
                "  --gpu-type T           only devices whose model contains T (case-insensitive)\n"
                "  --tenant T             who is billed (default \"default\")\n"
                "  --project P            (default \"default\")\n"
                "  --user U               (default: the invoking user)\n"
                "  --wait[=TIMEOUT]       queue (FIFO) until the request fits; TIMEOUT like 30s, "
                "5m, 2h\n"
                "  --backend B            auto, nvml, sim or inventory (default $VXPU_BACKEND or "
                "auto)\n"
                "  --inventory FILE       inventory file for --backend inventory\n"
                "\n"
                "State and the ledger live in $VXPU_HOME (default /var/lib/vxpu for root,\n"
                "else $XDG_STATE_HOME/vxpu). See docs/single-machine.md.\n",
        .run = run_run,
};
VXPU_REGISTER_COMMAND(vxpu_cmd_run);
