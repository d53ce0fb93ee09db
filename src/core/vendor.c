/*
 * vendor.c - the built-in vendor profiles and the JSON overlay (see vendor.h
 * and docs/vendors.md, which lists every figure below with its source).
 *
 * The built-in table is written as calls to small builders rather than one
 * big initializer so that each profile reads as a short paragraph. The JSON
 * overlay is applied to a copy of the table and the copy is validated as a
 * whole before it replaces the original: a bad file changes nothing.
 */
#include "core/vendor.h"

#include "core/jsonstrict.h"
#include "core/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const resource_kind_names[VXPU_RESOURCE_KINDS] = {
        "count", "memory", "memoryPercent", "cores", "priority",
};

const char *vxpu_resource_kind_name(enum vxpu_resource_kind kind)
{
	return (unsigned)kind < VXPU_RESOURCE_KINDS ? resource_kind_names[kind] : "?";
}

/* ---- built-in table --------------------------------------------------- */

static struct vxpu_vendor_profile *add_profile(struct vxpu_vendor_table *t, const char *name,
                                               const char *vendor, const char *model_match)
{
	struct vxpu_vendor_profile *p = &t->profiles[t->count++];
	memset(p, 0, sizeof(*p));
	vxpu_copy_name(p->name, sizeof(p->name), name);
	vxpu_copy_name(p->vendor, sizeof(p->vendor), vendor);
	vxpu_copy_name(p->model_match, sizeof(p->model_match), model_match);
	p->memory_unit_mib = 1;
	p->memory_granularity_mib = 1;
	p->compute_units = 100;
	p->max_slices = 10;
	p->compute_limit = true;
	return p;
}

static void set_resources(struct vxpu_vendor_profile *p, const char *count, const char *memory,
                          const char *memory_percent, const char *cores, const char *priority)
{
	const char *names[VXPU_RESOURCE_KINDS] = {count, memory, memory_percent, cores, priority};
	for (int k = 0; k < VXPU_RESOURCE_KINDS; k++)
		vxpu_copy_name(p->resources[k], sizeof(p->resources[k]), names[k] ? names[k] : "");
}

static void add_template(struct vxpu_vendor_profile *p, const char *name, uint64_t memory_mib,
                         uint32_t compute_units)
{
	struct vxpu_slice_template *s = &p->templates[p->ntemplates++];
	memset(s, 0, sizeof(*s));
	vxpu_copy_name(s->name, sizeof(s->name), name);
	s->memory_mib = memory_mib;
	s->compute_units = compute_units;
}

static void add_whole_template(struct vxpu_vendor_profile *p)
{
	struct vxpu_slice_template *s = &p->templates[p->ntemplates++];
	memset(s, 0, sizeof(*s));
	vxpu_copy_name(s->name, sizeof(s->name), "whole");
	s->whole_device = true;
}

static void add_link_type(struct vxpu_vendor_profile *p, const char *name, uint32_t rank)
{
	struct vxpu_link_type *l = &p->link_types[p->nlink_types++];
	vxpu_copy_name(l->name, sizeof(l->name), name);
	l->rank = rank;
}

/* Ascend vNPU families share everything but names, sizes and templates. */
static struct vxpu_vendor_profile *add_ascend(struct vxpu_vendor_table *t, const char *name,
                                              const char *model, const char *family,
                                              uint32_t ai_cores, uint32_t max_slices)
{
	struct vxpu_vendor_profile *p = add_profile(t, name, "huawei", model);
	char count[VXPU_RESOURCE_NAME_MAX], memory[VXPU_RESOURCE_NAME_MAX],
	        cores[VXPU_RESOURCE_NAME_MAX];
	snprintf(count, sizeof(count), "huawei.com/%s", family);
	snprintf(memory, sizeof(memory), "huawei.com/%s-memory", family);
	snprintf(cores, sizeof(cores), "huawei.com/%s-core", family);
	set_resources(p, count, memory, NULL, cores, NULL);
	p->compute_units = ai_cores; /* compute is counted in AI cores */
	p->max_slices = max_slices;
	p->multi_device_whole = true;
	add_link_type(p, "hccs", 100);
	add_link_type(p, "pcie", 10);
	return p;
}

