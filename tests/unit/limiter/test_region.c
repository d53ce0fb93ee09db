/*
 * The shared region: creation and the refusal of foreign or unknown files
 * (without touching them), slot claiming and exact liveness through OFD
 * locks (two opens of one file are two "processes" to the kernel; a forked
 * child killed with SIGKILL is a real one), reclaiming a dead owner's
 * charge (and leaving it while the driver still holds the memory), the host
 * pid word guarded by the claim generation, UUIDs, and the read view.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/size.h"
#include "limiter/region.h"

static char path[128];

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(path, sizeof(path), "/tmp/vxpu-region-test-%d-%d", (int)getpid(), n++);
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void open_ok(struct vxpu_region *r, enum vxpu_region_mode mode,
                    const struct vxpu_region_init *init)
{
	char err[512] = "";
	if (vxpu_region_open(r, path, mode, init, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", path, err);
}

static void test_create_then_read(void **state)
{
	(void)state;
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.memory_limit[1] = 3 * VXPU_GIB;
	init.uuid_set[1] = true;
	memset(init.uuid[1], 0xab, 16);
	init.managed = true;
	struct vxpu_region w, r;
	open_ok(&w, VXPU_REGION_OPEN_CREATE, &init);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, VXPU_REGION_FILE_SIZE);
	open_ok(&r, VXPU_REGION_OPEN_READ, NULL);
	assert_false(r.writable);
	assert_int_equal(r.header->version, VXPU_REGION_VERSION);
	assert_true(r.header->flags & VXPU_REGION_FLAG_MANAGED);
	assert_true(atomic_load(&r.devices[0].memory_limit) == VXPU_REGION_UNLIMITED);
	assert_true(atomic_load(&r.devices[1].memory_limit) == 3 * VXPU_GIB);
	uint8_t uuid[16];
	assert_true(vxpu_region_uuid(&r, 1, uuid));
	assert_int_equal(uuid[15], 0xab);
	assert_false(vxpu_region_uuid(&r, 0, uuid));
	assert_int_equal(vxpu_region_find_uuid(&r, uuid), 1);
	vxpu_region_close(&r);

	/* A second CREATE keeps the file's content: the file is the authority. */
	struct vxpu_region again;
	struct vxpu_region_init other;
	vxpu_region_init_default(&other);
	other.memory_limit[1] = VXPU_GIB;
	open_ok(&again, VXPU_REGION_OPEN_CREATE, &other);
	assert_true(atomic_load(&again.devices[1].memory_limit) == 3 * VXPU_GIB);
	vxpu_region_close(&again);
	vxpu_region_close(&w);
}

static void write_file(const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void read_file(void *data, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, data, len), (ssize_t)len);
	close(fd);
}

static void expect_refused(enum vxpu_region_mode mode, const char *why)
{
	struct vxpu_region r;
	char err[512] = "";
	assert_int_equal(vxpu_region_open(&r, path, mode, NULL, err, sizeof(err)), -1);
	if (!strstr(err, why) || !strstr(err, path))
		fail_msg("error \"%s\" lacks \"%s\" or the path", err, why);
	assert_int_equal(r.fd, -1);
}

