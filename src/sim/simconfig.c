/*
 * simconfig.c - strict reading of the simulated machine's JSON description
 * (format in docs/sim.md, contract in simconfig.h).
 *
 * Every object is checked field by field against a fixed list: a field that
 * is not on the list, appears twice, or has the wrong JSON type is an error,
 * so a typo ("memroy") is reported rather than silently defaulted. Messages
 * have the shape "FILE: FIELD: PROBLEM" with FIELD a path such as
 * devices[1].memory. The parse fills a scratch configuration and copies it
 * out only when everything is valid.
 */
#include "sim/simconfig.h"

#include "core/jsonstrict.h"
#include "core/size.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TAG "vxpu-sim default machine v1"
#define CONFIG_MAX_BYTES (1u << 20)

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

/* A stable UUID for a device without one: a hash of the machine and index. */
static void default_uuid(struct vxpu_sim_device_config *dev, uint64_t machine, int index)
{
	uint64_t h1 = fnv1a(&index, sizeof(index), machine);
	h1 = fnv1a(dev->name, strlen(dev->name), h1);
	uint64_t h2 = fnv1a(&h1, sizeof(h1), FNV_OFFSET ^ 0x5a5a5a5a5a5a5a5aULL);
	for (int i = 0; i < 8; i++) {
		dev->uuid_bytes[i] = (uint8_t)(h1 >> (8 * i));
		dev->uuid_bytes[8 + i] = (uint8_t)(h2 >> (8 * i));
	}
	const uint8_t *b = dev->uuid_bytes;
	snprintf(dev->uuid, sizeof(dev->uuid),
	         "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
	         b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
	         b[14], b[15]);
}

static void device_defaults(struct vxpu_sim_device_config *dev, int index)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "VXPU-SIM 16GB");
	dev->memory = 16 * VXPU_GIB;
	dev->sm_count = 80;
	dev->cc_major = 9;
	dev->cc_minor = 0;
	dev->pci_domain = 0;
	dev->pci_bus = (unsigned int)(index + 1);
	dev->pci_device = 0;
	dev->pci_device_id = 0x2330;
	dev->numa_node = 0;
}

void vxpu_sim_config_default(struct vxpu_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hash = fnv1a(DEFAULT_TAG, strlen(DEFAULT_TAG), FNV_OFFSET);
	cfg->device_count = 2;
	for (int i = 0; i < 2; i++) {
		device_defaults(&cfg->devices[i], i);
		default_uuid(&cfg->devices[i], cfg->hash, i);
	}
	snprintf(cfg->driver_version, sizeof(cfg->driver_version), "580.65.06");
	cfg->cuda_version = 13000;
	snprintf(cfg->source, sizeof(cfg->source), "(default)");
}

void vxpu_sim_format_bus_id(const struct vxpu_sim_device_config *dev, int domain_digits, char *buf,
                            size_t buflen)
{
	snprintf(buf, buflen, "%0*X:%02X:%02X.0", domain_digits == 8 ? 8 : 4, dev->pci_domain,
	         dev->pci_bus, dev->pci_device);
}

static int parse_hex(const char *s, size_t n, unsigned int *out)
{
	unsigned int v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned int d;
		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned int)(c - 'A' + 10);
		else
			return -1;
		v = v * 16 + d;
	}
	*out = v;
	return 0;
}

int vxpu_sim_parse_bus_id(const char *text, unsigned int *domain, unsigned int *bus,
                          unsigned int *device, unsigned int *function)
{
	unsigned int d = 0, b, dv, f;
	const char *p = text;
	const char *c1 = strchr(p, ':');
	if (!c1)
		return -1;
	const char *c2 = strchr(c1 + 1, ':');
	if (c2) { /* domain present */
		size_t dl = (size_t)(c1 - p);
		if ((dl != 4 && dl != 8) || parse_hex(p, dl, &d) != 0)
			return -1;
		p = c1 + 1;
		c1 = c2;
	}
	if (c1 - p != 2 || parse_hex(p, 2, &b) != 0)
		return -1;
	p = c1 + 1;
	const char *dot = strchr(p, '.');
	if (!dot || dot - p != 2 || parse_hex(p, 2, &dv) != 0 || dv > 0x1f)
		return -1;
	if (strlen(dot + 1) != 1 || dot[1] < '0' || dot[1] > '7')
		return -1;
	f = (unsigned int)(dot[1] - '0');
	*domain = d;
	*bus = b;
	*device = dv;
	*function = f;
	return 0;
}