void vxpu_vendor_table_builtin(struct vxpu_vendor_table *t)
{
	memset(t, 0, sizeof(*t));
	struct vxpu_vendor_profile *p;

	/* NVIDIA: HAMi resource names; link classes follow `nvidia-smi topo -m`. */
	p = add_profile(t, "nvidia", "nvidia", "");
	set_resources(p, "nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpumem-percentage",
	              "nvidia.com/gpucores", "nvidia.com/priority");
	add_link_type(p, "nvlink", 100);
	add_link_type(p, "pix", 40);
	add_link_type(p, "pxb", 30);
	add_link_type(p, "phb", 20);
	add_link_type(p, "node", 10);
	add_link_type(p, "sys", 5);

	/* Huawei Ascend: vNPU templates (memory MiB, AI cores). */
	p = add_ascend(t, "ascend-910a", "910A", "Ascend910A", 30, 15);
	add_template(p, "vir02", 2184, 2);
	add_template(p, "vir04", 4369, 4);
	add_template(p, "vir08", 8738, 8);
	add_template(p, "vir16", 17476, 16);
	add_whole_template(p);
	p = add_ascend(t, "ascend-910b2", "910B2", "Ascend910B2", 24, 8);
	add_template(p, "vir03_1c_8g", 8192, 3);
	add_template(p, "vir06_1c_16g", 16384, 6);
	add_template(p, "vir12_3c_32g", 32768, 12);
	add_whole_template(p);
	p = add_ascend(t, "ascend-910b3", "910B3", "Ascend910B3", 20, 4);
	add_template(p, "vir05_1c_16g", 16384, 5);
	add_template(p, "vir10_3c_32g", 32768, 10);
	add_whole_template(p);
	p = add_ascend(t, "ascend-910b4", "910B4", "Ascend910B4", 20, 4);
	add_template(p, "vir05_1c_8g", 8192, 5);
	add_template(p, "vir10_3c_16g", 16384, 10);
	add_whole_template(p);
	p = add_ascend(t, "ascend-310p3", "310P", "Ascend310P", 8, 7);
	add_template(p, "vir01", 3072, 1);
	add_template(p, "vir02", 6144, 2);
	add_template(p, "vir04", 12288, 4);
	add_whole_template(p);

	/* Cambricon MLU (dynamic sMLU): memory is requested in % of the card. */
	p = add_profile(t, "cambricon-mlu", "cambricon", "");
	set_resources(p, "cambricon.com/vmlu", NULL, "cambricon.com/mlu.smlu.vmemory",
	              "cambricon.com/mlu.smlu.vcore", NULL);
	p->memory_granularity_mib = 256;
	add_link_type(p, "mlulink", 100);
	add_link_type(p, "pcie", 10);

	/* Hygon DCU: one shared vDCU per container; several DCUs only whole. */
	p = add_profile(t, "hygon-dcu", "hygon", "");
	set_resources(p, "hygon.com/dcunum", "hygon.com/dcumem", NULL, "hygon.com/dcucores", NULL);
	p->multi_device_whole = true;
	add_link_type(p, "xgmi", 100);
	add_link_type(p, "pcie", 10);

	/* Kunlunxin P800: 1/4, 1/2 and whole-card slices. */
	p = add_profile(t, "kunlunxin-p800", "kunlunxin", "P800");
	set_resources(p, "kunlunxin.com/vxpu", "kunlunxin.com/vxpu-memory", NULL, NULL, NULL);
	p->compute_limit = false;
	p->max_slices = 4;
	add_template(p, "quarter", 24576, 25);
	add_template(p, "half", 49152, 50);
	add_whole_template(p);
	add_link_type(p, "xpulink", 100);
	add_link_type(p, "pcie", 10);

	/* Iluvatar: memory in units of 256 MiB; sharing only for one-GPU requests. */
	p = add_profile(t, "iluvatar", "iluvatar", "");
	set_resources(p, "iluvatar.ai/vgpu", "iluvatar.ai/vcuda-memory", NULL,
	              "iluvatar.ai/vcuda-core", NULL);
	p->memory_unit_mib = 256;
	p->memory_granularity_mib = 256;
	p->multi_device_whole = true;
	add_link_type(p, "pcie", 10);

	/* MetaX sGPU: memory in GiB; MetaXLink preferred over a PCIe switch. */
	p = add_profile(t, "metax", "metax", "");
	set_resources(p, "metax-tech.com/sgpu", "metax-tech.com/vmemory", NULL,
	              "metax-tech.com/vcore", NULL);
	p->memory_unit_mib = 1024;
	add_link_type(p, "metaxlink", 100);
	add_link_type(p, "pcie-switch", 30);
	add_link_type(p, "pcie", 10);

	/* Moore Threads: memory in units of 512 MiB; no multi-card sharing. */
	p = add_profile(t, "mthreads", "mthreads", "");
	set_resources(p, "mthreads.com/vgpu", "mthreads.com/sgpu-memory", NULL,
	              "mthreads.com/sgpu-core", NULL);
	p->memory_unit_mib = 512;
	p->memory_granularity_mib = 512;
	p->multi_device_whole = true;
	add_link_type(p, "mtlink", 100);
	add_link_type(p, "pcie", 10);

	/* Enflame GCU: shared vGCU by memory and core share. */
	p = add_profile(t, "enflame-gcu", "enflame", "");
	set_resources(p, "enflame.com/vgcu", "enflame.com/gcu-memory",
	              "enflame.com/vgcu-percentage", "enflame.com/gcu-core", NULL);
	p->multi_device_whole = true;
	add_link_type(p, "pcie", 10);
}

