/* Quotas: limits per namespace and project, charge, refund, messages. */
#include "fixtures.h"

#include <stdio.h>
#include <string.h>

static char why[512];

static void charges_add_up_until_a_limit_and_refunds_give_back(void **state)
{
	(void)state;
	struct vxpu_quota_table t;
	vxpu_quota_init(&t);
	struct vxpu_quota_amount lim = {16384, 200, 4};
	assert_int_equal(vxpu_quota_set(&t, "team-a", NULL, &lim, why, sizeof(why)), 0);
	struct vxpu_quota_amount one = {4096, 50, 1};
	for (int i = 0; i < 4; i++)
		assert_int_equal(vxpu_quota_charge(&t, "team-a", "", &one, why, sizeof(why)), 0);
	assert_int_equal(vxpu_quota_charge(&t, "team-a", "", &one, why, sizeof(why)), -1);
	assert_string_equal(why, "quota of namespace \"team-a\": memory 4096 MiB requested, 0 MiB "
	                         "of 16384 MiB left");
	const struct vxpu_quota_entry *e = vxpu_quota_find(&t, "team-a", "");
	assert_int_equal(e->used.memory_mib, 16384);
	assert_int_equal(e->used.devices, 4);
	vxpu_quota_refund(&t, "team-a", "", &one);
	assert_int_equal(e->used.memory_mib, 12288);
	/* Compute is the next limit once memory is given more room. */
	lim.memory_mib = VXPU_QUOTA_UNLIMITED;
	assert_int_equal(vxpu_quota_set(&t, "team-a", "", &lim, why, sizeof(why)), 0);
	assert_int_equal(e->used.memory_mib, 12288); /* replacing limits keeps usage */
	struct vxpu_quota_amount hungry = {1, 80, 1};
	assert_int_equal(vxpu_quota_check(&t, "team-a", "", &hungry, why, sizeof(why)), -1);
	assert_string_equal(why, "quota of namespace \"team-a\": compute 80% requested, 50% of "
	                         "200% left");
	/* Refunds never go below zero. */
	struct vxpu_quota_amount huge = {1 << 30, 1000, 1000};
	vxpu_quota_refund(&t, "team-a", "", &huge);
	assert_int_equal(e->used.memory_mib, 0);
	assert_int_equal(e->used.devices, 0);
	vxpu_quota_free(&t);
}

static void namespace_and_project_quotas_both_apply(void **state)
{
	(void)state;
	struct vxpu_quota_table t;
	vxpu_quota_init(&t);
	struct vxpu_quota_amount ns = {VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED, 3};
	struct vxpu_quota_amount proj = {VXPU_QUOTA_UNLIMITED, VXPU_QUOTA_UNLIMITED, 2};
	assert_int_equal(vxpu_quota_set(&t, "lab", "", &ns, why, sizeof(why)), 0);
	assert_int_equal(vxpu_quota_set(&t, "lab", "nlp", &proj, why, sizeof(why)), 0);
	struct vxpu_quota_amount one = {1, 0, 1};
	assert_int_equal(vxpu_quota_charge(&t, "lab", "nlp", &one, why, sizeof(why)), 0);
	assert_int_equal(vxpu_quota_charge(&t, "lab", "nlp", &one, why, sizeof(why)), 0);
	assert_int_equal(vxpu_quota_charge(&t, "lab", "nlp", &one, why, sizeof(why)), -1);
	assert_string_equal(why, "quota of project \"nlp\" in namespace \"lab\": devices 1 "
	                         "requested, 0 of 2 left");
	/* A project without its own quota only meets the namespace's. */
	assert_int_equal(vxpu_quota_charge(&t, "lab", "vision", &one, why, sizeof(why)), 0);
	assert_int_equal(vxpu_quota_charge(&t, "lab", "vision", &one, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "quota of namespace \"lab\": devices"));
	/* The refused charge left nothing behind. */
	assert_int_equal(vxpu_quota_find(&t, "lab", "")->used.devices, 3);
	assert_int_equal(vxpu_quota_find(&t, "lab", "nlp")->used.devices, 2);
	/* Unknown namespaces are not limited. */
	assert_int_equal(vxpu_quota_check(&t, "other", "nlp", &one, why, sizeof(why)), 0);
	vxpu_quota_free(&t);
}

static void entries_stay_sorted_whatever_the_insertion_order(void **state)
{
	(void)state;
	struct vxpu_quota_table t;
	vxpu_quota_init(&t);
	struct vxpu_quota_amount lim = {1, 1, 1};
	const char *names[] = {"zeta", "alpha", "mu", "beta", "omega", "kappa"};
	for (int round = 0; round < 5; round++)
		for (size_t i = 0; i < 6; i++) {
			char ns[32];
			snprintf(ns, sizeof(ns), "%s%d", names[i], round);
			assert_int_equal(
			        vxpu_quota_set(&t, ns, i % 2 ? "p" : "", &lim, why, sizeof(why)),
			        0);
		}
	assert_int_equal(t.count, 30);
	for (size_t i = 1; i < t.count; i++)
		assert_true(strcmp(t.entries[i - 1].ns, t.entries[i].ns) < 0);
	assert_non_null(vxpu_quota_find(&t, "mu3", ""));
	assert_null(vxpu_quota_find(&t, "mu3", "p"));
	assert_int_equal(vxpu_quota_set(&t, "", "", &lim, why, sizeof(why)), -1);
	vxpu_quota_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(charges_add_up_until_a_limit_and_refunds_give_back),
	        cmocka_unit_test(namespace_and_project_quotas_both_apply),
	        cmocka_unit_test(entries_stay_sorted_whatever_the_insertion_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
