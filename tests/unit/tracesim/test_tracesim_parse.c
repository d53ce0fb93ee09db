/* The openb trace parser: what it accepts, and the exact FILE:LINE: COLUMN:
 * PROBLEM message for each kind of malformed input, with nothing loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/trace.h"

#define NODES_HEADER "sn,cpu_milli,memory_mib,gpu,model\n"
#define TASKS_HEADER "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"

static int load_nodes(struct vxpu_trace *t, const char *csv, char *err, size_t errlen)
{
	return vxpu_trace_load_nodes(t, csv, strlen(csv), "n.csv", err, errlen);
}

static int load_tasks(struct vxpu_trace *t, const char *csv, char *err, size_t errlen)
{
	return vxpu_trace_load_tasks(t, csv, strlen(csv), "p.csv", err, errlen);
}

static void load_default_nodes(struct vxpu_trace *t)
{
	char err[256];
	assert_int_equal(load_nodes(t,
	                            NODES_HEADER "a,64000,262144,2,P100\n"
	                                         "b,96000,393216,8,G2\n"
	                                         "c,32000,131072,4,T4\n",
	                            err, sizeof(err)),
	                 0);
}

static void test_nodes_any_column_order_crlf_and_skipped(void **state)
{
	(void)state;
	struct vxpu_trace t;
	vxpu_trace_init(&t);
	char err[256] = "";
	const char *csv = "model,gpu,extra,sn,memory_mib,cpu_milli\r\n"
	                  "P100,2,x,a,262144,64000\r\n"
	                  ",0,y,cpu-only,131072,32000\r\n"
	                  "G2,8,z,b,393216,96000\r\n"
	                  "P100,1,w,c,65536,8000"; /* no final newline */
	assert_int_equal(load_nodes(&t, csv, err, sizeof(err)), 0);
	assert_int_equal(t.node_count, 3);
	assert_int_equal(t.skipped_nodes, 1);
	assert_int_equal(t.model_count, 2);
	assert_string_equal(t.models[0], "P100");
	assert_string_equal(t.models[1], "G2");
	assert_string_equal(t.nodes[1].name, "b");
	assert_int_equal(t.nodes[1].model, 1);
	assert_int_equal(t.nodes[2].model, 0);
	assert_int_equal(t.nodes[2].cpu_milli, 8000);
	assert_int_equal(t.nodes[2].mem_mib, 65536);
	assert_int_equal(t.gpu_milli_capacity, 11000);
	assert_int_equal(t.max_node_cpu_milli, 96000);
	assert_int_equal(t.max_node_gpu_milli, 8000);
	vxpu_trace_free(&t);
}

static void test_tasks_with_and_without_spec_column(void **state)
{
	(void)state;
	struct vxpu_trace t;
	vxpu_trace_init(&t);
	load_default_nodes(&t);
	char err[256] = "";
	/* The multigpu20 file has no gpu_spec column: every task takes any model. */
	assert_int_equal(load_tasks(&t,
	                            "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
	                            "t1,12000,16384,1,1000\n"
	                            "t2,6000,12288,1,460\n"
	                            "t3,32000,65536,8,1000\n"
	                            "t4,4000,8192,0,0\n",
	                            err, sizeof(err)),
	                 0);
	assert_int_equal(t.task_count, 4);
	assert_true(t.tasks[0].any_model);
	assert_int_equal(t.tasks[1].gpu_milli, 460);
	assert_int_equal(vxpu_trace_task_gpu_milli(&t.tasks[2]), 8000);
	assert_int_equal(t.tasks[3].gpu_count, 0);
	assert_int_equal(t.tasks[3].line, 5);

	/* With gpu_spec and columns the replay ignores. */
	assert_int_equal(
	        load_tasks(&t,
	                   "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase\n"
	                   "t1,12000,16384,1,1000,,LS,Running\n"
	                   "t2,6000,12288,1,500,T4|G2|T4,BE,Failed\n"
	                   "t3,6000,12288,1,500,A100,BE,Pending\n",
	                   err, sizeof(err)),
	        0);
	assert_int_equal(t.task_count, 3);
	assert_true(t.tasks[0].any_model);
	assert_false(t.tasks[1].any_model);
	assert_int_equal(t.tasks[1].model_mask, (1u << 1) | (1u << 2)); /* G2 is 1, T4 is 2 */
	assert_false(t.tasks[2].any_model);
	assert_int_equal(t.tasks[2].model_mask, 0); /* no node has an A100: matches nothing */
	struct vxpu_frag_shape shape = vxpu_trace_task_shape(&t.tasks[1]);
	assert_int_equal(shape.dev_count, 1);
	assert_int_equal(shape.dev_milli, 500);
	assert_int_equal(shape.cpu_milli, 6000);
	assert_int_equal(shape.mem_mib, 12288);
	vxpu_trace_free(&t);
}

