/* Decayed key counter: decay, eviction, ranking, drift, rescaling, storage. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/decay_counter.h"

/* Keys are single bytes here, in caller storage of up to 8 entries. */
struct store {
	struct vxpu_decay_counter c;
	struct vxpu_decay_slot slots[8];
	char keys[8];
};

static void init(struct store *s, size_t capacity, double half_life)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(vxpu_decay_counter_init(&s->c, 1, capacity, half_life, NULL), 0);
}

static size_t add(struct store *s, char key)
{
	return vxpu_decay_counter_add(&s->c, s->slots, s->keys, &key);
}

static double weight_of(const struct store *s, char key)
{
	for (size_t i = 0; i < s->c.len; i++)
		if (s->keys[i] == key)
			return s->slots[i].weight;
	fail_msg("key %c not tracked", key);
	return 0.0;
}

static double share_of(const struct store *s, char key)
{
	return weight_of(s, key) / vxpu_decay_counter_total(&s->c, s->slots);
}

static void bad_configurations_are_refused(void **state)
{
	(void)state;
	struct vxpu_decay_counter c;
	assert_int_equal(vxpu_decay_counter_init(&c, 0, 4, 0.0, NULL), -1);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 0, 0.0, NULL), -1);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 4, -1.0, NULL), -1);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 4, NAN, NULL), -1);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 4, VXPU_DECAY_MIN_HALF_LIFE / 2, NULL), -1);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 4, VXPU_DECAY_MIN_HALF_LIFE, NULL), 0);
	assert_int_equal(vxpu_decay_counter_init(&c, 1, 4, INFINITY, NULL), 0);
	assert_true(c.growth == 1.0); /* an infinite half-life never forgets */
}

static void weight_halves_after_half_life_observations(void **state)
{
	(void)state;
	struct store s;
	init(&s, 8, 5.0);
	add(&s, 'a');
	for (int i = 0; i < 4; i++)
		add(&s, 'f');
	add(&s, 'b'); /* five observations after a */
	assert_float_equal(weight_of(&s, 'a') / weight_of(&s, 'b'), 0.5, 1e-12);
	add(&s, 'b');
	add(&s, 'b');
	add(&s, 'b');
	add(&s, 'b');
	add(&s, 'c'); /* ten after a, five after the first b */
	assert_float_equal(weight_of(&s, 'a') / weight_of(&s, 'c'), 0.25, 1e-12);
	assert_int_equal(s.c.observations, 11);

	/* Without decay every observation counts the same. */
	init(&s, 8, 0.0);
	for (int i = 0; i < 100; i++)
		add(&s, i % 4 ? 'x' : 'y');
	assert_true(weight_of(&s, 'x') == 75.0);
	assert_true(weight_of(&s, 'y') == 25.0);
}

/* Byte order reversed. */
static int reverse(const void *x, const void *y)
{
	return *(const char *)y - *(const char *)x;
}

static void the_lightest_is_evicted_ties_to_the_greatest_key(void **state)
{
	(void)state;
	struct store s;
	init(&s, 3, 0.0);
	add(&s, 'c');
	add(&s, 'b');
	add(&s, 'b');
	add(&s, 'a');
	/* a and c weigh 1, b 2: the tie goes to the greatest key, c. */
	assert_int_equal(add(&s, 'd'), 0);
	assert_int_equal(s.c.len, 3);
	assert_int_equal(s.keys[0], 'd');
	assert_true(weight_of(&s, 'd') == 1.0); /* starts afresh */
	assert_true(weight_of(&s, 'a') == 1.0);
	/* a and d tie now; d is greater and goes. */
	assert_int_equal(add(&s, 'e'), 0);
	assert_true(weight_of(&s, 'a') == 1.0);
	assert_true(weight_of(&s, 'b') == 2.0);

	/* A caller's order reverses the tie: the least byte goes. */
	struct store r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(vxpu_decay_counter_init(&r.c, 1, 2, 0.0, reverse), 0);
	vxpu_decay_counter_add(&r.c, r.slots, r.keys, "m");
	vxpu_decay_counter_add(&r.c, r.slots, r.keys, "k");
	assert_int_equal(vxpu_decay_counter_add(&r.c, r.slots, r.keys, "z"), 1);
	assert_int_equal(r.keys[0], 'm');

	/* With decay the lightest is the one seen least recently. */
	init(&s, 3, 10.0);
	add(&s, 'a');
	add(&s, 'b');
	add(&s, 'c');
	add(&s, 'a');
	assert_int_equal(add(&s, 'd'), 1); /* b: older than c, a seen again */
	assert_int_equal(s.keys[1], 'd');
}

static void ranking_is_by_weight_then_key(void **state)
{
	(void)state;
	struct store s;
	init(&s, 8, 0.0);
	const char seq[] = "qzzqmmazzz"; /* z 5, q 2, m 2, a 1 */
	for (size_t i = 0; seq[i]; i++)
		add(&s, seq[i]);
	size_t order[8];
	vxpu_decay_counter_rank(&s.c, s.slots, s.keys, order);
	const char want[] = "zmqa"; /* m and q tie: key order */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(s.keys[order[i]], want[i]);

	/* Many keys with one tie group: heaviest first, then byte order. */
	init(&s, 8, 0.0);
	const char many[] = "hgfedcbah";
	for (size_t i = 0; many[i]; i++)
		add(&s, many[i]);
	vxpu_decay_counter_rank(&s.c, s.slots, s.keys, order);
	const char want_many[] = "habcdefg";
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(s.keys[order[i]], want_many[i]);
	/* The snapshot ranks the same way and returns the total. */
	size_t again[8];
	assert_true(vxpu_decay_counter_snapshot(&s.c, s.slots, s.keys, again) == 9.0);
	assert_memory_equal(order, again, sizeof(order));
}