/* ---- strict field access ------------------------------------------------ */

struct parse_ctx {
	const char *source;
	char *err;
	size_t errlen;
	char why[320];
};

/* Writes "SOURCE: FIELD: WHY" to the caller's buffer; returns -1. */
static int fail(struct parse_ctx *pc, const char *field, const char *why)
{
	if (pc->err && pc->errlen)
		snprintf(pc->err, pc->errlen, "%s: %s: %s", pc->source, field, why);
	return -1;
}

/* fail() with a formatted reason (a macro keeps the format checkable). */
#define failf(pc, field, ...)                                                                      \
	(snprintf((pc)->why, sizeof((pc)->why), __VA_ARGS__), fail((pc), (field), (pc)->why))

/* Refuses fields not in `allowed` (NULL-terminated) and duplicated fields. */
static int check_fields(struct parse_ctx *pc, const cJSON *obj, const char *path,
                        const char *const *allowed)
{
	char field[128];
	for (const cJSON *it = obj->child; it; it = it->next) {
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, it->string) == 0)
				known = true;
		snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", it->string);
		if (!known)
			return failf(pc, field, "unknown field");
		for (const cJSON *o = obj->child; o != it; o = o->next)
			if (strcmp(o->string, it->string) == 0)
				return failf(pc, field, "field given twice");
	}
	return 0;
}

static int get_string(struct parse_ctx *pc, const cJSON *obj, const char *path, const char *key,
                      const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char field[128];
	snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
	if (!it)
		return 1;
	if (!cJSON_IsString(it))
		return failf(pc, field, "must be a string");
	*out = it->valuestring;
	return 0;
}

static int get_int(struct parse_ctx *pc, const cJSON *obj, const char *path, const char *key,
                   long min, long max, long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char field[128];
	snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
	if (!it)
		return 1;
	if (!cJSON_IsNumber(it) || floor(it->valuedouble) != it->valuedouble)
		return failf(pc, field, "must be a whole number");
	if (it->valuedouble < (double)min || it->valuedouble > (double)max)
		return failf(pc, field, "%g is out of range %ld..%ld", it->valuedouble, min, max);
	*out = (long)it->valuedouble;
	return 0;
}

static int get_size(struct parse_ctx *pc, const cJSON *obj, const char *path, const char *key,
                    uint64_t *out)
{
	const char *s;
	int rc = get_string(pc, obj, path, key, &s);
	if (rc != 0)
		return rc;
	char field[128], why[200];
	snprintf(field, sizeof(field), "%s.%s", path, key);
	if (vxpu_size_parse(s, VXPU_SIZE_BARE_BYTES, out, why, sizeof(why)) != 0)
		return failf(pc, field, "%s", why);
	return 0;
}

/* "MAJOR.MINOR" with small whole numbers. */
static int parse_version_pair(const char *s, int *major, int *minor)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	long ma = strtol(s, &end, 10);
	if (errno || *end != '.' || ma > 99)
		return -1;
	const char *m = end + 1;
	if (*m < '0' || *m > '9')
		return -1;
	long mi = strtol(m, &end, 10);
	if (errno || *end != '\0' || mi > 99)
		return -1;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

static int parse_uuid(const char *s, uint8_t bytes[16], char *norm, size_t normlen)
{
	static const int groups[5] = {8, 4, 4, 4, 12};
	if (strncmp(s, "GPU-", 4) != 0)
		return -1;
	const char *p = s + 4;
	int nb = 0;
	for (int g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i += 2) {
			unsigned int v;
			if (parse_hex(p, 2, &v) != 0)
				return -1;
			bytes[nb++] = (uint8_t)v;
			p += 2;
		}
		if (g < 4 && *p++ != '-')
			return -1;
	}
	if (*p != '\0')
		return -1;
	snprintf(norm, normlen,
	         "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
	         bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14],
	         bytes[15]);
	return 0;
}

static int parse_device(struct parse_ctx *pc, const cJSON *obj, int index, uint64_t machine,
                        struct vxpu_sim_device_config *dev)
{
	static const char *const allowed[] = {
	        "name",           "memory",    "sm_count",           "uuid",
	        "pci_bus_id",     "numa_node", "compute_capability", "pci_device_id",
	        "context_memory", NULL};
	char path[32], field[64];
	snprintf(path, sizeof(path), "devices[%d]", index);
	if (!cJSON_IsObject(obj))
		return failf(pc, path, "must be an object");
	if (check_fields(pc, obj, path, allowed) != 0)
		return -1;
	device_defaults(dev, index);