static void test_unknown_version_refused_and_untouched(void **state)
{
	(void)state;
	struct vxpu_region w;
	open_ok(&w, VXPU_REGION_OPEN_CREATE, NULL);
	w.header->version = 2; /* a future layout */
	vxpu_region_close(&w);
	unsigned char before[4096], after[4096];
	read_file(before, sizeof(before));
	expect_refused(VXPU_REGION_OPEN_READ, "unsupported layout version 2");
	expect_refused(VXPU_REGION_OPEN_WRITE, "unsupported layout version 2");
	expect_refused(VXPU_REGION_OPEN_CREATE, "unsupported layout version 2");
	read_file(after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

static void test_foreign_file_refused(void **state)
{
	(void)state;
	char text[8192];
	memset(text, 'x', sizeof(text));
	write_file(text, sizeof(text));
	expect_refused(VXPU_REGION_OPEN_CREATE, "not a vxpu region file");
	expect_refused(VXPU_REGION_OPEN_READ, "not a vxpu region file");
	char back[8192];
	read_file(back, sizeof(back));
	assert_memory_equal(text, back, sizeof(text));
}

static void test_missing_and_short_files(void **state)
{
	(void)state;
	expect_refused(VXPU_REGION_OPEN_READ, "No such file");
	write_file("abc", 3);
	expect_refused(VXPU_REGION_OPEN_READ, "too short");
}

static void test_half_initialised_file_is_redone(void **state)
{
	(void)state;
	/* An initialiser killed after sizing the file, before `ready`. */
	struct vxpu_region w;
	open_ok(&w, VXPU_REGION_OPEN_CREATE, NULL);
	atomic_store(&w.header->ready, 0);
	vxpu_region_close(&w);
	expect_refused(VXPU_REGION_OPEN_READ, "not initialised");
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.memory_limit[0] = VXPU_GIB;
	open_ok(&w, VXPU_REGION_OPEN_CREATE, &init);
	assert_true(atomic_load(&w.devices[0].memory_limit) == VXPU_GIB);
	vxpu_region_close(&w);
}

static void test_claim_liveness_and_reclaim(void **state)
{
	(void)state;
	struct vxpu_region a, b;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	uint32_t ga, gb;
	int sa = vxpu_region_claim(&a, 111, &ga);
	int sb = vxpu_region_claim(&b, 222, &gb);
	assert_int_equal(sa, 0);
	assert_int_equal(sb, 1);
	assert_true(vxpu_region_slot_alive(&b, (unsigned)sa));
	assert_true(vxpu_region_slot_alive(&a, (unsigned)sb));
	atomic_store(&a.slots[sa].memory[2].charge, 5 * VXPU_MIB);
	atomic_store(&a.slots[sa].memory[2].reserve, VXPU_MIB);

	/* While a lives, nobody can reclaim it. */
	assert_int_equal(vxpu_region_reclaim_dead(&b, sb), 0);
	assert_int_equal(atomic_load(&b.slots[sa].state), VXPU_REGION_SLOT_LIVE);

	/* "a" dies: its lock is gone at once and its charge is reclaimed. */
	vxpu_region_close(&a);
	assert_false(vxpu_region_slot_alive(&b, (unsigned)sa));
	assert_int_equal(vxpu_region_reclaim_dead(&b, sb), 1);
	assert_int_equal(atomic_load(&b.slots[sa].state), VXPU_REGION_SLOT_FREE);
	assert_true(atomic_load(&b.slots[sa].memory[2].charge) == 0);
	assert_true(atomic_load(&b.slots[sa].memory[2].reserve) == 0);

	/* The freed slot is the next one claimed, with a new generation. */
	struct vxpu_region c;
	open_ok(&c, VXPU_REGION_OPEN_WRITE, NULL);
	uint32_t gc;
	assert_int_equal(vxpu_region_claim(&c, 333, &gc), sa);
	assert_true(gc > ga);
	assert_int_equal(atomic_load(&c.header->slot_high), 2);
	vxpu_region_close(&c);
	vxpu_region_close(&b);
}

static void test_dead_owner_taken_over_on_claim(void **state)
{
	(void)state;
	struct vxpu_region a, b, c;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	assert_int_equal(vxpu_region_claim(&a, 1, NULL), 0);
	assert_int_equal(vxpu_region_claim(&b, 2, NULL), 1);
	atomic_store(&a.slots[0].memory[0].charge, VXPU_GIB);
	vxpu_region_close(&a); /* dies without giving the slot back */
	/* A dead owner's slot is reused before slot_high grows. */
	open_ok(&c, VXPU_REGION_OPEN_WRITE, NULL);
	assert_int_equal(vxpu_region_claim(&c, 3, NULL), 0);
	assert_true(atomic_load(&c.slots[0].memory[0].charge) == 0);
	assert_int_equal(atomic_load(&c.slots[0].pid), 3);
	assert_int_equal(atomic_load(&c.header->slot_high), 2);
	/* With none free or dead below slot_high, a new slot is taken. */
	struct vxpu_region d;
	open_ok(&d, VXPU_REGION_OPEN_WRITE, NULL);
	assert_int_equal(vxpu_region_claim(&d, 4, NULL), 2);
	assert_int_equal(atomic_load(&d.header->slot_high), 3);
	vxpu_region_close(&d);
	vxpu_region_close(&c);
	vxpu_region_close(&b);
}

static void test_region_full(void **state)
{
	(void)state;
	struct vxpu_region a, b;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	/* Every slot held by live owners (one open file description holds all locks). */
	for (unsigned i = 0; i < VXPU_REGION_MAX_SLOTS; i++) {
		struct flock fl = {
		        .l_type = F_WRLCK,
		        .l_whence = SEEK_SET,
		        .l_start = (off_t)(VXPU_REGION_SLOT_OFFSET + i * VXPU_REGION_SLOT_SIZE),
		        .l_len = 1};
		assert_int_equal(fcntl(a.fd, F_OFD_SETLK, &fl), 0);
		atomic_store(&a.slots[i].state, VXPU_REGION_SLOT_LIVE);
	}
	atomic_store(&a.header->slot_high, VXPU_REGION_MAX_SLOTS);
	assert_int_equal(vxpu_region_claim(&b, 2, NULL), -1);
	vxpu_region_release(&a, 7);
	assert_int_equal(vxpu_region_claim(&b, 2, NULL), 7);
	vxpu_region_close(&b);
	vxpu_region_close(&a);
}

static void test_sigkilled_process_detected(void **state)
{
	(void)state;
	struct vxpu_region a;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t child = fork();
	if (child == 0) {
		struct vxpu_region c;
		char err[256];
		if (vxpu_region_open(&c, path, VXPU_REGION_OPEN_WRITE, NULL, err, sizeof(err)) != 0)
			_exit(1);
		int slot = vxpu_region_claim(&c, (int32_t)getpid(), NULL);
		atomic_store(&c.slots[slot].memory[0].charge, 7 * VXPU_MIB);
		char s = (char)slot;
		if (write(pipefd[1], &s, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char slot;
	assert_int_equal(read(pipefd[0], &slot, 1), 1);
	assert_true(vxpu_region_slot_alive(&a, (unsigned)slot));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_false(vxpu_region_slot_alive(&a, (unsigned)slot));
	assert_int_equal(vxpu_region_reclaim_dead(&a, -1), 1);
	assert_true(atomic_load(&a.slots[(int)slot].memory[0].charge) == 0);
	close(pipefd[0]);
	close(pipefd[1]);
	vxpu_region_close(&a);
}

static bool holds_device_one(void *ctx, int32_t pid, int32_t host_pid, unsigned device)
{
	(void)host_pid;
	int *calls = ctx;
	(*calls)++;
	return pid == 42 && device == 1;
}

static void test_reclaim_waits_for_the_driver(void **state)
{
	(void)state;
	struct vxpu_region a, b;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	int s = vxpu_region_claim(&a, 42, NULL);
	atomic_store(&a.slots[s].memory[0].charge, VXPU_MIB);
	atomic_store(&a.slots[s].memory[1].charge, 2 * VXPU_MIB);
	vxpu_region_close(&a);
	int calls = 0;
	b.driver_still_holds = holds_device_one;
	b.driver_ctx = &calls;
	/* Device 0 is given back, device 1 stays while the driver holds it. */
	assert_int_equal(vxpu_region_reclaim_dead(&b, -1), 0);
	assert_true(atomic_load(&b.slots[s].memory[0].charge) == 0);
	assert_true(atomic_load(&b.slots[s].memory[1].charge) == 2 * VXPU_MIB);
	assert_int_equal(atomic_load(&b.slots[s].state), VXPU_REGION_SLOT_LIVE);
	assert_true(calls >= 2);
	b.driver_still_holds = NULL;
	assert_int_equal(vxpu_region_reclaim_dead(&b, -1), 1);
	assert_true(atomic_load(&b.slots[s].memory[1].charge) == 0);
	vxpu_region_close(&b);
}

static void test_reclaim_earlier_image_of_same_pid(void **state)
{
	(void)state;
	struct vxpu_region before_exec, after_exec;
	open_ok(&before_exec, VXPU_REGION_OPEN_CREATE, NULL);
	int old = vxpu_region_claim(&before_exec, 4242, NULL);
	atomic_store(&before_exec.slots[old].memory[0].charge, VXPU_MIB);
	vxpu_region_close(&before_exec); /* exec closed the descriptor */
	open_ok(&after_exec, VXPU_REGION_OPEN_WRITE, NULL);
	int calls = 0;
	after_exec.driver_still_holds = holds_device_one; /* would say "held" for pid 42 only */
	after_exec.driver_ctx = &calls;
	int now = vxpu_region_claim(&after_exec, 4242, NULL);
	/* Claiming reuses the dead slot of the same pid without asking the driver. */
	assert_int_equal(now, old);
	assert_int_equal(calls, 0);
	vxpu_region_close(&after_exec);
}

static void test_reclaim_pid_only_that_pid(void **state)
{
	(void)state;
	struct vxpu_region a, b, c;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	int sa = vxpu_region_claim(&a, 500, NULL);
	int sb = vxpu_region_claim(&b, 600, NULL);
	atomic_store(&a.slots[sa].memory[0].charge, VXPU_MIB);
	atomic_store(&b.slots[sb].memory[0].charge, VXPU_MIB);
	vxpu_region_close(&a);
	vxpu_region_close(&b);
	open_ok(&c, VXPU_REGION_OPEN_WRITE, NULL);
	assert_int_equal(vxpu_region_reclaim_pid(&c, 500, -1), 1);
	assert_int_equal(atomic_load(&c.slots[sa].state), VXPU_REGION_SLOT_FREE);
	assert_int_equal(atomic_load(&c.slots[sb].state), VXPU_REGION_SLOT_LIVE);
	assert_true(atomic_load(&c.slots[sb].memory[0].charge) == VXPU_MIB);
	vxpu_region_close(&c);
}

static void test_host_pid_follows_generation(void **state)
{
	(void)state;
	struct vxpu_region a, agent;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	open_ok(&agent, VXPU_REGION_OPEN_WRITE, NULL);
	uint32_t g;
	int s = vxpu_region_claim(&a, 7, &g);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)s), 0);
	assert_int_equal(vxpu_region_set_host_pid(&agent, (unsigned)s, g, 40007), 0);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)s), 40007);
	/* A stale generation (the slot was claimed again) is refused. */
	assert_int_equal(vxpu_region_set_host_pid(&agent, (unsigned)s, g - 1, 1), -1);
	vxpu_region_release(&a, (unsigned)s);
	uint32_t g2;
	assert_int_equal(vxpu_region_claim(&a, 8, &g2), s);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)s), 0);
	assert_int_equal(vxpu_region_set_host_pid(&agent, (unsigned)s, g, 40007), -1);
	assert_int_equal(vxpu_region_set_host_pid(&agent, (unsigned)s, g2, 40008), 0);
	assert_int_equal(vxpu_region_host_pid(&agent, (unsigned)s), 40008);
	vxpu_region_close(&agent);
	vxpu_region_close(&a);
}

