/*
 * simstate.c - the shared file of one simulated machine (see simstate.h for
 * the contract and invariants).
 *
 * Layout: one struct vxpu_sim_shared, created sparse by ftruncate, so an
 * unused timeline ring costs nothing. The header carries a magic, the layout
 * version and size, and the configuration hash; a process opening a file
 * with other values refuses it rather than guess.
 *
 * Creation race: every opener takes an OFD write lock on the init byte
 * (blocking, but only for the few microseconds of an initialisation) and the
 * first to see an empty file sizes and initialises it, writing the magic
 * last. A creator that dies mid-way leaves a file without magic, which the
 * next opener initialises again (the lock died with it).
 *
 * Slot liveness: slot i's owner holds an OFD write lock on byte i. OFD
 * locks belong to the open file description, so they vanish when the owner
 * dies however it dies, they are not shared with other opens in the same
 * process (libcuda and libnvidia-ml each have their own), and a child that
 * inherits the descriptor closes it at fork (vxpu_sim_forget). Whoever can
 * take a slot's lock while the slot is marked active has proven its owner
 * dead, and reclaims it while holding the lock, so reapers and claimers
 * exclude each other.
 *
 * Mutual exclusion inside the file uses process-shared robust mutexes held
 * for a handful of instructions (no system calls inside). A process killed
 * while holding one hands the next locker EOWNERDEAD; the memory lock's
 * repair recomputes the device total from the slots, which are the source
 * of truth.
 */
#include "sim/simstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAGIC 0x766b7075534d4f31ULL /* "vxpuSMO1" */
#define SLOT_FREE 0u
#define SLOT_ACTIVE 1u
#define INIT_LOCK_BYTE ((off_t)VXPU_SIM_MAX_SLOTS)

struct sim_interval {
	uint64_t start;
	uint64_t end;
	int32_t pid;
	int32_t slot;
};

struct sim_device_shared {
	pthread_mutex_t mem_lock;
	uint64_t capacity;
	uint64_t used;
	uint64_t peak;
	pthread_mutex_t timeline_lock;
	uint64_t tail;      /* end of the last reserved kernel */
	uint64_t ring_head; /* intervals ever written */
	_Atomic uint32_t lost;
	uint32_t pad;
	_Atomic uint64_t ecc_corrected_volatile;
	_Atomic uint64_t ecc_corrected_aggregate;
	_Atomic uint64_t ecc_uncorrected_volatile;
	_Atomic uint64_t ecc_uncorrected_aggregate;
	struct sim_interval ring[VXPU_SIM_TIMELINE_RING];
};

struct sim_slot {
	_Atomic uint32_t state;
	int32_t pid;
	uint64_t used[VXPU_SIM_MAX_DEVICES]; /* under the device's mem_lock */
	_Atomic uint32_t contexts[VXPU_SIM_MAX_DEVICES];
	uint64_t busy_reserved[VXPU_SIM_MAX_DEVICES]; /* under the timeline lock */
};

struct sim_event_entry {
	uint64_t seq;
	uint32_t device;
	uint32_t pad;
	uint64_t kind;
	uint64_t data;
};

struct vxpu_sim_shared {
	_Atomic uint64_t magic;
	uint32_t version;
	uint32_t device_count;
	uint64_t layout_size;
	uint64_t config_hash;
	pthread_mutex_t event_lock;
	_Atomic uint64_t event_head;
	_Atomic uint32_t event_futex; /* bumped after each event; waiters sleep on it */
	uint32_t pad;
	struct sim_event_entry events[VXPU_SIM_EVENT_RING];
	struct sim_slot slots[VXPU_SIM_MAX_SLOTS];
	struct sim_device_shared devices[VXPU_SIM_MAX_DEVICES];
};

uint64_t vxpu_sim_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- robust locks ---------------------------------------------------------- */

static void init_robust_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* Recomputes a device's total from the slots, the source of truth. */
static void repair_mem(struct vxpu_sim_shared *sh, int dev)
{
	uint64_t sum = 0;
	for (int i = 0; i < VXPU_SIM_MAX_SLOTS; i++)
		if (atomic_load(&sh->slots[i].state) == SLOT_ACTIVE)
			sum += sh->slots[i].used[dev];
	sh->devices[dev].used = sum;
	if (sum > sh->devices[dev].peak)
		sh->devices[dev].peak = sum;
}