	const char *s = "";
	long v = 0;
	int rc;
	if ((rc = get_string(pc, obj, path, "name", &s)) < 0)
		return -1;
	if (rc == 0) {
		snprintf(field, sizeof(field), "%s.name", path);
		if (*s == '\0' || strlen(s) >= VXPU_SIM_NAME_LEN)
			return failf(pc, field, "must be 1..%d characters", VXPU_SIM_NAME_LEN - 1);
		snprintf(dev->name, sizeof(dev->name), "%s", s);
	}
	if (get_size(pc, obj, path, "memory", &dev->memory) < 0)
		return -1;
	snprintf(field, sizeof(field), "%s.memory", path);
	if (dev->memory < 64 * VXPU_MIB)
		return failf(pc, field, "must be at least 64MiB");
	if (dev->memory > 64 * VXPU_TIB)
		return failf(pc, field, "must be at most 64TiB");
	if (get_size(pc, obj, path, "context_memory", &dev->context_memory) < 0)
		return -1;
	snprintf(field, sizeof(field), "%s.context_memory", path);
	if (dev->context_memory >= dev->memory)
		return failf(pc, field, "must be smaller than memory");
	if ((rc = get_int(pc, obj, path, "sm_count", 1, 1024, &v)) < 0)
		return -1;
	if (rc == 0)
		dev->sm_count = (int)v;
	if ((rc = get_int(pc, obj, path, "numa_node", -1, 1023, &v)) < 0)
		return -1;
	if (rc == 0)
		dev->numa_node = (int)v;
	if ((rc = get_string(pc, obj, path, "compute_capability", &s)) < 0)
		return -1;
	if (rc == 0) {
		snprintf(field, sizeof(field), "%s.compute_capability", path);
		if (parse_version_pair(s, &dev->cc_major, &dev->cc_minor) != 0 ||
		    dev->cc_major < 3 || dev->cc_minor > 9)
			return failf(pc, field,
			             "invalid compute capability \"%s\" (want MAJOR.MINOR, "
			             "e.g. \"9.0\")",
			             s);
	}
	if ((rc = get_string(pc, obj, path, "pci_device_id", &s)) < 0)
		return -1;
	if (rc == 0) {
		unsigned int id;
		snprintf(field, sizeof(field), "%s.pci_device_id", path);
		if (strncmp(s, "0x", 2) != 0 || strlen(s) != 6 || parse_hex(s + 2, 4, &id) != 0)
			return failf(pc, field, "invalid PCI device id \"%s\" (want 0xHHHH)", s);
		dev->pci_device_id = id;
	}
	if ((rc = get_string(pc, obj, path, "pci_bus_id", &s)) < 0)
		return -1;
	if (rc == 0) {
		unsigned int d, b, dv, f;
		snprintf(field, sizeof(field), "%s.pci_bus_id", path);
		if (vxpu_sim_parse_bus_id(s, &d, &b, &dv, &f) != 0 || f != 0)
			return failf(pc, field,
			             "invalid PCI bus id \"%s\" (want DOMAIN:BUS:DEVICE.0 in hex)",
			             s);
		dev->pci_domain = d;
		dev->pci_bus = b;
		dev->pci_device = dv;
	}
	if ((rc = get_string(pc, obj, path, "uuid", &s)) < 0)
		return -1;
	if (rc == 0) {
		snprintf(field, sizeof(field), "%s.uuid", path);
		if (parse_uuid(s, dev->uuid_bytes, dev->uuid, sizeof(dev->uuid)) != 0)
			return failf(pc, field,
			             "invalid UUID \"%s\" (want GPU-xxxxxxxx-xxxx-xxxx-xxxx-"
			             "xxxxxxxxxxxx)",
			             s);
	} else {
		default_uuid(dev, machine, index);
	}
	return 0;
}