/* ---- lookup ----------------------------------------------------------- */

const struct vxpu_vendor_profile *vxpu_vendor_lookup(const struct vxpu_vendor_table *t,
                                                     const char *vendor, const char *model)
{
	const struct vxpu_vendor_profile *best = NULL;
	size_t best_len = 0;
	for (uint32_t i = 0; i < t->count; i++) {
		const struct vxpu_vendor_profile *p = &t->profiles[i];
		if (!vxpu_name_equal(p->vendor, vendor) ||
		    !vxpu_name_contains(model, p->model_match))
			continue;
		size_t len = strlen(p->model_match);
		if (!best || len > best_len) {
			best = p;
			best_len = len;
		}
	}
	return best;
}

const struct vxpu_vendor_profile *vxpu_vendor_find(const struct vxpu_vendor_table *t,
                                                   const char *name)
{
	for (uint32_t i = 0; i < t->count; i++)
		if (strcmp(t->profiles[i].name, name) == 0)
			return &t->profiles[i];
	return NULL;
}

const struct vxpu_vendor_profile *vxpu_vendor_by_resource(const struct vxpu_vendor_table *t,
                                                          const char *resource,
                                                          enum vxpu_resource_kind *kind)
{
	if (!*resource)
		return NULL;
	for (uint32_t i = 0; i < t->count; i++)
		for (int k = 0; k < VXPU_RESOURCE_KINDS; k++)
			if (strcmp(t->profiles[i].resources[k], resource) == 0) {
				if (kind)
					*kind = (enum vxpu_resource_kind)k;
				return &t->profiles[i];
			}
	return NULL;
}

uint32_t vxpu_vendor_link_rank(const struct vxpu_vendor_profile *p, const char *type)
{
	for (uint32_t i = 0; i < p->nlink_types; i++)
		if (vxpu_name_equal(p->link_types[i].name, type))
			return p->link_types[i].rank;
	return 0;
}

int vxpu_vendor_round_share(const struct vxpu_vendor_profile *p, uint64_t want_mib,
                            uint32_t want_units, uint64_t device_mib, uint32_t device_units,
                            uint64_t *memory_mib, uint32_t *compute_units, int *template_index)
{
	uint64_t g = p->memory_granularity_mib ? p->memory_granularity_mib : 1;
	uint64_t want = want_mib % g ? want_mib + (g - want_mib % g) : want_mib;
	if (want < want_mib) /* overflow: nothing covers it */
		return -1;
	if (p->ntemplates == 0) {
		*memory_mib = want;
		*compute_units = 0;
		*template_index = -1;
		return 0;
	}
	for (uint32_t i = 0; i < p->ntemplates; i++) {
		const struct vxpu_slice_template *s = &p->templates[i];
		if (s->whole_device) {
			if (want > device_mib || want_units > device_units)
				continue;
			*memory_mib = device_mib;
			*compute_units = device_units;
		} else {
			if (want > s->memory_mib || s->memory_mib > device_mib)
				continue;
			if (s->compute_units && want_units > s->compute_units)
				continue;
			*memory_mib = s->memory_mib;
			*compute_units = s->compute_units;
		}
		*template_index = (int)i;
		return 0;
	}
	return -1;
}