static void drift_is_the_total_variation_since_the_snapshot(void **state)
{
	(void)state;
	struct store s;
	init(&s, 8, 0.0);
	size_t order[8];
	assert_true(vxpu_decay_counter_drift(&s.c, s.slots) == 1.0); /* no snapshot yet */
	vxpu_decay_counter_snapshot(&s.c, s.slots, s.keys, order);
	assert_true(vxpu_decay_counter_drift(&s.c, s.slots) == 0.0); /* nothing counted */
	add(&s, 'a');
	add(&s, 'a');
	add(&s, 'b');
	add(&s, 'b');
	vxpu_decay_counter_snapshot(&s.c, s.slots, s.keys, order);
	assert_true(vxpu_decay_counter_drift(&s.c, s.slots) == 0.0);
	for (int i = 0; i < 4; i++)
		add(&s, 'b'); /* a 2/8, b 6/8: each moved by 1/4 */
	assert_float_equal(vxpu_decay_counter_drift(&s.c, s.slots), 0.25, 1e-15);
	for (int i = 0; i < 8; i++)
		add(&s, 'c'); /* a 1/8, b 3/8, c 1/2 */
	assert_float_equal(vxpu_decay_counter_drift(&s.c, s.slots), 0.5, 1e-15);
	vxpu_decay_counter_snapshot(&s.c, s.slots, s.keys, order);
	assert_float_equal(s.slots[order[0]].snapshot_share, 0.5, 1e-15);
	assert_true(vxpu_decay_counter_drift(&s.c, s.slots) == 0.0);
}

static void rescaling_keeps_relative_weights(void **state)
{
	(void)state;
	/* Half-life 1: the increment doubles per observation, 2^20000 without
	 * rescaling. Alternating a and b, b (last) weighs twice a, whatever the
	 * number of rescales. */
	struct store s;
	init(&s, 8, 1.0);
	for (int i = 0; i < 20000; i++)
		add(&s, i % 2 ? 'b' : 'a');
	assert_int_equal(s.c.observations, 20000);
	assert_true(isfinite(vxpu_decay_counter_total(&s.c, s.slots)));
	assert_true(s.c.increment <= 1e200);
	assert_float_equal(weight_of(&s, 'b') / weight_of(&s, 'a'), 2.0, 1e-12);
	assert_float_equal(share_of(&s, 'b'), 2.0 / 3.0, 1e-12);

	/* A slow decay over a long run: shares match the closed form
	 * (weights of a geometric series split three ways). */
	init(&s, 8, 1.5);
	for (int i = 0; i < 30000; i++)
		add(&s, "xyz"[i % 3]);
	const double g = exp2(1.0 / 1.5);
	const double den = 1.0 + g + g * g; /* z newest */
	assert_float_equal(share_of(&s, 'z'), g * g / den, 1e-12);
	assert_float_equal(share_of(&s, 'y'), g / den, 1e-12);
	assert_float_equal(share_of(&s, 'x'), 1.0 / den, 1e-12);

	/* The shortest half-life: only the latest observation counts. */
	init(&s, 8, VXPU_DECAY_MIN_HALF_LIFE);
	for (int i = 0; i < 1000; i++)
		add(&s, "pq"[i % 2]);
	assert_true(share_of(&s, 'q') == 1.0);
	assert_true(share_of(&s, 'p') < 1e-18);
}

static void caller_storage_of_capacity_one(void **state)
{
	(void)state;
	struct {
		struct vxpu_decay_counter c;
		struct vxpu_decay_slot slot;
		uint64_t key;
		uint64_t guard; /* storage ends at key: must stay untouched */
	} one;
	memset(&one, 0, sizeof(one));
	one.guard = 0x5a5a5a5a5a5a5a5aull;
	assert_int_equal(vxpu_decay_counter_init(&one.c, sizeof(one.key), 1, 2.0, NULL), 0);
	const uint64_t a = 7, b = 9;
	assert_int_equal(vxpu_decay_counter_add(&one.c, &one.slot, &one.key, &a), 0);
	assert_int_equal(vxpu_decay_counter_add(&one.c, &one.slot, &one.key, &a), 0);
	assert_true(one.key == a);
	assert_float_equal(one.slot.weight, 1.0 + exp2(0.5), 1e-12);
	size_t order[1];
	vxpu_decay_counter_snapshot(&one.c, &one.slot, &one.key, order);
	assert_int_equal(order[0], 0);
	assert_true(one.slot.snapshot_share == 1.0);
	/* A new key replaces the only entry and starts from its own weight. */
	assert_int_equal(vxpu_decay_counter_add(&one.c, &one.slot, &one.key, &b), 0);
	assert_int_equal(one.c.len, 1);
	assert_true(one.key == b);
	assert_float_equal(one.slot.weight, 2.0, 1e-12); /* increment after two: 2^(2/2) */
	assert_true(one.slot.snapshot_share == 0.0);
	/* Its whole share is new; a's left with it (understated drift). */
	assert_true(vxpu_decay_counter_drift(&one.c, &one.slot) == 0.5);
	assert_true(one.guard == 0x5a5a5a5a5a5a5a5aull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bad_configurations_are_refused),
	        cmocka_unit_test(weight_halves_after_half_life_observations),
	        cmocka_unit_test(the_lightest_is_evicted_ties_to_the_greatest_key),
	        cmocka_unit_test(ranking_is_by_weight_then_key),
	        cmocka_unit_test(drift_is_the_total_variation_since_the_snapshot),
	        cmocka_unit_test(rescaling_keeps_relative_weights),
	        cmocka_unit_test(caller_storage_of_capacity_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
