/*
 * region.c - opening, initialising, claiming and repairing a container's
 * shared region (layout and invariants in region.h).
 *
 * Initialisation of a fresh file is the one place where processes must take
 * turns: the first to arrive holds an OFD lock on byte 0 while it sizes and
 * fills the file and sets `ready` last; everyone else finds `ready` set and
 * never touches that lock. A process killed while initialising loses the
 * lock with its life, and the next one starts the initialisation over
 * (nothing else could have used a file that is not ready). A file whose
 * magic or version is foreign is never rewritten.
 *
 * Slot locks are OFD locks (F_OFD_SETLK) on one byte per slot: they belong
 * to the open file description, so threads of one process share them and
 * a forked child that keeps the parent's descriptor would share them too -
 * which is why the limiter closes that descriptor in the child (fork gives
 * the child its own slot, see libvxpu.c). Everything here is non-blocking
 * except the bounded wait for an initialiser.
 */
#include "limiter/region.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long an opener waits for another process to finish initialising. */
#define REGION_INIT_WAIT_NS (2 * 1000000000LL)

/* Writes "region PATH: WHAT[: DETAIL]" into err; returns -1. */
static int region_fail(char *err, size_t errlen, const char *path, const char *what,
                       const char *detail)
{
	if (err && errlen)
		snprintf(err, errlen, "region %s: %s%s%s", path, what, detail ? ": " : "",
		         detail ? detail : "");
	return -1;
}

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* An OFD lock operation on one byte; 0 or -1 with errno. */
static int byte_lock(int fd, uint64_t offset, short type, int cmd)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)offset;
	fl.l_len = 1;
	return fcntl(fd, cmd, &fl);
}

static uint64_t slot_lock_offset(unsigned slot)
{
	return VXPU_REGION_SLOT_OFFSET + (uint64_t)slot * VXPU_REGION_SLOT_SIZE;
}

void vxpu_region_init_default(struct vxpu_region_init *init)
{
	memset(init, 0, sizeof(*init));
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
		init->memory_limit[d] = VXPU_REGION_UNLIMITED;
}

int vxpu_region_check_header(const struct vxpu_region_header *h, uint64_t file_size, char *err,
                             size_t errlen)
{
	const char *why = NULL;
	char buf[128];
	if (memcmp(h->magic, VXPU_REGION_MAGIC, 8) != 0) {
		why = "not a vxpu region file (bad magic)";
	} else if (h->version != VXPU_REGION_VERSION) {
		snprintf(buf, sizeof(buf), "unsupported layout version %u (this build reads %u)",
		         h->version, VXPU_REGION_VERSION);
		why = buf;
	} else if (h->header_size != VXPU_REGION_HEADER_SIZE ||
	           h->device_max != VXPU_REGION_MAX_DEVICES ||
	           h->device_size != VXPU_REGION_DEVICE_SIZE ||
	           h->slot_max != VXPU_REGION_MAX_SLOTS || h->slot_size != VXPU_REGION_SLOT_SIZE ||
	           h->device_offset != VXPU_REGION_DEVICE_OFFSET ||
	           h->slot_offset != VXPU_REGION_SLOT_OFFSET ||
	           h->file_size != VXPU_REGION_FILE_SIZE) {
		why = "geometry does not match layout version 1";
	} else if (file_size < VXPU_REGION_FILE_SIZE) {
		snprintf(buf, sizeof(buf), "file is %llu bytes, layout needs %llu",
		         (unsigned long long)file_size, (unsigned long long)VXPU_REGION_FILE_SIZE);
		why = buf;
	} else if (atomic_load_explicit(&((struct vxpu_region_header *)h)->ready,
	                                memory_order_acquire) != VXPU_REGION_READY) {
		why = "not initialised";
	}
	if (why) {
		if (err && errlen)
			snprintf(err, errlen, "%s", why);
		return -1;
	}
	return 0;
}

static void region_attach(struct vxpu_region *r, void *map)
{
	r->header = map;
	r->devices = (struct vxpu_region_device *)((char *)map + VXPU_REGION_DEVICE_OFFSET);
	r->slots = (struct vxpu_region_slot *)((char *)map + VXPU_REGION_SLOT_OFFSET);
}

