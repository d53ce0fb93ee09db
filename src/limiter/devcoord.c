/*
 * devcoord.c - the per-device coordination file (layout and invariants in
 * devcoord.h). Opening takes the file's initialisation lock (an OFD lock of
 * byte 0, so it is per open file description and dies with the process),
 * formats the file if it is new, then claims an entry by taking the OFD
 * lock of the entry's first byte: a free entry, or one whose owner died.
 * Waiting is a futex on high_seq in the shared mapping (FUTEX_WAIT without
 * the private flag, so processes mapping the same file share it).
 */
#include "limiter/devcoord.h"

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

static uint64_t entry_offset(unsigned i)
{
	return VXPU_DEVCOORD_HEADER_SIZE + (uint64_t)i * VXPU_DEVCOORD_ENTRY_SIZE;
}

static int ofd_lock(int fd, uint64_t offset, bool wait)
{
	struct flock fl = {
	        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
	int rc;
	do
		rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
	while (rc != 0 && errno == EINTR);
	return rc;
}

static void ofd_unlock(int fd, uint64_t offset)
{
	struct flock fl = {
	        .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
	fcntl(fd, F_OFD_SETLK, &fl);
}

/* True when someone else holds the lock of byte offset. */
static bool ofd_held(int fd, uint64_t offset)
{
	struct flock fl = {
	        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)offset, .l_len = 1};
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		return true; /* cannot tell: treat as alive */
	return fl.l_type != F_UNLCK;
}

static int fail(char *err, size_t errlen, const char *path, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, why);
	return -1;
}

/* mkdir -p of an absolute directory (mode 0777 minus the umask). */
static int make_dirs(const char *dir)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -1;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0777) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static bool header_ok(const struct vxpu_devcoord_header *h)
{
	return memcmp(h->magic, VXPU_DEVCOORD_MAGIC, 8) == 0 &&
	       h->version == VXPU_DEVCOORD_VERSION && h->header_size == VXPU_DEVCOORD_HEADER_SIZE &&
	       h->entry_size == VXPU_DEVCOORD_ENTRY_SIZE &&
	       h->entry_max == VXPU_DEVCOORD_MAX_ENTRIES;
}

int vxpu_devcoord_open(struct vxpu_devcoord *c, const char *dir, const char *name, int32_t pid,
                       uint32_t priority, uint64_t region_hash, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->entry = -1;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.coord", dir, name);
	if (make_dirs(dir) != 0)
		return fail(err, errlen, dir, strerror(errno));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return fail(err, errlen, path, strerror(errno));
	if (ofd_lock(fd, 0, true) != 0) {
		close(fd);
		return fail(err, errlen, path, "cannot lock for initialisation");
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || ((uint64_t)st.st_size < VXPU_DEVCOORD_FILE_SIZE &&
	                            ftruncate(fd, (off_t)VXPU_DEVCOORD_FILE_SIZE) != 0)) {
		ofd_unlock(fd, 0);
		close(fd);
		return fail(err, errlen, path, "cannot size the file");
	}
	void *map = mmap(NULL, VXPU_DEVCOORD_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ofd_unlock(fd, 0);
		close(fd);
		return fail(err, errlen, path, strerror(errno));
	}
	struct vxpu_devcoord_header *h = map;
	if (atomic_load(&h->ready) != VXPU_DEVCOORD_READY) {
		memset(map, 0, VXPU_DEVCOORD_FILE_SIZE);
		h->version = VXPU_DEVCOORD_VERSION;
		h->header_size = VXPU_DEVCOORD_HEADER_SIZE;
		h->entry_size = VXPU_DEVCOORD_ENTRY_SIZE;
		h->entry_max = VXPU_DEVCOORD_MAX_ENTRIES;
		memcpy(h->magic, VXPU_DEVCOORD_MAGIC, 8);
		atomic_store(&h->ready, VXPU_DEVCOORD_READY);
	}
	ofd_unlock(fd, 0);
	if (!header_ok(h)) {
		munmap(map, VXPU_DEVCOORD_FILE_SIZE);
		close(fd);
		return fail(err, errlen, path, "not a coordination file of layout version 1");
	}
	c->fd = fd;
	c->header = h;
	c->entries = (struct vxpu_devcoord_entry *)((char *)map + VXPU_DEVCOORD_HEADER_SIZE);
	for (unsigned i = 0; i < VXPU_DEVCOORD_MAX_ENTRIES; i++) {
		if (ofd_lock(fd, entry_offset(i), false) != 0)
			continue; /* a live owner */
		struct vxpu_devcoord_entry *e = &c->entries[i];
		atomic_store(&e->state, 0);
		atomic_store(&e->priority, priority);
		atomic_store(&e->pid, pid);
		atomic_store(&e->held, 0);
		atomic_store(&e->region_hash, region_hash);
		atomic_store(&e->last_launch_ns, 0);
		atomic_store(&e->launches, 0);
		atomic_store(&e->state, 1);
		c->entry = (int)i;
		break;
	}
	/* Every entry taken: coordination still works through the summary. */
	return 0;
}