static void test_uuid_first_writer_wins(void **state)
{
	(void)state;
	struct vxpu_region a;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, NULL);
	uint8_t u1[16], u2[16];
	memset(u1, 1, 16);
	memset(u2, 2, 16);
	assert_int_equal(vxpu_region_set_uuid(&a, 3, u1), 0);
	assert_int_equal(vxpu_region_set_uuid(&a, 3, u1), 0);
	assert_int_equal(vxpu_region_set_uuid(&a, 3, u2), -1);
	assert_int_equal(vxpu_region_find_uuid(&a, u1), 3);
	assert_int_equal(vxpu_region_find_uuid(&a, u2), -1);
	vxpu_region_close(&a);
}

static void test_uuid_text(void **state)
{
	(void)state;
	uint8_t u[16], back[16];
	for (int i = 0; i < 16; i++)
		u[i] = (uint8_t)(i * 17);
	char text[48];
	vxpu_region_format_uuid(u, text, sizeof(text));
	assert_string_equal(text, "GPU-00112233-4455-6677-8899-aabbccddeeff");
	assert_int_equal(vxpu_region_parse_uuid(text, back), 0);
	assert_memory_equal(u, back, 16);
	assert_int_equal(vxpu_region_parse_uuid("00112233-4455-6677-8899-AABBCCDDEEFF", back), 0);
	assert_memory_equal(u, back, 16);
	assert_int_equal(vxpu_region_parse_uuid("GPU-00112233-4455-6677-8899-aabbccddeef", back),
	                 -1);
	assert_int_equal(vxpu_region_parse_uuid("GPU-00112233-4455-6677-8899-aabbccddeeff0", back),
	                 -1);
	assert_int_equal(vxpu_region_parse_uuid("GPU-0011223344556677-8899-aabbccddeeff", back),
	                 -1);
	assert_int_equal(vxpu_region_parse_uuid("GPU-0x112233-4455-6677-8899-aabbccddeeff", back),
	                 -1);
}