/* Fills a file that holds nothing usable yet. Caller holds the init lock. */
static void region_format(struct vxpu_region *r, const struct vxpu_region_init *init)
{
	struct vxpu_region_init defaults;
	if (!init) {
		vxpu_region_init_default(&defaults);
		init = &defaults;
	}
	struct vxpu_region_header *h = r->header;
	memset(h, 0, VXPU_REGION_SLOT_OFFSET); /* slots of a never-ready file are unused */
	h->version = VXPU_REGION_VERSION;
	h->header_size = VXPU_REGION_HEADER_SIZE;
	h->device_max = VXPU_REGION_MAX_DEVICES;
	h->device_size = VXPU_REGION_DEVICE_SIZE;
	h->slot_max = VXPU_REGION_MAX_SLOTS;
	h->slot_size = VXPU_REGION_SLOT_SIZE;
	h->device_offset = VXPU_REGION_DEVICE_OFFSET;
	h->slot_offset = VXPU_REGION_SLOT_OFFSET;
	h->file_size = VXPU_REGION_FILE_SIZE;
	h->created_unix_ms = wall_ms();
	h->flags = init->managed ? VXPU_REGION_FLAG_MANAGED : 0;
	atomic_store(&h->priority, init->priority);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		atomic_store(&r->devices[d].memory_limit, init->memory_limit[d]);
		atomic_store(&r->devices[d].core_limit, init->core_limit[d]);
		if (init->uuid_set[d]) {
			memcpy(r->devices[d].uuid, init->uuid[d], 16);
			atomic_store(&r->devices[d].uuid_state, VXPU_REGION_UUID_SET);
		}
	}
	memcpy(h->magic, VXPU_REGION_MAGIC, 8);
	atomic_store_explicit(&h->ready, VXPU_REGION_READY, memory_order_release);
}

/*
 * Under the init lock: size and format the file unless it is ready. Refuses
 * a file that belongs to something else. 0 or -1 (err set).
 */