/* ---- JSON overlay ----------------------------------------------------- */

#define PROFILE_ERR 320

static int check_profile(const struct vxpu_vendor_profile *p, const char *path, char *err,
                         size_t errlen)
{
	if (!p->vendor[0])
		return vxpu_json_fail(err, errlen, path, "missing field \"vendor\"");
	if (!p->resources[VXPU_RESOURCE_COUNT][0])
		return vxpu_json_fail(err, errlen, path, "missing field \"resources.count\"");
	uint64_t last = 0;
	for (uint32_t i = 0; i < p->ntemplates; i++) {
		const struct vxpu_slice_template *s = &p->templates[i];
		if (!s->name[0])
			return vxpu_json_fail(err, errlen, path, "templates[%u]: empty name", i);
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(p->templates[j].name, s->name) == 0)
				return vxpu_json_fail(err, errlen, path,
				                      "templates[%u]: name \"%s\" appears twice", i,
				                      s->name);
		if (s->whole_device) {
			if (i + 1 != p->ntemplates)
				return vxpu_json_fail(err, errlen, path,
				                      "templates[%u]: the whole-device template "
				                      "\"%s\" must be last",
				                      i, s->name);
			continue;
		}
		if (s->memory_mib <= last)
			return vxpu_json_fail(
			        err, errlen, path,
			        "templates[%u]: memoryMiB %llu must be larger than the "
			        "previous template's %llu",
			        i, (unsigned long long)s->memory_mib, (unsigned long long)last);
		if (s->compute_units > p->compute_units)
			return vxpu_json_fail(
			        err, errlen, path,
			        "templates[%u]: computeUnits %u exceeds the device's %u", i,
			        s->compute_units, p->compute_units);
		last = s->memory_mib;
	}
	for (uint32_t i = 0; i < p->nlink_types; i++)
		for (uint32_t j = 0; j < i; j++)
			if (vxpu_name_equal(p->link_types[i].name, p->link_types[j].name))
				return vxpu_json_fail(err, errlen, path,
				                      "links[%u]: type \"%s\" appears twice", i,
				                      p->link_types[i].name);
	return 0;
}

static int read_templates(struct vxpu_vendor_profile *p, const cJSON *arr, const char *path,
                          char *err, size_t errlen)
{
	static const char *const fields[] = {"name", "memoryMiB", "computeUnits", "wholeDevice",
	                                     NULL};
	int n = cJSON_GetArraySize(arr);
	if (n > VXPU_VENDOR_MAX_TEMPLATES)
		return vxpu_json_fail(err, errlen, path, "%d templates, at most %d", n,
		                      VXPU_VENDOR_MAX_TEMPLATES);
	struct vxpu_slice_template list[VXPU_VENDOR_MAX_TEMPLATES];
	memset(list, 0, sizeof(list));
	char ipath[160];
	int i = 0;
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		vxpu_json_path_index(ipath, sizeof(ipath), path, (size_t)i);
		if (!cJSON_IsObject(it)) {
			char got[64];
			vxpu_json_describe(it, got, sizeof(got));
			return vxpu_json_fail(err, errlen, ipath, "expected an object, got %s",
			                      got);
		}
		struct vxpu_slice_template *s = &list[i];
		uint64_t v = 0;
		if (vxpu_json_only_fields(it, ipath, fields, err, errlen) < 0 ||
		    vxpu_json_string(it, ipath, "name", true, s->name, sizeof(s->name), err,
		                     errlen) < 0 ||
		    vxpu_json_bool(it, ipath, "wholeDevice", false, &s->whole_device, err, errlen) <
		            0)
			return -1;
		if (!s->whole_device) {
			if (vxpu_json_uint(it, ipath, "memoryMiB", true, 1, 1ULL << 40,
			                   &s->memory_mib, err, errlen) < 0)
				return -1;
			if (vxpu_json_uint(it, ipath, "computeUnits", false, 0, 1000000, &v, err,
			                   errlen) < 0)
				return -1;
			s->compute_units = (uint32_t)v;
		} else if (cJSON_GetObjectItemCaseSensitive(it, "memoryMiB") ||
		           cJSON_GetObjectItemCaseSensitive(it, "computeUnits")) {
			return vxpu_json_fail(err, errlen, ipath,
			                      "a whole-device template takes the device's own "
			                      "memory and compute; drop memoryMiB/computeUnits");
		}
	}
	memcpy(p->templates, list, sizeof(list));
	p->ntemplates = (uint32_t)n;
	return 0;
}