static void lock_mem(struct vxpu_sim_shared *sh, int dev)
{
	if (pthread_mutex_lock(&sh->devices[dev].mem_lock) == EOWNERDEAD) {
		repair_mem(sh, dev);
		pthread_mutex_consistent(&sh->devices[dev].mem_lock);
	}
}

static void unlock_mem(struct vxpu_sim_shared *sh, int dev)
{
	pthread_mutex_unlock(&sh->devices[dev].mem_lock);
}

/* The timeline and event data stay usable if a holder died: at worst one
 * interval or event is half written, which readers tolerate. */
static void lock_plain(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

/* ---- OFD byte locks ---------------------------------------------------------- */

static int ofd_lock(int fd, off_t byte, int cmd)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	int rc;
	do
		rc = fcntl(fd, cmd, &fl);
	while (rc != 0 && errno == EINTR);
	return rc;
}

static void ofd_unlock(int fd, off_t byte)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

/* ---- opening ------------------------------------------------------------------- */

void vxpu_sim_state_path(const struct vxpu_sim_config *cfg, char *buf, size_t buflen)
{
	const char *env = getenv("VXPU_SIM_STATE");
	if (env && *env)
		snprintf(buf, buflen, "%s", env);
	else
		snprintf(buf, buflen, "/dev/shm/vxpu-sim-%016llx.state",
		         (unsigned long long)cfg->hash);
}

static void init_shared(struct vxpu_sim_shared *sh, const struct vxpu_sim_config *cfg)
{
	sh->version = VXPU_SIM_STATE_VERSION;
	sh->device_count = (uint32_t)cfg->device_count;
	sh->layout_size = sizeof(struct vxpu_sim_shared);
	sh->config_hash = cfg->hash;
	init_robust_mutex(&sh->event_lock);
	for (int d = 0; d < VXPU_SIM_MAX_DEVICES; d++) {
		struct sim_device_shared *dv = &sh->devices[d];
		init_robust_mutex(&dv->mem_lock);
		init_robust_mutex(&dv->timeline_lock);
		dv->capacity = d < cfg->device_count ? cfg->devices[d].memory : 0;
	}
	atomic_store(&sh->magic, SIM_MAGIC);
}

int vxpu_sim_open(struct vxpu_sim_state *st, const struct vxpu_sim_config *cfg, const char *path,
                  char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->fd = -1;
	st->slot = -1;
	st->config = *cfg;
	snprintf(st->path, sizeof(st->path), "%s", path);
	const size_t len = sizeof(struct vxpu_sim_shared);

	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open state file: %s", path, strerror(errno));
		return -1;
	}
	if (ofd_lock(fd, INIT_LOCK_BYTE, F_OFD_SETLKW) != 0) {
		snprintf(err, errlen, "%s: cannot lock state file: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	bool fresh = sb.st_size == 0;
	if (fresh) {
		if (ftruncate(fd, (off_t)len) != 0) {
			snprintf(err, errlen, "%s: cannot size state file: %s", path,
			         strerror(errno));
			goto fail;
		}
		(void)fchmod(fd, 0666); /* every user of the machine shares it */
	} else if ((size_t)sb.st_size != len) {
		snprintf(err, errlen,
		         "%s: state file has size %lld, this simulator's layout needs %zu (stale "
		         "file from another version? remove it)",
		         path, (long long)sb.st_size, len);
		goto fail;
	}
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map state file: %s", path, strerror(errno));
		goto fail;
	}
	struct vxpu_sim_shared *sh = map;
	if (atomic_load(&sh->magic) != SIM_MAGIC) {
		/* Fresh, or a creator died before finishing: (re)initialise. */
		init_shared(sh, cfg);
	} else if (sh->version != VXPU_SIM_STATE_VERSION || sh->layout_size != len) {
		snprintf(err, errlen, "%s: state file layout version %u, this simulator knows %d",
		         path, sh->version, VXPU_SIM_STATE_VERSION);
		munmap(map, len);
		goto fail;
	} else if (sh->config_hash != cfg->hash) {
		snprintf(err, errlen,
		         "%s: state file belongs to another configuration (set VXPU_SIM_STATE "
		         "to a different path)",
		         path);
		munmap(map, len);
		goto fail;
	}
	ofd_unlock(fd, INIT_LOCK_BYTE);
	st->fd = fd;
	st->shared = sh;
	st->map_len = len;
	return 0;
fail:
	close(fd);
	return -1;
}