static int region_initialise(struct vxpu_region *r, const char *path,
                             const struct vxpu_region_init *init, char *err, size_t errlen)
{
	int64_t deadline = monotonic_ns() + REGION_INIT_WAIT_NS;
	while (byte_lock(r->fd, 0, F_WRLCK, F_OFD_SETLK) != 0) {
		if (errno != EAGAIN && errno != EACCES)
			return region_fail(err, errlen, path, "cannot lock for initialisation",
			                   strerror(errno));
		if (monotonic_ns() > deadline)
			return region_fail(err, errlen, path,
			                   "another process has been initialising it for 2 s",
			                   NULL);
		struct timespec pause = {0, 200000};
		nanosleep(&pause, NULL);
	}
	int rc = -1;
	struct stat st;
	if (fstat(r->fd, &st) != 0) {
		region_fail(err, errlen, path, "fstat", strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size > VXPU_REGION_FILE_SIZE) {
		region_fail(err, errlen, path,
		            "larger than a version 1 region; refusing to touch it", NULL);
		goto out;
	}
	if ((uint64_t)st.st_size >= sizeof(struct vxpu_region_header)) {
		struct vxpu_region_header probe;
		if (pread(r->fd, &probe, sizeof(probe), 0) != (ssize_t)sizeof(probe)) {
			region_fail(err, errlen, path, "read", strerror(errno));
			goto out;
		}
		static const char zero_magic[8];
		bool ours = memcmp(probe.magic, VXPU_REGION_MAGIC, 8) == 0;
		if (!ours && memcmp(probe.magic, zero_magic, 8) != 0) {
			region_fail(err, errlen, path, "not a vxpu region file (bad magic)", NULL);
			goto out;
		}
		if (ours && probe.version != VXPU_REGION_VERSION) {
			char why[96];
			snprintf(why, sizeof(why),
			         "unsupported layout version %u (this build reads %u)",
			         probe.version, VXPU_REGION_VERSION);
			region_fail(err, errlen, path, why, NULL);
			goto out;
		}
	}
	if ((uint64_t)st.st_size < VXPU_REGION_FILE_SIZE &&
	    ftruncate(r->fd, (off_t)VXPU_REGION_FILE_SIZE) != 0) {
		region_fail(err, errlen, path, "cannot size the file", strerror(errno));
		goto out;
	}
	void *map = mmap(NULL, VXPU_REGION_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (map == MAP_FAILED) {
		region_fail(err, errlen, path, "mmap", strerror(errno));
		goto out;
	}
	region_attach(r, map);
	if (atomic_load_explicit(&r->header->ready, memory_order_acquire) != VXPU_REGION_READY)
		region_format(r, init);
	rc = 0;
out:
	byte_lock(r->fd, 0, F_UNLCK, F_OFD_SETLK);
	return rc;
}

int vxpu_region_open(struct vxpu_region *r, const char *path, enum vxpu_region_mode mode,
                     const struct vxpu_region_init *init, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->writable = mode != VXPU_REGION_OPEN_READ;
	int flags = O_CLOEXEC | (r->writable ? O_RDWR : O_RDONLY);
	if (mode == VXPU_REGION_OPEN_CREATE)
		flags |= O_CREAT;
	int fd = open(path, flags, 0666);
	if (fd < 0)
		return region_fail(err, errlen, path, strerror(errno), NULL);
	r->fd = fd;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		region_fail(err, errlen, path, "fstat", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		region_fail(err, errlen, path, "not a regular file", NULL);
		goto fail;
	}
	if (mode == VXPU_REGION_OPEN_CREATE) {
		/* Fast path: an initialised file needs no lock at all. */
		bool ready = false;
		if ((uint64_t)st.st_size == VXPU_REGION_FILE_SIZE) {
			struct vxpu_region_header probe;
			ready = pread(fd, &probe, sizeof(probe), 0) == (ssize_t)sizeof(probe) &&
			        memcmp(probe.magic, VXPU_REGION_MAGIC, 8) == 0 &&
			        probe.ready == VXPU_REGION_READY;
		}
		if (!ready) {
			if (region_initialise(r, path, init, err, errlen) != 0)
				goto fail;
			st.st_size = (off_t)VXPU_REGION_FILE_SIZE;
		}
	}
	if (!r->header) {
		if ((uint64_t)st.st_size < sizeof(struct vxpu_region_header)) {
			region_fail(err, errlen, path, "too short to be a region (not initialised)",
			            NULL);
			goto fail;
		}
		size_t len = (uint64_t)st.st_size < VXPU_REGION_FILE_SIZE ? (size_t)st.st_size
		                                                          : VXPU_REGION_FILE_SIZE;
		void *map = mmap(NULL, len, PROT_READ | (r->writable ? PROT_WRITE : 0), MAP_SHARED,
		                 fd, 0);
		if (map == MAP_FAILED) {
			region_fail(err, errlen, path, "mmap", strerror(errno));
			goto fail;
		}
		region_attach(r, map);
		char why[160];
		if (vxpu_region_check_header(r->header, (uint64_t)st.st_size, why, sizeof(why)) !=
		    0) {
			munmap(map, len);
			r->header = NULL;
			region_fail(err, errlen, path, why, NULL);
			goto fail;
		}
	} else {
		char why[160];
		if (vxpu_region_check_header(r->header, VXPU_REGION_FILE_SIZE, why, sizeof(why)) !=
		    0) {
			region_fail(err, errlen, path, why, NULL);
			goto fail;
		}
	}
	return 0;
fail:
	vxpu_region_close(r);
	return -1;
}

int vxpu_region_open_anonymous(struct vxpu_region *r, const struct vxpu_region_init *init)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	void *map = mmap(NULL, VXPU_REGION_FILE_SIZE, PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	r->writable = true;
	r->anonymous = true;
	region_attach(r, map);
	region_format(r, init);
	return 0;
}

void vxpu_region_close(struct vxpu_region *r)
{
	if (r->header)
		munmap(r->header, VXPU_REGION_FILE_SIZE);
	if (r->fd >= 0)
		close(r->fd);
	r->header = NULL;
	r->devices = NULL;
	r->slots = NULL;
	r->fd = -1;
}

/* ---- slots ----------------------------------------------------------------- */

static int slot_try_lock(const struct vxpu_region *r, unsigned slot)
{
	if (r->anonymous)
		return atomic_load(&r->slots[slot].state) == VXPU_REGION_SLOT_FREE ? 0 : -1;
	return byte_lock(r->fd, slot_lock_offset(slot), F_WRLCK, F_OFD_SETLK);
}

static void slot_unlock(const struct vxpu_region *r, unsigned slot)
{
	if (r->anonymous)
		return;
	byte_lock(r->fd, slot_lock_offset(slot), F_UNLCK, F_OFD_SETLK);
}

bool vxpu_region_slot_alive(const struct vxpu_region *r, unsigned slot)
{
	if (r->anonymous)
		return atomic_load(&r->slots[slot].state) == VXPU_REGION_SLOT_LIVE;
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)slot_lock_offset(slot);
	fl.l_len = 1;
	if (fcntl(r->fd, F_OFD_GETLK, &fl) != 0)
		return true; /* cannot tell: never treat a slot as dead on doubt */
	return fl.l_type != F_UNLCK;
}

/*
 * Gives back what a dead owner charged, device by device. The caller holds
 * the slot lock. True when nothing is left.
 */
static bool slot_reclaim_counters(struct vxpu_region *r, unsigned slot, bool ask_driver)
{
	struct vxpu_region_slot *s = &r->slots[slot];
	int32_t pid = atomic_load(&s->pid);
	int32_t host_pid = vxpu_region_host_pid(r, slot);
	bool empty = true;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		struct vxpu_region_slot_memory *m = &s->memory[d];
		if (atomic_load(&m->charge) == 0 && atomic_load(&m->reserve) == 0)
			continue;
		if (ask_driver && r->driver_still_holds &&
		    r->driver_still_holds(r->driver_ctx, pid, host_pid, d)) {
			empty = false;
			continue;
		}
		atomic_store(&m->reserve, 0);
		atomic_store(&m->charge, 0);
	}
	return empty;
}