struct bad_case {
	const char *csv;
	const char *message;
};

static const struct bad_case bad_nodes[] = {
        {"", "n.csv:1: header: empty file"},
        {"sn,cpu_milli,memory_mib,gpu\n", "n.csv:1: model: missing column"},
        {"sn,cpu_milli,memory_mib,gpu,model,gpu\n", "n.csv:1: header: duplicate column \"gpu\""},
        {"sn,cpu_milli,,gpu,model\n", "n.csv:1: header: column 3 has no name"},
        {NODES_HEADER "a,64000,262144,2\n", "n.csv:2: model: missing (4 fields, the header has 5)"},
        {NODES_HEADER "a,64000,262144,2,P100,x\n", "n.csv:2: row: 6 fields, the header has 5"},
        {NODES_HEADER "a,64k,262144,2,P100\n", "n.csv:2: cpu_milli: \"64k\" is not a whole number"},
        {NODES_HEADER "a,-1,262144,2,P100\n", "n.csv:2: cpu_milli: \"-1\" is not a whole number"},
        {NODES_HEADER "a,,262144,2,P100\n", "n.csv:2: cpu_milli: empty"},
        {NODES_HEADER "a,64000,99999999999,2,P100\n",
         "n.csv:2: memory_mib: \"99999999999\" is out of range 0..2147483647"},
        {NODES_HEADER "a,64000,262144,17,P100\n", "n.csv:2: gpu: 17 is out of range 0..16"},
        {NODES_HEADER "a,64000,262144,2,\n", "n.csv:2: model: empty"},
        {NODES_HEADER "\"a\",64000,262144,2,P100\n",
         "n.csv:2: sn: quoted fields are not supported"},
        {NODES_HEADER "a b,64000,262144,2,P100\n", "n.csv:2: sn: invalid character in \"a b\""},
        {NODES_HEADER "a,64000,262144,2,P100\n\nb,64000,262144,2,P100\n",
         "n.csv:3: row: blank row"},
        {NODES_HEADER "a,64000,262144,2,P100\nb,1,1,1,T4\na,64000,262144,2,P100\n",
         "n.csv:4: sn: duplicate node \"a\" (first on line 2)"},
        {NODES_HEADER "a,64000,262144,0,\n", "n.csv:2: gpu: no node with GPUs"},
};

static void test_bad_nodes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		struct vxpu_trace t;
		vxpu_trace_init(&t);
		load_default_nodes(&t);
		char err[256] = "";
		if (load_nodes(&t, bad_nodes[i].csv, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad_nodes[i].csv);
		if (strcmp(err, bad_nodes[i].message) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad_nodes[i].message);
		/* Nothing changed: the previous node list is intact. */
		assert_int_equal(t.node_count, 3);
		assert_string_equal(t.nodes[0].name, "a");
		assert_int_equal(t.gpu_milli_capacity, 14000);
		vxpu_trace_free(&t);
	}
}