int vxpu_sim_open_env(struct vxpu_sim_state *st, char *err, size_t errlen)
{
	struct vxpu_sim_config *cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = vxpu_sim_config_from_env(cfg, err, errlen);
	if (rc == 0) {
		char path[256];
		vxpu_sim_state_path(cfg, path, sizeof(path));
		rc = vxpu_sim_open(st, cfg, path, err, errlen);
	}
	free(cfg);
	return rc;
}

/* Gives back everything slot i holds. Caller holds slot i's lock (or owns it). */
static void release_slot(struct vxpu_sim_state *st, int i)
{
	struct vxpu_sim_shared *sh = st->shared;
	struct sim_slot *s = &sh->slots[i];
	for (int d = 0; d < st->config.device_count; d++) {
		lock_mem(sh, d);
		uint64_t u = s->used[d];
		sh->devices[d].used = sh->devices[d].used >= u ? sh->devices[d].used - u : 0;
		s->used[d] = 0;
		unlock_mem(sh, d);
		atomic_store(&s->contexts[d], 0);
	}
	atomic_store(&s->state, SLOT_FREE);
}

void vxpu_sim_close(struct vxpu_sim_state *st)
{
	if (!st->shared)
		return;
	if (st->slot >= 0 && st->pid == getpid()) {
		release_slot(st, st->slot);
		ofd_unlock(st->fd, st->slot);
	}
	munmap(st->shared, st->map_len);
	close(st->fd);
	st->shared = NULL;
	st->fd = -1;
	st->slot = -1;
}

void vxpu_sim_forget(struct vxpu_sim_state *st)
{
	if (!st->shared)
		return;
	munmap(st->shared, st->map_len);
	close(st->fd);
	st->shared = NULL;
	st->fd = -1;
	st->slot = -1;
}

/* ---- slots ----------------------------------------------------------------------- */

int vxpu_sim_reap(struct vxpu_sim_state *st)
{
	struct vxpu_sim_shared *sh = st->shared;
	int reaped = 0;
	for (int i = 0; i < VXPU_SIM_MAX_SLOTS; i++) {
		if (i == st->slot || atomic_load(&sh->slots[i].state) != SLOT_ACTIVE)
			continue;
		if (ofd_lock(st->fd, i, F_OFD_SETLK) != 0)
			continue; /* held: the owner lives */
		if (atomic_load(&sh->slots[i].state) == SLOT_ACTIVE) {
			release_slot(st, i);
			reaped++;
		}
		ofd_unlock(st->fd, i);
	}
	return reaped;
}

int vxpu_sim_slot_claim(struct vxpu_sim_state *st)
{
	struct vxpu_sim_shared *sh = st->shared;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < VXPU_SIM_MAX_SLOTS; i++) {
			if (pass == 0 && atomic_load(&sh->slots[i].state) != SLOT_FREE)
				continue;
			if (ofd_lock(st->fd, i, F_OFD_SETLK) != 0)
				continue;
			struct sim_slot *s = &sh->slots[i];
			if (atomic_load(&s->state) == SLOT_ACTIVE)
				release_slot(st, i); /* its owner died: reclaim first */
			s->pid = (int32_t)getpid();
			for (int d = 0; d < VXPU_SIM_MAX_DEVICES; d++) {
				atomic_store(&s->contexts[d], 0);
				s->busy_reserved[d] = 0;
			}
			atomic_store(&s->state, SLOT_ACTIVE);
			st->slot = i;
			st->pid = getpid();
			return 0;
		}
	}
	return -1;
}

int vxpu_sim_procs(struct vxpu_sim_state *st, int dev, struct vxpu_sim_proc *out, int max)
{
	struct vxpu_sim_shared *sh = st->shared;
	vxpu_sim_reap(st);
	int n = 0;
	for (int i = 0; i < VXPU_SIM_MAX_SLOTS; i++) {
		struct sim_slot *s = &sh->slots[i];
		if (atomic_load(&s->state) != SLOT_ACTIVE)
			continue;
		uint32_t ctx = atomic_load(&s->contexts[dev]);
		lock_mem(sh, dev);
		uint64_t used = s->used[dev];
		unlock_mem(sh, dev);
		if (ctx == 0 && used == 0)
			continue;
		if (n < max) {
			out[n].pid = s->pid;
			out[n].used = used;
			out[n].contexts = ctx;
		}
		n++;
	}
	return n;
}