static int parse_link(struct parse_ctx *pc, const cJSON *obj, int index, int device_count,
                      struct vxpu_sim_link_config *link)
{
	static const char *const allowed[] = {"devices", "type", "count", NULL};
	char path[32], field[64];
	snprintf(path, sizeof(path), "links[%d]", index);
	if (!cJSON_IsObject(obj))
		return failf(pc, path, "must be an object");
	if (check_fields(pc, obj, path, allowed) != 0)
		return -1;

	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(obj, "devices");
	snprintf(field, sizeof(field), "%s.devices", path);
	if (!devs)
		return failf(pc, field, "missing (want [A, B], two device indices)");
	if (!cJSON_IsArray(devs) || cJSON_GetArraySize(devs) != 2)
		return failf(pc, field, "must be [A, B], two device indices");
	int ends[2];
	for (int i = 0; i < 2; i++) {
		const cJSON *e = cJSON_GetArrayItem(devs, i);
		if (!cJSON_IsNumber(e) || floor(e->valuedouble) != e->valuedouble ||
		    e->valuedouble < 0 || e->valuedouble >= device_count)
			return failf(pc, field, "device index must be 0..%d", device_count - 1);
		ends[i] = (int)e->valuedouble;
	}
	if (ends[0] == ends[1])
		return failf(pc, field, "a link joins two different devices");
	link->a = ends[0];
	link->b = ends[1];

	const char *type = "";
	snprintf(field, sizeof(field), "%s.type", path);
	int rc = get_string(pc, obj, path, "type", &type);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return failf(pc, field, "missing (nvlink, pcie-switch, pcie-host or cross-cpu)");
	if (strcmp(type, "nvlink") == 0)
		link->type = VXPU_SIM_LINK_NVLINK;
	else if (strcmp(type, "pcie-switch") == 0)
		link->type = VXPU_SIM_LINK_PCIE_SWITCH;
	else if (strcmp(type, "pcie-host") == 0)
		link->type = VXPU_SIM_LINK_PCIE_HOST;
	else if (strcmp(type, "cross-cpu") == 0)
		link->type = VXPU_SIM_LINK_CROSS_CPU;
	else
		return failf(
		        pc, field,
		        "unknown link type \"%s\" (nvlink, pcie-switch, pcie-host or cross-cpu)",
		        type);

	long count = 0;
	snprintf(field, sizeof(field), "%s.count", path);
	rc = get_int(pc, obj, path, "count", 1, 18, &count);
	if (rc < 0)
		return -1;
	if (link->type == VXPU_SIM_LINK_NVLINK && rc > 0)
		return failf(pc, field, "missing (an nvlink link needs its lane count, 1..18)");
	if (link->type != VXPU_SIM_LINK_NVLINK && rc == 0)
		return failf(pc, field, "only nvlink links have a count");
	link->count = (int)count;
	return 0;
}

static int check_machine(struct parse_ctx *pc, struct vxpu_sim_config *cfg)
{
	char field[64];
	for (int i = 0; i < cfg->device_count; i++) {
		for (int j = 0; j < i; j++) {
			const struct vxpu_sim_device_config *a = &cfg->devices[j],
			                                    *b = &cfg->devices[i];
			if (strcmp(a->uuid, b->uuid) == 0) {
				snprintf(field, sizeof(field), "devices[%d].uuid", i);
				return failf(pc, field, "same UUID as devices[%d]", j);
			}
			if (a->pci_domain == b->pci_domain && a->pci_bus == b->pci_bus &&
			    a->pci_device == b->pci_device) {
				snprintf(field, sizeof(field), "devices[%d].pci_bus_id", i);
				return failf(pc, field, "same PCI bus id as devices[%d]", j);
			}
		}
	}
	/* NVLink lanes per device are bounded by the NVML maximum of 18. */
	for (int d = 0; d < cfg->device_count; d++) {
		int lanes = 0;
		for (int l = 0; l < cfg->link_count; l++)
			if (cfg->links[l].type == VXPU_SIM_LINK_NVLINK &&
			    (cfg->links[l].a == d || cfg->links[l].b == d))
				lanes += cfg->links[l].count;
		if (lanes > 18) {
			snprintf(field, sizeof(field), "links");
			return failf(pc, field, "device %d has %d NVLink lanes, at most 18", d,
			             lanes);
		}
	}
	return 0;
}

int vxpu_sim_config_parse(const char *text, size_t len, const char *source,
                          struct vxpu_sim_config *out, char *err, size_t errlen)
{
	static const char *const allowed[] = {"driver_version", "cuda_version", "devices", "links",
	                                      NULL};
	struct parse_ctx pc = {.source = source, .err = err, .errlen = errlen};
	struct vxpu_sim_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return failf(&pc, "(file)", "out of memory");
	int rc = -1;
	cJSON *root = NULL;
	char problem[160];
	if (vxpu_json_grammar_problem(text, len, problem, sizeof(problem)) != 0) {
		failf(&pc, "(file)", "%s", problem);
		goto out;
	}
	if (!(root = cJSON_ParseWithLength(text, len))) {
		failf(&pc, "(file)", "cannot build the JSON tree");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		failf(&pc, "(file)", "the top level must be an object");
		goto out;
	}
	if (check_fields(&pc, root, "", allowed) != 0)
		goto out;
	cfg->hash = fnv1a(text, len, FNV_OFFSET);
	snprintf(cfg->source, sizeof(cfg->source), "%s", source);