void vxpu_devcoord_close(struct vxpu_devcoord *c)
{
	if (c->header) {
		if (c->entry >= 0)
			atomic_store(&c->entries[c->entry].state, 0);
		munmap(c->header, VXPU_DEVCOORD_FILE_SIZE);
	}
	if (c->fd >= 0)
		close(c->fd); /* drops the entry lock */
	c->fd = -1;
	c->header = NULL;
	c->entries = NULL;
	c->entry = -1;
}

void vxpu_devcoord_high_mark(struct vxpu_devcoord *c, uint64_t now, uint64_t prev_ns,
                             uint64_t busy_ns)
{
	struct vxpu_devcoord_header *h = c->header;
	uint64_t last = atomic_load_explicit(&h->high_last_ns, memory_order_relaxed);
	while (last < now && !atomic_compare_exchange_weak(&h->high_last_ns, &last, now))
		;
	if (prev_ns && now > prev_ns) {
		uint64_t gap = now - prev_ns, period = atomic_load(&h->high_period_ns);
		/* A pause longer than the activity window starts a new rhythm. */
		if (period == 0 || gap > 4 * period)
			period = gap;
		else
			period = period - period / 4 + gap / 4;
		atomic_store(&h->high_period_ns, period);
	}
	if (busy_ns)
		atomic_store(&h->high_busy_ns, busy_ns);
	if (c->entry >= 0) {
		atomic_store_explicit(&c->entries[c->entry].last_launch_ns, now,
		                      memory_order_relaxed);
		atomic_fetch_add_explicit(&c->entries[c->entry].launches, 1, memory_order_relaxed);
	}
}

void vxpu_devcoord_high_wake(struct vxpu_devcoord *c)
{
	struct vxpu_devcoord_header *h = c->header;
	atomic_fetch_add(&h->high_seq, 1);
	if (atomic_load(&h->waiters) > 0)
		syscall(SYS_futex, &h->high_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void vxpu_devcoord_wait(struct vxpu_devcoord *c, uint32_t seq, uint64_t now, uint64_t deadline_ns)
{
	if (deadline_ns <= now)
		return;
	struct vxpu_devcoord_header *h = c->header;
	uint64_t left = deadline_ns - now;
	struct timespec ts = {(time_t)(left / 1000000000ULL), (long)(left % 1000000000ULL)};
	atomic_fetch_add(&h->waiters, 1);
	if (c->entry >= 0)
		atomic_store(&c->entries[c->entry].held, 1);
	syscall(SYS_futex, &h->high_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
	if (c->entry >= 0)
		atomic_store(&c->entries[c->entry].held, 0);
	atomic_fetch_sub(&h->waiters, 1);
}

int vxpu_devcoord_live(const struct vxpu_devcoord *c, struct vxpu_devcoord_entry *out, int max)
{
	int n = 0;
	for (unsigned i = 0; i < VXPU_DEVCOORD_MAX_ENTRIES && n < max; i++) {
		const struct vxpu_devcoord_entry *e = &c->entries[i];
		if (atomic_load(&e->state) != 1)
			continue;
		if ((int)i != c->entry && !ofd_held(c->fd, entry_offset(i)))
			continue; /* its owner died */
		memcpy(&out[n++], (const void *)e, sizeof(*e));
	}
	return n;
}