/* ---- memory ------------------------------------------------------------------------ */

int vxpu_sim_mem_charge(struct vxpu_sim_state *st, int dev, uint64_t bytes)
{
	struct vxpu_sim_shared *sh = st->shared;
	if (st->slot < 0 || dev < 0 || dev >= st->config.device_count)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct sim_device_shared *dv = &sh->devices[dev];
		lock_mem(sh, dev);
		if (bytes <= dv->capacity && dv->used <= dv->capacity - bytes) {
			dv->used += bytes;
			sh->slots[st->slot].used[dev] += bytes;
			if (dv->used > dv->peak)
				dv->peak = dv->used;
			unlock_mem(sh, dev);
			return 0;
		}
		unlock_mem(sh, dev);
		if (attempt == 0 && vxpu_sim_reap(st) == 0)
			break; /* nothing to reclaim: the card is really full */
	}
	return -1;
}

void vxpu_sim_mem_uncharge(struct vxpu_sim_state *st, int dev, uint64_t bytes)
{
	struct vxpu_sim_shared *sh = st->shared;
	if (st->slot < 0 || dev < 0 || dev >= st->config.device_count)
		return;
	lock_mem(sh, dev);
	uint64_t *mine = &sh->slots[st->slot].used[dev];
	uint64_t take = bytes <= *mine ? bytes : *mine;
	*mine -= take;
	sh->devices[dev].used -= sh->devices[dev].used >= take ? take : sh->devices[dev].used;
	unlock_mem(sh, dev);
}

uint64_t vxpu_sim_mem_total(const struct vxpu_sim_state *st, int dev)
{
	return st->shared->devices[dev].capacity;
}

uint64_t vxpu_sim_mem_used(const struct vxpu_sim_state *st, int dev)
{
	struct vxpu_sim_shared *sh = st->shared;
	lock_mem(sh, dev);
	uint64_t u = sh->devices[dev].used;
	unlock_mem(sh, dev);
	return u;
}

uint64_t vxpu_sim_mem_peak(const struct vxpu_sim_state *st, int dev)
{
	struct vxpu_sim_shared *sh = st->shared;
	lock_mem(sh, dev);
	uint64_t p = sh->devices[dev].peak;
	unlock_mem(sh, dev);
	return p;
}

void vxpu_sim_mem_peak_reset(struct vxpu_sim_state *st, int dev)
{
	struct vxpu_sim_shared *sh = st->shared;
	lock_mem(sh, dev);
	sh->devices[dev].peak = sh->devices[dev].used;
	unlock_mem(sh, dev);
}

void vxpu_sim_ctx_add(struct vxpu_sim_state *st, int dev, int delta)
{
	if (st->slot < 0)
		return;
	_Atomic uint32_t *c = &st->shared->slots[st->slot].contexts[dev];
	if (delta > 0) {
		atomic_fetch_add(c, (uint32_t)delta);
	} else {
		uint32_t cur = atomic_load(c);
		while (cur > 0 && !atomic_compare_exchange_weak(c, &cur, cur - 1))
			;
	}
}

/* ---- timeline ------------------------------------------------------------------------- */

void vxpu_sim_timeline_reserve(struct vxpu_sim_state *st, int dev, uint64_t not_before_ns,
                               uint64_t duration_ns, uint64_t *start_ns, uint64_t *end_ns)
{
	struct vxpu_sim_shared *sh = st->shared;
	struct sim_device_shared *dv = &sh->devices[dev];
	int32_t pid = (int32_t)st->pid;
	lock_plain(&dv->timeline_lock);
	uint64_t start = vxpu_sim_now_ns();
	if (dv->tail > start)
		start = dv->tail;
	if (not_before_ns > start)
		start = not_before_ns;
	uint64_t end = start + duration_ns;
	dv->tail = end;
	struct sim_interval *last =
	        dv->ring_head ? &dv->ring[(dv->ring_head - 1) % VXPU_SIM_TIMELINE_RING] : NULL;
	if (last && last->pid == pid && last->end == start) {
		last->end = end; /* back to back: one interval */
	} else {
		struct sim_interval *e = &dv->ring[dv->ring_head % VXPU_SIM_TIMELINE_RING];
		e->start = start;
		e->end = end;
		e->pid = pid;
		e->slot = st->slot;
		dv->ring_head++;
	}
	if (st->slot >= 0)
		sh->slots[st->slot].busy_reserved[dev] += duration_ns;
	pthread_mutex_unlock(&dv->timeline_lock);
	*start_ns = start;
	*end_ns = end;
}

