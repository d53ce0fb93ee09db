/*
 * The simulated machine's description: defaults, a full configuration, and
 * one refusal per kind of mistake, each naming the file, the field and the
 * problem, and leaving the output untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/size.h"
#include "sim/simconfig.h"

static struct vxpu_sim_config cfg;

static int parse(const char *json, char *err, size_t errlen)
{
	return vxpu_sim_config_parse(json, strlen(json), "m.json", &cfg, err, errlen);
}

static void test_default(void **state)
{
	(void)state;
	vxpu_sim_config_default(&cfg);
	assert_int_equal(cfg.device_count, 2);
	assert_string_equal(cfg.devices[0].name, "VXPU-SIM 16GB");
	assert_true(cfg.devices[1].memory == 16 * VXPU_GIB);
	assert_int_equal(cfg.devices[0].sm_count, 80);
	assert_int_equal(cfg.cuda_version, 13000);
	assert_string_not_equal(cfg.devices[0].uuid, cfg.devices[1].uuid);
	assert_int_equal(strlen(cfg.devices[0].uuid), 40);
	/* Stable: the same default machine every time. */
	struct vxpu_sim_config again;
	vxpu_sim_config_default(&again);
	assert_string_equal(again.devices[0].uuid, cfg.devices[0].uuid);
	assert_true(again.hash == cfg.hash);
}