static int read_links(struct vxpu_vendor_profile *p, const cJSON *arr, const char *path, char *err,
                      size_t errlen)
{
	static const char *const fields[] = {"type", "rank", NULL};
	int n = cJSON_GetArraySize(arr);
	if (n > VXPU_VENDOR_MAX_LINK_TYPES)
		return vxpu_json_fail(err, errlen, path, "%d link types, at most %d", n,
		                      VXPU_VENDOR_MAX_LINK_TYPES);
	struct vxpu_link_type list[VXPU_VENDOR_MAX_LINK_TYPES];
	memset(list, 0, sizeof(list));
	char ipath[160];
	int i = 0;
	for (const cJSON *it = arr->child; it; it = it->next, i++) {
		vxpu_json_path_index(ipath, sizeof(ipath), path, (size_t)i);
		if (!cJSON_IsObject(it)) {
			char got[64];
			vxpu_json_describe(it, got, sizeof(got));
			return vxpu_json_fail(err, errlen, ipath, "expected an object, got %s",
			                      got);
		}
		uint64_t rank = 0;
		if (vxpu_json_only_fields(it, ipath, fields, err, errlen) < 0 ||
		    vxpu_json_string(it, ipath, "type", true, list[i].name, sizeof(list[i].name),
		                     err, errlen) < 0 ||
		    vxpu_json_uint(it, ipath, "rank", true, 0, 1000, &rank, err, errlen) < 0)
			return -1;
		if (!list[i].name[0])
			return vxpu_json_fail(err, errlen, ipath, "empty link type");
		list[i].rank = (uint32_t)rank;
	}
	memcpy(p->link_types, list, sizeof(list));
	p->nlink_types = (uint32_t)n;
	return 0;
}

static int read_u32(const cJSON *obj, const char *path, const char *key, uint64_t min, uint64_t max,
                    uint32_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	int r = vxpu_json_uint(obj, path, key, false, min, max, &v, err, errlen);
	if (r == 0)
		*out = (uint32_t)v;
	return r < 0 ? -1 : 0;
}