static uint64_t overlap(const struct sim_interval *e, uint64_t from, uint64_t to)
{
	uint64_t s = e->start > from ? e->start : from;
	uint64_t t = e->end < to ? e->end : to;
	return t > s ? t - s : 0;
}

/* Visits the intervals that may overlap [from, to), newest first. */
#define FOR_EACH_RECENT(dv, e, from)                                                               \
	for (uint64_t k_ = 0, n_ = (dv)->ring_head;                                                \
	     k_ < n_ && k_ < VXPU_SIM_TIMELINE_RING &&                                             \
	     ((e) = &(dv)->ring[(n_ - 1 - k_) % VXPU_SIM_TIMELINE_RING], (e)->end > (from));       \
	     k_++)

uint64_t vxpu_sim_busy_total(struct vxpu_sim_state *st, int dev, uint64_t from_ns, uint64_t to_ns)
{
	struct sim_device_shared *dv = &st->shared->devices[dev];
	const struct sim_interval *e;
	uint64_t busy = 0;
	lock_plain(&dv->timeline_lock);
	FOR_EACH_RECENT(dv, e, from_ns)
	busy += overlap(e, from_ns, to_ns);
	pthread_mutex_unlock(&dv->timeline_lock);
	return busy;
}

int vxpu_sim_busy_by_pid(struct vxpu_sim_state *st, int dev, uint64_t from_ns, uint64_t to_ns,
                         struct vxpu_sim_busy *out, int max)
{
	struct sim_device_shared *dv = &st->shared->devices[dev];
	const struct sim_interval *e;
	int n = 0;
	lock_plain(&dv->timeline_lock);
	FOR_EACH_RECENT(dv, e, from_ns)
	{
		uint64_t b = overlap(e, from_ns, to_ns);
		if (b == 0)
			continue;
		int j = 0;
		while (j < n && out[j].pid != e->pid)
			j++;
		if (j == n) {
			if (n == max)
				continue;
			out[n].pid = e->pid;
			out[n].busy_ns = 0;
			n++;
		}
		out[j].busy_ns += b;
	}
	pthread_mutex_unlock(&dv->timeline_lock);
	return n;
}

uint64_t vxpu_sim_busy_reserved_self(const struct vxpu_sim_state *st, int dev)
{
	if (st->slot < 0)
		return 0;
	struct sim_device_shared *dv = &st->shared->devices[dev];
	lock_plain(&dv->timeline_lock);
	uint64_t v = st->shared->slots[st->slot].busy_reserved[dev];
	pthread_mutex_unlock(&dv->timeline_lock);
	return v;
}

/* ---- faults and events ------------------------------------------------------------------ */