static void test_read_view(void **state)
{
	(void)state;
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.memory_limit[0] = VXPU_GIB;
	struct vxpu_region a, b, reader;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, &init);
	open_ok(&b, VXPU_REGION_OPEN_WRITE, NULL);
	int sa = vxpu_region_claim(&a, 100, NULL);
	int sb = vxpu_region_claim(&b, 200, NULL);
	atomic_store(&a.slots[sa].memory[0].charge, 10 * VXPU_MIB);
	atomic_store(&a.slots[sa].memory[0].reserve, VXPU_MIB);
	atomic_store(&b.slots[sb].memory[1].charge, 20 * VXPU_MIB);
	vxpu_region_close(&b); /* b dies, not yet reclaimed */
	open_ok(&reader, VXPU_REGION_OPEN_READ, NULL);
	struct vxpu_region_view *v = malloc(sizeof(*v));
	vxpu_region_read(&reader, v);
	assert_int_equal(v->device_count, 2);
	assert_true(v->devices[0].memory_limit == VXPU_GIB);
	assert_true(v->devices[0].used == 11 * VXPU_MIB);
	assert_true(v->devices[1].used == 0);
	assert_true(v->devices[1].used_dead == 20 * VXPU_MIB);
	assert_int_equal(v->process_count, 2);
	assert_int_equal(v->processes[0].pid, 100);
	assert_true(v->processes[0].alive);
	assert_int_equal(v->processes[1].pid, 200);
	assert_false(v->processes[1].alive);
	free(v);
	vxpu_region_close(&reader);
	vxpu_region_close(&a);
}