static void test_full(void **state)
{
	(void)state;
	char err[256] = "";
	const char *json =
	        "{\"driver_version\": \"575.57.08\", \"cuda_version\": \"12.9\",\n"
	        " \"devices\": [\n"
	        "  {\"name\": \"NVIDIA H100 80GB HBM3\", \"memory\": \"80GiB\", \"sm_count\": "
	        "132,\n"
	        "   \"uuid\": \"GPU-0123ABCD-4567-89ab-cdef-0123456789AB\",\n"
	        "   \"pci_bus_id\": \"00000000:1B:00.0\", \"numa_node\": 0,\n"
	        "   \"compute_capability\": \"9.0\", \"pci_device_id\": \"0x2330\",\n"
	        "   \"context_memory\": \"512MiB\"},\n"
	        "  {\"memory\": \"1073741824\", \"pci_bus_id\": \"0000:43:00.0\", \"numa_node\": "
	        "1}\n"
	        " ],\n"
	        " \"links\": [{\"devices\": [0, 1], \"type\": \"nvlink\", \"count\": 12},\n"
	        "            {\"devices\": [1, 0], \"type\": \"cross-cpu\"}]}";
	assert_int_equal(parse(json, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.device_count, 2);
	assert_string_equal(cfg.driver_version, "575.57.08");
	assert_int_equal(cfg.cuda_version, 12090);
	assert_string_equal(cfg.devices[0].name, "NVIDIA H100 80GB HBM3");
	assert_true(cfg.devices[0].memory == 80 * VXPU_GIB);
	assert_true(cfg.devices[0].context_memory == 512 * VXPU_MIB);
	assert_int_equal(cfg.devices[0].sm_count, 132);
	assert_string_equal(cfg.devices[0].uuid, "GPU-0123abcd-4567-89ab-cdef-0123456789ab");
	assert_int_equal(cfg.devices[0].uuid_bytes[0], 0x01);
	assert_int_equal(cfg.devices[0].pci_bus, 0x1b);
	assert_int_equal(cfg.devices[0].pci_device_id, 0x2330);
	assert_true(cfg.devices[1].memory == VXPU_GIB);
	assert_int_equal(cfg.devices[1].pci_bus, 0x43);
	assert_int_equal(cfg.devices[1].numa_node, 1);
	assert_string_equal(cfg.devices[1].name, "VXPU-SIM 16GB"); /* default */
	assert_int_equal(cfg.link_count, 2);
	assert_int_equal(cfg.links[0].type, VXPU_SIM_LINK_NVLINK);
	assert_int_equal(cfg.links[0].count, 12);
	assert_int_equal(cfg.links[1].type, VXPU_SIM_LINK_CROSS_CPU);

	char bus[VXPU_SIM_PCI_LEN];
	vxpu_sim_format_bus_id(&cfg.devices[0], 8, bus, sizeof(bus));
	assert_string_equal(bus, "00000000:1B:00.0");
	vxpu_sim_format_bus_id(&cfg.devices[0], 4, bus, sizeof(bus));
	assert_string_equal(bus, "0000:1B:00.0");
}

struct refusal {
	const char *json;
	const char *expect; /* substring of the message */
};

static void test_refusals(void **state)
{
	(void)state;
	static const struct refusal cases[] = {
	        {"{",
	         "m.json: (file): invalid JSON at byte 1 (the text ends before the value does)"},
	        {"{\"devices\":[]} x", "m.json: (file): invalid JSON at byte 15 near \"x\""},
	        {"{\"devices\":[{\"memory\":01}]}",
	         "m.json: (file): invalid JSON at byte 23 near \"1}]}\""},
	        {"[]", "m.json: (file): the top level must be an object"},
	        {"{}", "m.json: devices: missing"},
	        {"{\"devices\": [], \"colour\": 1}", "m.json: colour: unknown field"},
	        {"{\"devices\": [{\"memroy\": \"1GiB\"}]}",
	         "m.json: devices[0].memroy: unknown field"},
	        {"{\"devices\": [{\"memory\": \"12XB\"}]}",
	         "m.json: devices[0].memory: invalid size \"12XB\""},
	        {"{\"devices\": [{\"memory\": 12}]}",
	         "m.json: devices[0].memory: must be a string"},
	        {"{\"devices\": [{\"memory\": \"1MiB\"}]}",
	         "m.json: devices[0].memory: must be at least 64MiB"},
	        {"{\"devices\": [{\"sm_count\": 0}]}",
	         "m.json: devices[0].sm_count: 0 is out of range"},
	        {"{\"devices\": [{\"sm_count\": 1.5}]}",
	         "m.json: devices[0].sm_count: must be a whole number"},
	        {"{\"devices\": [{\"uuid\": \"GPU-123\"}]}",
	         "m.json: devices[0].uuid: invalid UUID"},
	        {"{\"devices\": [{\"pci_bus_id\": \"0000:1G:00.0\"}]}",
	         "m.json: devices[0].pci_bus_id: invalid PCI bus id"},
	        {"{\"devices\": [{}, {\"pci_bus_id\": \"0000:01:00.0\"}]}",
	         "m.json: devices[1].pci_bus_id: same PCI bus id as devices[0]"},
	        {"{\"devices\": [{\"compute_capability\": \"9\"}]}",
	         "m.json: devices[0].compute_capability: invalid compute capability"},
	        {"{\"devices\": [{\"name\": \"a\", \"name\": \"b\"}]}",
	         "m.json: devices[0].name: field given twice"},
	        {"{\"devices\": [{}], \"links\": [{\"devices\": [0, 1], \"type\": \"nvlink\", "
	         "\"count\": 2}]}",
	         "m.json: links[0].devices: device index must be 0..0"},
	        {"{\"devices\": [{}, {}], \"links\": [{\"devices\": [0, 1], \"type\": \"wifi\"}]}",
	         "m.json: links[0].type: unknown link type \"wifi\""},
	        {"{\"devices\": [{}, {}], \"links\": [{\"devices\": [0, 1], \"type\": "
	         "\"nvlink\"}]}",
	         "m.json: links[0].count: missing"},
	        {"{\"devices\": [{}, {}], \"links\": [{\"devices\": [0, 1], \"type\": "
	         "\"pcie-host\", "
	         "\"count\": 2}]}",
	         "m.json: links[0].count: only nvlink links have a count"},
	        {"{\"devices\": [], \"cuda_version\": \"thirteen\"}",
	         "m.json: cuda_version: invalid CUDA version"},
	        {"{\"devices\": [{\"context_memory\": \"16GiB\"}]}",
	         "m.json: devices[0].context_memory: must be smaller than memory"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		memset(&cfg, 0x5a, sizeof(cfg));
		int rc = parse(cases[i].json, err, sizeof(err));
		if (rc != -1 || !strstr(err, cases[i].expect))
			fail_msg("case %zu: rc=%d err=\"%s\", want \"%s\"", i, rc, err,
			         cases[i].expect);
		assert_int_equal(cfg.device_count, 0x5a5a5a5a); /* untouched */
		assert_null(strchr(err, '\n'));                 /* one line */
	}
}

static void test_bus_id_parser(void **state)
{
	(void)state;
	unsigned int d, b, dv, f;
	assert_int_equal(vxpu_sim_parse_bus_id("0000:3b:00.0", &d, &b, &dv, &f), 0);
	assert_int_equal(b, 0x3b);
	assert_int_equal(vxpu_sim_parse_bus_id("00000001:3B:1F.7", &d, &b, &dv, &f), 0);
	assert_int_equal(d, 1);
	assert_int_equal(dv, 0x1f);
	assert_int_equal(f, 7);
	assert_int_equal(vxpu_sim_parse_bus_id("3B:00.0", &d, &b, &dv, &f), 0);
	assert_int_equal(vxpu_sim_parse_bus_id("0000:3B:20.0", &d, &b, &dv, &f), -1);
	assert_int_equal(vxpu_sim_parse_bus_id("0000:3B:00.8", &d, &b, &dv, &f), -1);
	assert_int_equal(vxpu_sim_parse_bus_id("000:3B:00.0", &d, &b, &dv, &f), -1);
	assert_int_equal(vxpu_sim_parse_bus_id("0000:3B:00", &d, &b, &dv, &f), -1);
}

static void test_load_missing_file(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(vxpu_sim_config_load("/nonexistent/m.json", &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/m.json: (file): cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_default),           cmocka_unit_test(test_full),
	        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_bus_id_parser),
	        cmocka_unit_test(test_load_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