static void push_event(struct vxpu_sim_state *st, int dev, uint64_t kind, uint64_t data)
{
	struct vxpu_sim_shared *sh = st->shared;
	lock_plain(&sh->event_lock);
	uint64_t seq = atomic_load(&sh->event_head) + 1;
	struct sim_event_entry *e = &sh->events[seq % VXPU_SIM_EVENT_RING];
	e->device = (uint32_t)dev;
	e->kind = kind;
	e->data = data;
	e->seq = seq;
	atomic_store(&sh->event_head, seq);
	pthread_mutex_unlock(&sh->event_lock);
	atomic_fetch_add(&sh->event_futex, 1);
	syscall(SYS_futex, &sh->event_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void vxpu_sim_inject_xid(struct vxpu_sim_state *st, int dev, uint64_t code)
{
	push_event(st, dev, VXPU_SIM_EVENT_XID, code);
}

void vxpu_sim_inject_ecc(struct vxpu_sim_state *st, int dev, bool double_bit)
{
	struct sim_device_shared *dv = &st->shared->devices[dev];
	if (double_bit) {
		atomic_fetch_add(&dv->ecc_uncorrected_volatile, 1);
		atomic_fetch_add(&dv->ecc_uncorrected_aggregate, 1);
		push_event(st, dev, VXPU_SIM_EVENT_ECC_DOUBLE, 0);
		push_event(st, dev, VXPU_SIM_EVENT_XID, 48); /* double-bit ECC error */
	} else {
		atomic_fetch_add(&dv->ecc_corrected_volatile, 1);
		atomic_fetch_add(&dv->ecc_corrected_aggregate, 1);
		push_event(st, dev, VXPU_SIM_EVENT_ECC_SINGLE, 0);
	}
}

void vxpu_sim_set_lost(struct vxpu_sim_state *st, int dev)
{
	atomic_store(&st->shared->devices[dev].lost, 1);
	push_event(st, dev, VXPU_SIM_EVENT_XID, 79); /* fallen off the bus */
}

void vxpu_sim_clear(struct vxpu_sim_state *st, int dev)
{
	struct sim_device_shared *dv = &st->shared->devices[dev];
	atomic_store(&dv->lost, 0);
	atomic_store(&dv->ecc_corrected_volatile, 0);
	atomic_store(&dv->ecc_uncorrected_volatile, 0);
}

bool vxpu_sim_is_lost(const struct vxpu_sim_state *st, int dev)
{
	return atomic_load(&st->shared->devices[dev].lost) != 0;
}

uint64_t vxpu_sim_ecc_count(const struct vxpu_sim_state *st, int dev, bool corrected,
                            bool volatile_counter)
{
	struct sim_device_shared *dv = &st->shared->devices[dev];
	if (corrected)
		return atomic_load(volatile_counter ? &dv->ecc_corrected_volatile
		                                    : &dv->ecc_corrected_aggregate);
	return atomic_load(volatile_counter ? &dv->ecc_uncorrected_volatile
	                                    : &dv->ecc_uncorrected_aggregate);
}

uint64_t vxpu_sim_event_head(const struct vxpu_sim_state *st)
{
	return atomic_load(&st->shared->event_head);
}

int vxpu_sim_event_next(const struct vxpu_sim_state *st, uint64_t *cursor, uint32_t device_mask,
                        const uint64_t kind_mask[VXPU_SIM_MAX_DEVICES], struct vxpu_sim_event *ev)
{
	struct vxpu_sim_shared *sh = st->shared;
	int found = 0;
	lock_plain(&sh->event_lock);
	uint64_t head = atomic_load(&sh->event_head);
	if (head > VXPU_SIM_EVENT_RING && *cursor < head - VXPU_SIM_EVENT_RING)
		*cursor = head - VXPU_SIM_EVENT_RING; /* older ones were overwritten */
	while (*cursor < head) {
		uint64_t s = ++*cursor;
		const struct sim_event_entry *e = &sh->events[s % VXPU_SIM_EVENT_RING];
		if (e->seq != s || e->device >= VXPU_SIM_MAX_DEVICES)
			continue;
		if (!(device_mask & (1u << e->device)) || !(kind_mask[e->device] & e->kind))
			continue;
		ev->seq = s;
		ev->device = (int)e->device;
		ev->kind = e->kind;
		ev->data = e->data;
		found = 1;
		break;
	}
	pthread_mutex_unlock(&sh->event_lock);
	return found;
}

void vxpu_sim_event_wait(const struct vxpu_sim_state *st, uint64_t seen, unsigned int timeout_ms)
{
	struct vxpu_sim_shared *sh = st->shared;
	uint64_t deadline = vxpu_sim_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	for (;;) {
		uint32_t word = atomic_load(&sh->event_futex);
		if (atomic_load(&sh->event_head) > seen)
			return;
		uint64_t now = vxpu_sim_now_ns();
		if (now >= deadline)
			return;
		uint64_t left = deadline - now;
		struct timespec ts = {(time_t)(left / 1000000000ULL), (long)(left % 1000000000ULL)};
		syscall(SYS_futex, &sh->event_futex, FUTEX_WAIT, word, &ts, NULL, 0);
	}
}