/* Compute fields: created from init, changed live, shown, reset per claim. */
static void test_compute_fields(void **state)
{
	(void)state;
	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.core_limit[2] = 30;
	init.priority = VXPU_PRIORITY_LOW;
	struct vxpu_region a, reader;
	open_ok(&a, VXPU_REGION_OPEN_CREATE, &init);
	assert_int_equal(atomic_load(&a.devices[2].core_limit), 30);
	assert_int_equal(atomic_load(&a.header->priority), VXPU_PRIORITY_LOW);
	assert_string_equal(vxpu_priority_name(VXPU_PRIORITY_LOW), "low");
	assert_string_equal(vxpu_priority_name(VXPU_PRIORITY_UNSET), "none");

	/* A live change bumps the generation (the limiter's cue) and the wake word. */
	uint64_t gen = atomic_load(&a.header->limits_generation);
	struct vxpu_region_compute *c = vxpu_region_compute(&a, 2);
	uint32_t wake = atomic_load(&c->wake);
	vxpu_region_set_core_limit(&a, 2, 60);
	assert_int_equal(atomic_load(&a.devices[2].core_limit), 60);
	assert_int_equal(atomic_load(&a.header->limits_generation), gen + 1);
	assert_int_equal(atomic_load(&c->wake), wake + 1);
	vxpu_region_set_priority(&a, VXPU_PRIORITY_HIGH);
	assert_int_equal(atomic_load(&a.header->limits_generation), gen + 2);

	/* The overlays sit in the reserved bytes: budget at device offset 40. */
	assert_ptr_equal((char *)c, (char *)&a.devices[2] + 40);
	atomic_store(&c->charged_ns, 1234);
	atomic_store(&c->effective_limit, 5);
	int slot = vxpu_region_claim(&a, 100, NULL);
	struct vxpu_region_slot_compute *sc = vxpu_region_slot_compute(&a, (unsigned)slot);
	assert_ptr_equal((char *)sc, (char *)&a.slots[slot] + 320);
	atomic_store(&sc->used_ns[2], 999);

	open_ok(&reader, VXPU_REGION_OPEN_READ, NULL);
	struct vxpu_region_view *v = malloc(sizeof(*v));
	vxpu_region_read(&reader, v);
	assert_int_equal(v->priority, VXPU_PRIORITY_HIGH);
	assert_true(v->device_count >= 3);
	assert_int_equal(v->devices[2].core_limit, 60);
	assert_int_equal(v->devices[2].effective_limit, 5);
	assert_true(v->devices[2].charged_ns == 1234);
	assert_true(v->processes[0].compute_ns[2] == 999);
	free(v);
	vxpu_region_close(&reader);

	/* A new claim of the slot starts with no device time. */
	vxpu_region_release(&a, (unsigned)slot);
	slot = vxpu_region_claim(&a, 101, NULL);
	assert_true(atomic_load(&vxpu_region_slot_compute(&a, (unsigned)slot)->used_ns[2]) == 0);
	vxpu_region_close(&a);
}