static int read_profile(struct vxpu_vendor_table *t, const cJSON *obj, const char *path, char *err,
                        size_t errlen)
{
	static const char *const fields[] = {"name",
	                                     "vendor",
	                                     "model",
	                                     "resources",
	                                     "memoryUnitMiB",
	                                     "memoryGranularityMiB",
	                                     "computeUnits",
	                                     "maxSlices",
	                                     "computeLimit",
	                                     "multiDeviceWhole",
	                                     "templates",
	                                     "links",
	                                     NULL};
	static const char *const resource_fields[] = {"count", "memory",   "memoryPercent",
	                                              "cores", "priority", NULL};
	if (!cJSON_IsObject(obj)) {
		char got[64];
		vxpu_json_describe(obj, got, sizeof(got));
		return vxpu_json_fail(err, errlen, path, "expected an object, got %s", got);
	}
	if (vxpu_json_only_fields(obj, path, fields, err, errlen) < 0)
		return -1;
	char name[VXPU_PROFILE_NAME_MAX];
	if (vxpu_json_string(obj, path, "name", true, name, sizeof(name), err, errlen) < 0)
		return -1;
	if (!name[0])
		return vxpu_json_fail(err, errlen, path, "name: empty profile name");

	struct vxpu_vendor_profile p;
	const struct vxpu_vendor_profile *existing = vxpu_vendor_find(t, name);
	if (existing) {
		p = *existing;
	} else {
		memset(&p, 0, sizeof(p));
		memcpy(p.name, name, sizeof(name));
		p.memory_unit_mib = 1;
		p.memory_granularity_mib = 1;
		p.compute_units = 100;
		p.max_slices = 10;
		p.compute_limit = true;
	}
	char sub[160];
	if (vxpu_json_string(obj, path, "vendor", false, p.vendor, sizeof(p.vendor), err, errlen) <
	            0 ||
	    vxpu_json_string(obj, path, "model", false, p.model_match, sizeof(p.model_match), err,
	                     errlen) < 0 ||
	    read_u32(obj, path, "memoryUnitMiB", 1, 1 << 20, &p.memory_unit_mib, err, errlen) < 0 ||
	    read_u32(obj, path, "memoryGranularityMiB", 1, 1 << 20, &p.memory_granularity_mib, err,
	             errlen) < 0 ||
	    read_u32(obj, path, "computeUnits", 1, 1000000, &p.compute_units, err, errlen) < 0 ||
	    read_u32(obj, path, "maxSlices", 1, 1024, &p.max_slices, err, errlen) < 0 ||
	    vxpu_json_bool(obj, path, "computeLimit", false, &p.compute_limit, err, errlen) < 0 ||
	    vxpu_json_bool(obj, path, "multiDeviceWhole", false, &p.multi_device_whole, err,
	                   errlen) < 0)
		return -1;
	const cJSON *res = NULL;
	int r = vxpu_json_object(obj, path, "resources", false, &res, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0) {
		vxpu_json_path(sub, sizeof(sub), path, "resources");
		if (vxpu_json_only_fields(res, sub, resource_fields, err, errlen) < 0)
			return -1;
		for (int k = 0; k < VXPU_RESOURCE_KINDS; k++)
			if (vxpu_json_string(res, sub, resource_fields[k], false, p.resources[k],
			                     sizeof(p.resources[k]), err, errlen) < 0)
				return -1;
	}
	const cJSON *arr = NULL;
	r = vxpu_json_array(obj, path, "templates", false, &arr, err, errlen);
	if (r < 0)
		return -1;
	vxpu_json_path(sub, sizeof(sub), path, "templates");
	if (r == 0 && read_templates(&p, arr, sub, err, errlen) < 0)
		return -1;
	r = vxpu_json_array(obj, path, "links", false, &arr, err, errlen);
	if (r < 0)
		return -1;
	vxpu_json_path(sub, sizeof(sub), path, "links");
	if (r == 0 && read_links(&p, arr, sub, err, errlen) < 0)
		return -1;
	if (check_profile(&p, path, err, errlen) < 0)
		return -1;
	if (existing) {
		t->profiles[existing - t->profiles] = p;
	} else {
		if (t->count >= VXPU_VENDOR_MAX_PROFILES)
			return vxpu_json_fail(err, errlen, path, "more than %d profiles",
			                      VXPU_VENDOR_MAX_PROFILES);
		t->profiles[t->count++] = p;
	}
	return 0;
}

int vxpu_vendor_table_merge_json(struct vxpu_vendor_table *t, const char *json, char *err,
                                 size_t errlen)
{
	static const char *const fields[] = {"version", "profiles", NULL};
	cJSON *root = NULL;
	if (vxpu_json_parse_object(json, "vendor profiles", &root, err, errlen) < 0)
		return -1;
	/* Work on a copy: the table changes only if every profile is good. */
	struct vxpu_vendor_table *copy = malloc(sizeof(*copy));
	int rc = -1;
	char msg[PROFILE_ERR];
	msg[0] = '\0';
	if (!copy) {
		vxpu_json_fail(err, errlen, "vendor profiles", "out of memory");
		goto out;
	}
	*copy = *t;
	uint64_t version = 0;
	const cJSON *profiles = NULL;
	if (vxpu_json_only_fields(root, "", fields, msg, sizeof(msg)) < 0 ||
	    vxpu_json_uint(root, "", "version", true, 0, VXPU_JSON_MAX_EXACT, &version, msg,
	                   sizeof(msg)) < 0 ||
	    vxpu_json_array(root, "", "profiles", true, &profiles, msg, sizeof(msg)) < 0)
		goto fail;
	if (version != 1) {
		vxpu_json_fail(msg, sizeof(msg), "version",
		               "unsupported version %llu (this build reads version 1)",
		               (unsigned long long)version);
		goto fail;
	}
	size_t i = 0;
	char path[64];
	for (const cJSON *it = profiles->child; it; it = it->next, i++) {
		vxpu_json_path_index(path, sizeof(path), "profiles", i);
		if (read_profile(copy, it, path, msg, sizeof(msg)) < 0)
			goto fail;
	}
	*t = *copy;
	rc = 0;
	goto out;
fail:
	vxpu_json_fail(err, errlen, "vendor profiles", "%s", msg);
out:
	free(copy);
	cJSON_Delete(root);
	return rc;
}