static void slot_high_raise(struct vxpu_region *r, unsigned slot)
{
	uint32_t want = slot + 1;
	uint32_t high = atomic_load(&r->header->slot_high);
	while (high < want && !atomic_compare_exchange_weak(&r->header->slot_high, &high, want))
		;
}

/*
 * Sets up a slot whose lock the caller holds. The state moves by CAS, so a
 * slot is never taken twice even where locks are not used (anonymous).
 * False when another claimer won it.
 */
static bool slot_take(struct vxpu_region *r, unsigned slot, int32_t pid, uint32_t old_state,
                      uint32_t *generation)
{
	struct vxpu_region_slot *s = &r->slots[slot];
	uint32_t expected = old_state;
	if (!atomic_compare_exchange_strong(&s->state, &expected, VXPU_REGION_SLOT_LIVE))
		return false;
	/* Visible to scanners before this process can reserve anything. */
	slot_high_raise(r, slot);
	uint32_t g = atomic_load(&s->generation) + 1;
	atomic_store(&s->generation, g);
	atomic_store(&s->host, (uint64_t)g << 32);
	atomic_store(&s->pid, pid);
	atomic_store(&s->claimed_unix_ms, wall_ms());
	struct vxpu_region_slot_compute *sc = vxpu_region_slot_compute(r, slot);
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		atomic_store(&s->memory[d].reserve, 0);
		atomic_store(&s->memory[d].charge, 0);
		atomic_store(&sc->used_ns[d], 0);
	}
	if (generation)
		*generation = g;
	return true;
}