static void test_anonymous_region(void **state)
{
	(void)state;
	struct vxpu_region r;
	assert_int_equal(vxpu_region_open_anonymous(&r, NULL), 0);
	assert_true(r.anonymous);
	assert_int_equal(vxpu_region_claim(&r, 1, NULL), 0);
	assert_int_equal(vxpu_region_claim(&r, 2, NULL), 1);
	assert_true(vxpu_region_slot_alive(&r, 0));
	assert_int_equal(vxpu_region_reclaim_dead(&r, 1), 0);
	vxpu_region_release(&r, 0);
	assert_int_equal(vxpu_region_claim(&r, 3, NULL), 0);
	vxpu_region_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_create_then_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_version_refused_and_untouched, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_file_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_and_short_files, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_half_initialised_file_is_redone, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_claim_liveness_and_reclaim, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dead_owner_taken_over_on_claim, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_region_full, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sigkilled_process_detected, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reclaim_waits_for_the_driver, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reclaim_earlier_image_of_same_pid, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_reclaim_pid_only_that_pid, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_host_pid_follows_generation, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compute_fields, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_uuid_first_writer_wins, setup, teardown),
	        cmocka_unit_test(test_uuid_text),
	        cmocka_unit_test_setup_teardown(test_read_view, setup, teardown),
	        cmocka_unit_test(test_anonymous_region),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