static const struct bad_case bad_tasks[] = {
        {TASKS_HEADER, "p.csv:1: file: no tasks"},
        {"name,cpu_milli,memory_mib,num_gpu\n", "p.csv:1: gpu_milli: missing column"},
        {TASKS_HEADER "t1,1000,1024,1,1200,\n", "p.csv:2: gpu_milli: 1200 is out of range 0..1000"},
        {TASKS_HEADER "t1,1000,1024,0,500,\n", "p.csv:2: gpu_milli: 500 on a task with num_gpu 0"},
        {TASKS_HEADER "t1,1000,1024,1,0,\n",
         "p.csv:2: gpu_milli: 0 on a task with num_gpu 1 (want 1..1000)"},
        {TASKS_HEADER "t1,1000,1024,2,500,\n",
         "p.csv:2: gpu_milli: 500 with num_gpu 2: a multi-GPU task takes whole GPUs (1000)"},
        {TASKS_HEADER "t1,1000,1024,65,1000,\n", "p.csv:2: num_gpu: 65 is out of range 0..64"},
        {TASKS_HEADER "t1,1000,1024,1,500,T4||G2\n",
         "p.csv:2: gpu_spec: empty model name in \"T4||G2\""},
        {TASKS_HEADER "t1,1000,1024,0,0,T4\n", "p.csv:2: gpu_spec: set on a task with num_gpu 0"},
        {TASKS_HEADER "t1,1000,1024,1,500\n",
         "p.csv:2: gpu_spec: missing (5 fields, the header has 6)"},
        {TASKS_HEADER "t1,1.5,1024,1,500,\n", "p.csv:2: cpu_milli: \"1.5\" is not a whole number"},
        {TASKS_HEADER "t1,1000,1024,1,\"500\",\n",
         "p.csv:2: gpu_milli: quoted fields are not supported"},
        {TASKS_HEADER "t1,1000,1024,1,500,\nt2,1000,1024,1,500,\nt1,1,1,0,0,\n",
         "p.csv:4: name: duplicate task \"t1\" (first on line 2)"},
        {TASKS_HEADER "t1,1000,1024,1,500,\n\n", "p.csv:3: row: blank row"},
        {TASKS_HEADER ",1000,1024,1,500,\n", "p.csv:2: name: empty"},
};

static void test_bad_tasks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_tasks) / sizeof(bad_tasks[0]); i++) {
		struct vxpu_trace t;
		vxpu_trace_init(&t);
		load_default_nodes(&t);
		char err[256] = "";
		assert_int_equal(
		        load_tasks(&t, TASKS_HEADER "old,1000,1024,1,1000,\n", err, sizeof(err)),
		        0);
		if (load_tasks(&t, bad_tasks[i].csv, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad_tasks[i].csv);
		if (strcmp(err, bad_tasks[i].message) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad_tasks[i].message);
		assert_int_equal(t.task_count, 1); /* the previous list is intact */
		assert_int_equal(t.tasks[0].gpu_milli, 1000);
		vxpu_trace_free(&t);
	}
}

static void test_tasks_need_nodes_first(void **state)
{
	(void)state;
	struct vxpu_trace t;
	vxpu_trace_init(&t);
	char err[256] = "";
	assert_int_equal(load_tasks(&t, TASKS_HEADER "t1,1,1,0,0,\n", err, sizeof(err)), -1);
	assert_string_equal(err, "p.csv: load the node list first");
	assert_int_equal(t.task_count, 0);
}

static void test_long_field_is_cut_in_message(void **state)
{
	(void)state;
	struct vxpu_trace t;
	vxpu_trace_init(&t);
	load_default_nodes(&t);
	char csv[512], err[256] = "";
	char digits[201];
	memset(digits, '7', 200);
	digits[200] = '\0';
	snprintf(csv, sizeof(csv), TASKS_HEADER "t1,x%s,1,0,0,\n", digits);
	assert_int_equal(load_tasks(&t, csv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "p.csv:2: cpu_milli: \"x777"));
	assert_non_null(strstr(err, "...\" is not a whole number"));
	vxpu_trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nodes_any_column_order_crlf_and_skipped),
	        cmocka_unit_test(test_tasks_with_and_without_spec_column),
	        cmocka_unit_test(test_bad_nodes),
	        cmocka_unit_test(test_bad_tasks),
	        cmocka_unit_test(test_tasks_need_nodes_first),
	        cmocka_unit_test(test_long_field_is_cut_in_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