int vxpu_region_claim(struct vxpu_region *r, int32_t pid, uint32_t *generation)
{
	/*
	 * Pass 0: a free slot below slot_high (a load, then one fcntl).
	 * Pass 1: the slot of a dead owner below slot_high, reclaimed first
	 *         (one fcntl per held slot), so that short-lived processes do
	 *         not push slot_high - and every admission scan - upwards.
	 * Pass 2 (below): a fresh slot at slot_high.
	 */
	uint32_t high = atomic_load(&r->header->slot_high);
	if (high > VXPU_REGION_MAX_SLOTS)
		high = VXPU_REGION_MAX_SLOTS;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < high; i++) {
			uint32_t state = atomic_load(&r->slots[i].state);
			if ((pass == 1) == (state == VXPU_REGION_SLOT_FREE))
				continue;
			if (slot_try_lock(r, i) != 0)
				continue; /* a live owner, or another claimer/reclaimer right now */
			state = atomic_load(&r->slots[i].state);
			if (state == VXPU_REGION_SLOT_LIVE &&
			    !slot_reclaim_counters(r, i, atomic_load(&r->slots[i].pid) != pid)) {
				/* Its memory is still held by the driver: leave it counted. */
				slot_unlock(r, i);
				continue;
			}
			if (slot_take(r, i, pid, state, generation))
				return (int)i;
			slot_unlock(r, i);
		}
	}
	/*
	 * Pass 2: a fresh slot. Taking its index with fetch-add hands each of
	 * many processes starting at once a different slot, instead of all of
	 * them trying the same locks in turn.
	 */
	for (;;) {
		uint32_t i = atomic_fetch_add(&r->header->slot_high, 1);
		if (i >= VXPU_REGION_MAX_SLOTS) {
			atomic_store(&r->header->slot_high, VXPU_REGION_MAX_SLOTS);
			break;
		}
		if (slot_try_lock(r, i) != 0)
			continue; /* a pass-0 claimer saw it free first */
		uint32_t state = atomic_load(&r->slots[i].state);
		if (state == VXPU_REGION_SLOT_FREE && slot_take(r, i, pid, state, generation))
			return (int)i;
		slot_unlock(r, i);
	}
	return -1;
}

void vxpu_region_release(struct vxpu_region *r, unsigned slot)
{
	struct vxpu_region_slot *s = &r->slots[slot];
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		atomic_store(&s->memory[d].reserve, 0);
		atomic_store(&s->memory[d].charge, 0);
	}
	uint32_t expected = VXPU_REGION_SLOT_LIVE;
	atomic_compare_exchange_strong(&s->state, &expected, VXPU_REGION_SLOT_FREE);
	slot_unlock(r, slot);
}

int vxpu_region_reclaim_dead(struct vxpu_region *r, int self)
{
	int freed = 0;
	uint32_t high = atomic_load(&r->header->slot_high);
	if (high > VXPU_REGION_MAX_SLOTS)
		high = VXPU_REGION_MAX_SLOTS;
	for (unsigned i = 0; i < high; i++) {
		if ((int)i == self || atomic_load(&r->slots[i].state) != VXPU_REGION_SLOT_LIVE)
			continue;
		if (slot_try_lock(r, i) != 0)
			continue; /* alive */
		uint32_t expected = VXPU_REGION_SLOT_LIVE;
		if (atomic_load(&r->slots[i].state) == VXPU_REGION_SLOT_LIVE &&
		    slot_reclaim_counters(r, i, true) &&
		    atomic_compare_exchange_strong(&r->slots[i].state, &expected,
		                                   VXPU_REGION_SLOT_FREE))
			freed++;
		slot_unlock(r, i);
	}
	return freed;
}

int vxpu_region_reclaim_pid(struct vxpu_region *r, int32_t pid, int self)
{
	int freed = 0;
	uint32_t high = atomic_load(&r->header->slot_high);
	if (high > VXPU_REGION_MAX_SLOTS)
		high = VXPU_REGION_MAX_SLOTS;
	for (unsigned i = 0; i < high; i++) {
		if ((int)i == self || atomic_load(&r->slots[i].state) != VXPU_REGION_SLOT_LIVE ||
		    atomic_load(&r->slots[i].pid) != pid)
			continue;
		if (slot_try_lock(r, i) != 0)
			continue;
		uint32_t expected = VXPU_REGION_SLOT_LIVE;
		if (atomic_load(&r->slots[i].pid) == pid && slot_reclaim_counters(r, i, false) &&
		    atomic_compare_exchange_strong(&r->slots[i].state, &expected,
		                                   VXPU_REGION_SLOT_FREE))
			freed++;
		slot_unlock(r, i);
	}
	return freed;
}