	const char *s = "";
	int r = get_string(&pc, root, "", "driver_version", &s);
	if (r < 0)
		goto out;
	snprintf(cfg->driver_version, sizeof(cfg->driver_version), "580.65.06");
	if (r == 0) {
		if (*s == '\0' || strlen(s) >= VXPU_SIM_VERSION_LEN ||
		    strspn(s, "0123456789.") != strlen(s)) {
			failf(&pc, "driver_version",
			      "invalid driver version \"%s\" (want e.g. "
			      "\"580.65.06\")",
			      s);
			goto out;
		}
		snprintf(cfg->driver_version, sizeof(cfg->driver_version), "%s", s);
	}
	cfg->cuda_version = 13000;
	r = get_string(&pc, root, "", "cuda_version", &s);
	if (r < 0)
		goto out;
	if (r == 0) {
		int ma, mi;
		if (parse_version_pair(s, &ma, &mi) != 0 || ma < 10 || mi > 9) {
			failf(&pc, "cuda_version",
			      "invalid CUDA version \"%s\" (want e.g. \"12.9\")", s);
			goto out;
		}
		cfg->cuda_version = ma * 1000 + mi * 10;
	}

	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
	if (!devs) {
		failf(&pc, "devices", "missing (a list of device objects)");
		goto out;
	}
	if (!cJSON_IsArray(devs)) {
		failf(&pc, "devices", "must be a list of device objects");
		goto out;
	}
	if (cJSON_GetArraySize(devs) > VXPU_SIM_MAX_DEVICES) {
		failf(&pc, "devices", "%d devices, at most %d", cJSON_GetArraySize(devs),
		      VXPU_SIM_MAX_DEVICES);
		goto out;
	}
	int i = 0;
	for (const cJSON *d = devs->child; d; d = d->next, i++)
		if (parse_device(&pc, d, i, cfg->hash, &cfg->devices[i]) != 0)
			goto out;
	cfg->device_count = i;

	const cJSON *links = cJSON_GetObjectItemCaseSensitive(root, "links");
	if (links) {
		if (!cJSON_IsArray(links)) {
			failf(&pc, "links", "must be a list of link objects");
			goto out;
		}
		if (cJSON_GetArraySize(links) > VXPU_SIM_MAX_LINKS) {
			failf(&pc, "links", "at most %d links", VXPU_SIM_MAX_LINKS);
			goto out;
		}
		i = 0;
		for (const cJSON *l = links->child; l; l = l->next, i++)
			if (parse_link(&pc, l, i, cfg->device_count, &cfg->links[i]) != 0)
				goto out;
		cfg->link_count = i;
	}
	if (check_machine(&pc, cfg) != 0)
		goto out;
	*out = *cfg;
	rc = 0;
out:
	cJSON_Delete(root);
	free(cfg);
	return rc;
}

int vxpu_sim_config_load(const char *path, struct vxpu_sim_config *cfg, char *err, size_t errlen)
{
	struct parse_ctx pc = {.source = path, .err = err, .errlen = errlen};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return failf(&pc, "(file)", "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return failf(&pc, "(file)", "not a regular file");
	}
	if (st.st_size > (off_t)CONFIG_MAX_BYTES) {
		close(fd);
		return failf(&pc, "(file)", "larger than %u bytes", CONFIG_MAX_BYTES);
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf) {
		close(fd);
		return failf(&pc, "(file)", "out of memory");
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != len) {
		free(buf);
		return failf(&pc, "(file)", "short read");
	}
	buf[len] = '\0';
	int rc = vxpu_sim_config_parse(buf, len, path, cfg, err, errlen);
	free(buf);
	return rc;
}

int vxpu_sim_config_from_env(struct vxpu_sim_config *cfg, char *err, size_t errlen)
{
	const char *path = getenv("VXPU_SIM_CONFIG");
	if (!path || !*path) {
		vxpu_sim_config_default(cfg);
		return 0;
	}
	return vxpu_sim_config_load(path, cfg, err, errlen);
}
