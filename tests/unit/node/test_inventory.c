/* The static inventory backend: a good file, and every kind of bad field
 * refused with the file, the field and the problem, leaving *out alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/discover.h"

static const char *const good =
        "{\"version\": 1, \"vendor\": \"huawei\", \"driver_version\": \"24.1\","
        " \"devices\": ["
        "  {\"model\": \"Ascend910B4\", \"memory\": \"32GiB\", \"numa\": 0},"
        "  {\"model\": \"Ascend910B4\", \"memory\": \"32GiB\", \"uuid\": \"NPU-1\", \"numa\": 1,"
        "   \"healthy\": false, \"pci_bus_id\": \"0000:81:00.0\"}],"
        " \"links\": [{\"between\": [0, 1], \"type\": \"hccs\", \"width\": 7}]}";

static void test_good_inventory(void **state)
{
	(void)state;
	static struct vxpu_discovery d;
	char err[256] = "";
	assert_int_equal(vxpu_inventory_parse(good, "inv.json", &d, err, sizeof(err)), 0);
	assert_int_equal(d.count, 2);
	assert_string_equal(d.vendor, "huawei");
	assert_string_equal(d.driver_version, "24.1");
	assert_string_equal(d.devices[0].model, "Ascend910B4");
	assert_true(d.devices[0].memory_bytes == 32ULL << 30);
	assert_string_equal(d.devices[0].uuid, "INV-Ascend910B4-0");
	assert_true(d.devices[0].healthy);
	assert_int_equal(d.devices[1].numa_node, 1);
	assert_false(d.devices[1].healthy);
	assert_string_equal(d.devices[1].uuid, "NPU-1");
	assert_string_equal(d.devices[1].pci_bus_id, "0000:81:00.0");
	assert_string_equal(d.links[0][1].type, "hccs");
	assert_int_equal(d.links[1][0].width, 7);
	assert_string_equal(d.links[0][0].type, "");
}

static void test_bad_inventories(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *want;
	} cases[] = {
	        {"not json", "inv.json: (file): invalid JSON at byte 0 near \"not json\""},
	        {"{\"version\":1} trailing",
	         "inv.json: (file): invalid JSON at byte 14 near \"trailing\""},
	        {"{\"version\":+1}", "inv.json: (file): invalid JSON at byte 11 near \"+1}\""},
	        {"[]", "inv.json: (file): must be a JSON object"},
	        {"{\"version\": 2, \"vendor\": \"x\", \"devices\": []}",
	         "inv.json: version: must be 1"},
	        {"{\"version\": 1, \"devices\": [{\"model\": \"m\", \"memory\": \"1GiB\"}]}",
	         "inv.json: vendor: missing"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": []}",
	         "inv.json: devices: must be a non-empty array"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"colour\": 1, \"devices\": []}",
	         "inv.json: colour: unknown field"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"12abc\"}]}",
	         "inv.json: devices[0].memory: invalid size \"12abc\""},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "5}]}",
	         "inv.json: devices[0].memory: must be a size string"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"0\"}]}",
	         "inv.json: devices[0].memory: must be more than 0"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"memory\": \"1GiB\"}]}",
	         "inv.json: devices[0].model: missing"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\", \"numa\": -1}]}",
	         "inv.json: devices[0].numa: must be a whole number"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\", \"healthy\": 1}]}",
	         "inv.json: devices[0].healthy: must be true or false"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\", \"mem\": 1}]}",
	         "inv.json: devices[0].mem: unknown field"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\"}],"
	         " \"links\": [{\"between\": [0, 3], \"type\": \"nvlink\"}]}",
	         "inv.json: links[0].between: names a device that does not exist"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\"},"
	         " {\"model\": \"m\", \"memory\": \"1GiB\"}], \"links\": [{\"between\": [1, 1], "
	         "\"type\": \"nvlink\"}]}",
	         "inv.json: links[0].between: links a device to itself"},
	        {"{\"version\": 1, \"vendor\": \"x\", \"devices\": [{\"model\": \"m\", \"memory\": "
	         "\"1GiB\"},"
	         " {\"model\": \"m\", \"memory\": \"1GiB\"}], \"links\": [{\"between\": [0, 1], "
	         "\"type\": \"nvlink\", \"width\": 0}]}",
	         "inv.json: links[0].width: must be a whole number from 1 to 64"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct vxpu_discovery d;
		memset(&d, 0x5a, sizeof(d));
		char err[256] = "";
		if (vxpu_inventory_parse(cases[i].json, "inv.json", &d, err, sizeof(err)) == 0)
			fail_msg("case %zu accepted", i);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err, cases[i].want);
		assert_int_equal(((unsigned char *)&d)[0], 0x5a); /* untouched */
	}
}

static void test_backend_names(void **state)
{
	(void)state;
	enum vxpu_backend b;
	assert_int_equal(vxpu_backend_parse("sim", &b), 0);
	assert_int_equal(b, VXPU_BACKEND_SIM);
	assert_int_equal(vxpu_backend_parse("inventory", &b), 0);
	assert_int_equal(vxpu_backend_parse("cuda", &b), -1);
	assert_string_equal(vxpu_backend_name(VXPU_BACKEND_NVML), "nvml");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_inventory),
	        cmocka_unit_test(test_bad_inventories),
	        cmocka_unit_test(test_backend_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