int vxpu_region_set_host_pid(struct vxpu_region *r, unsigned slot, uint32_t generation,
                             int32_t host_pid)
{
	if (slot >= VXPU_REGION_MAX_SLOTS)
		return -1;
	struct vxpu_region_slot *s = &r->slots[slot];
	uint64_t cur = atomic_load(&s->host);
	uint64_t want = ((uint64_t)generation << 32) | (uint32_t)host_pid;
	while ((uint32_t)(cur >> 32) == generation) {
		if (atomic_compare_exchange_weak(&s->host, &cur, want))
			return 0;
	}
	return -1;
}

int32_t vxpu_region_host_pid(const struct vxpu_region *r, unsigned slot)
{
	struct vxpu_region_slot *s = &r->slots[slot];
	uint64_t host = atomic_load(&s->host);
	if ((uint32_t)(host >> 32) != atomic_load(&s->generation))
		return 0;
	return (int32_t)(uint32_t)host;
}

/* ---- devices ----------------------------------------------------------------- */

void vxpu_region_set_limit(struct vxpu_region *r, unsigned device, uint64_t bytes)
{
	atomic_store(&r->devices[device].memory_limit, bytes);
	atomic_fetch_add(&r->header->limits_generation, 1);
}

void vxpu_region_set_core_limit(struct vxpu_region *r, unsigned device, uint32_t percent)
{
	atomic_store(&r->devices[device].core_limit, percent);
	atomic_fetch_add(&r->header->limits_generation, 1);
	/* Launches waiting on the old share re-evaluate now (budget.h). */
	struct vxpu_region_compute *c = vxpu_region_compute(r, device);
	atomic_fetch_add(&c->wake, 1);
	syscall(SYS_futex, &c->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void vxpu_region_set_priority(struct vxpu_region *r, uint32_t priority)
{
	atomic_store(&r->header->priority, priority);
	atomic_fetch_add(&r->header->limits_generation, 1);
}

const char *vxpu_priority_name(uint32_t priority)
{
	switch (priority) {
	case VXPU_PRIORITY_HIGH:
		return "high";
	case VXPU_PRIORITY_NORMAL:
		return "normal";
	case VXPU_PRIORITY_LOW:
		return "low";
	default:
		return "none";
	}
}

int vxpu_region_set_uuid(struct vxpu_region *r, unsigned device, const uint8_t uuid[16])
{
	struct vxpu_region_device *dev = &r->devices[device];
	uint32_t state = VXPU_REGION_UUID_UNSET;
	if (atomic_compare_exchange_strong(&dev->uuid_state, &state, VXPU_REGION_UUID_WRITING)) {
		memcpy(dev->uuid, uuid, 16);
		atomic_store_explicit(&dev->uuid_state, VXPU_REGION_UUID_SET, memory_order_release);
		return 0;
	}
	/* Another process is writing it: it takes a few instructions. */
	for (int spin = 0; spin < 1000 && state == VXPU_REGION_UUID_WRITING; spin++)
		state = atomic_load_explicit(&dev->uuid_state, memory_order_acquire);
	if (state != VXPU_REGION_UUID_SET)
		return 0; /* a writer died half way; the UUID stays unknown */
	return memcmp(dev->uuid, uuid, 16) == 0 ? 0 : -1;
}

bool vxpu_region_uuid(const struct vxpu_region *r, unsigned device, uint8_t uuid[16])
{
	struct vxpu_region_device *dev = &r->devices[device];
	if (atomic_load_explicit(&dev->uuid_state, memory_order_acquire) != VXPU_REGION_UUID_SET)
		return false;
	memcpy(uuid, dev->uuid, 16);
	return true;
}

int vxpu_region_find_uuid(const struct vxpu_region *r, const uint8_t uuid[16])
{
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		uint8_t have[16];
		if (vxpu_region_uuid(r, d, have) && memcmp(have, uuid, 16) == 0)
			return (int)d;
	}
	return -1;
}

/* ---- reading --------------------------------------------------------------- */

void vxpu_region_read(const struct vxpu_region *r, struct vxpu_region_view *view)
{
	memset(view, 0, sizeof(*view));
	view->version = r->header->version;
	view->created_unix_ms = r->header->created_unix_ms;
	view->limits_generation = atomic_load(&r->header->limits_generation);
	view->priority = atomic_load(&r->header->priority);
	/* The container's devices: those whose UUID is known or that hold memory. */
	unsigned last_device = 0, last_limited = 0;
	for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
		struct vxpu_region_device_view *dv = &view->devices[d];
		dv->memory_limit = atomic_load(&r->devices[d].memory_limit);
		dv->uuid_set = vxpu_region_uuid(r, d, dv->uuid);
		const struct vxpu_region_compute *c = vxpu_region_compute(r, d);
		dv->core_limit = atomic_load(&r->devices[d].core_limit);
		dv->effective_limit = atomic_load(&c->effective_limit);
		dv->compute_flags = atomic_load(&c->flags);
		dv->charged_ns = atomic_load(&c->charged_ns);
		dv->held_ns = atomic_load(&c->held_ns);
		dv->launches = atomic_load(&c->launches);
		dv->held_launches = atomic_load(&c->held_launches);
		if (dv->uuid_set)
			last_device = d + 1;
		if (dv->memory_limit != VXPU_REGION_UNLIMITED || dv->core_limit != 0)
			last_limited = d + 1;
	}
	uint32_t high = atomic_load(&r->header->slot_high);
	if (high > VXPU_REGION_MAX_SLOTS)
		high = VXPU_REGION_MAX_SLOTS;
	for (unsigned i = 0; i < high; i++) {
		struct vxpu_region_slot *s = &r->slots[i];
		if (atomic_load(&s->state) != VXPU_REGION_SLOT_LIVE)
			continue;
		struct vxpu_region_process *p = &view->processes[view->process_count++];
		p->slot = i;
		p->generation = atomic_load(&s->generation);
		p->pid = atomic_load(&s->pid);
		p->host_pid = vxpu_region_host_pid(r, i);
		p->claimed_unix_ms = atomic_load(&s->claimed_unix_ms);
		p->alive = vxpu_region_slot_alive(r, i);
		for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++)
			p->compute_ns[d] = atomic_load(&vxpu_region_slot_compute(r, i)->used_ns[d]);
		for (unsigned d = 0; d < VXPU_REGION_MAX_DEVICES; d++) {
			uint64_t used = atomic_load(&s->memory[d].reserve) +
			                atomic_load(&s->memory[d].charge);
			p->used[d] = used;
			if (used == 0)
				continue;
			if (p->alive)
				view->devices[d].used += used;
			else
				view->devices[d].used_dead += used;
			if (d + 1 > last_device)
				last_device = d + 1;
		}
	}
	/* No process has told the region its devices yet: show the limited ones. */
	view->device_count = last_device ? last_device : last_limited;
}

void vxpu_region_format_uuid(const uint8_t uuid[16], char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	char out[41];
	size_t n = 0;
	memcpy(out, "GPU-", 4);
	n = 4;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		out[n++] = hex[uuid[i] >> 4];
		out[n++] = hex[uuid[i] & 15];
	}
	out[n] = '\0';
	snprintf(buf, buflen, "%s", out);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vxpu_region_parse_uuid(const char *text, uint8_t uuid[16])
{
	if (strncmp(text, "GPU-", 4) == 0)
		text += 4;
	uint8_t out[16];
	size_t pos = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (text[pos] != '-')
				return -1;
			pos++;
		}
		int hi = hex_value(text[pos]);
		int lo = hi < 0 ? -1 : hex_value(text[pos + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		pos += 2;
	}
	if (text[pos] != '\0')
		return -1;
	memcpy(uuid, out, 16);
	return 0;
}
