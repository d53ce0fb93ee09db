/*
 * deviceplugin_source.c - the lease and annotation folder (see
 * deviceplugin_source.h). Files are read whole (at most 1 MiB) on every
 * request: the folder is the authority, and nothing is cached but the
 * answers already given.
 */
#include "kube/deviceplugin_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_MAX (1 << 20)

void vxpu_dp_files_init(struct vxpu_dp_files *f, const char *dir)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
}

/* Reads a file into a fresh NUL-terminated buffer; NULL with errno set. */
static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = malloc(FILE_MAX);
	size_t n = buf ? fread(buf, 1, FILE_MAX - 1, fp) : 0;
	fclose(fp);
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (n == FILE_MAX - 1) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The request's IDs sorted and joined; -1 when they do not fit. */
static int request_key(const char *const *ids, size_t n, char *key, size_t cap)
{
	const char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return -1;
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	size_t len = 0;
	key[0] = '\0';
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int w = snprintf(key + len, cap - len, "%s%s", i ? "," : "", sorted[i]);
		if (w < 0 || (size_t)w >= cap - len)
			rc = -1;
		else
			len += (size_t)w;
	}
	free(sorted);
	return rc;
}

/* Loads the allocation of pod "ns/name". */
static int load_allocation(const struct vxpu_dp_files *f, const char *pod,
                           struct vxpu_pod_allocation *alloc, char *err, size_t errlen)
{
	char file[sizeof(f->dir) + sizeof(((struct vxpu_dp_files *)0)->pod) + 8];
	const char *slash = strchr(pod, '/');
	snprintf(file, sizeof(file), "%s/%.*s_%s.json", f->dir, (int)(slash - pod), pod, slash + 1);
	char *text = read_all(file);
	if (!text) {
		snprintf(err, errlen, "pod %s has no allocation annotation (%s: %s)", pod, file,
		         strerror(errno));
		return -1;
	}
	char why[400];
	int rc = vxpu_allocation_decode(text, alloc, why, sizeof(why));
	free(text);
	if (rc != 0) {
		snprintf(err, errlen, "pod %s: allocation annotation: %s", pod, why);
		return -1;
	}
	char named[sizeof(f->pod) + 2];
	snprintf(named, sizeof(named), "%s/%s", alloc->ns, alloc->pod);
	if (strcmp(named, pod) != 0) {
		snprintf(err, errlen, "pod %s: allocation annotation is for %s", pod, named);
		return -1;
	}
	return 0;
}

/* The lease holder "ns/name", strictly one line with exactly one '/'. */
static int read_lease(const struct vxpu_dp_files *f, char *pod, size_t cap, char *err,
                      size_t errlen)
{
	char path[sizeof(f->dir) + 8];
	snprintf(path, sizeof(path), "%s/lease", f->dir);
	char *text = read_all(path);
	if (!text) {
		snprintf(err, errlen, "no pod holds this node's allocation lease (%s: %s)", path,
		         strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	const char *slash = strchr(text, '/');
	if (!slash || slash == text || !slash[1] || strchr(slash + 1, '/') || strchr(text, '\n') ||
	    strchr(text, '_') || len >= cap) {
		snprintf(err, errlen, "allocation lease %s: \"%.80s\" is not NAMESPACE/POD", path,
		         text);
		free(text);
		return -1;
	}
	memcpy(pod, text, len + 1);
	free(text);
	return 0;
}

static void release_lease(const struct vxpu_dp_files *f, const char *pod)
{
	char path[sizeof(f->dir) + 8], holder[sizeof(f->pod)];
	char err[64];
	snprintf(path, sizeof(path), "%s/lease", f->dir);
	if (read_lease(f, holder, sizeof(holder), err, sizeof(err)) == 0 &&
	    strcmp(holder, pod) == 0)
		unlink(path);
}

int vxpu_dp_files_lookup(void *ctx, const char *const *device_ids, size_t n,
                         struct vxpu_pod_allocation *alloc, unsigned *container, char *err,
                         size_t errlen)
{
	struct vxpu_dp_files *f = ctx;
	if (n == 0) {
		snprintf(err, errlen, "the container request names no devices");
		return -1;
	}
	char key[sizeof(f->remembered[0].key)];
	if (request_key(device_ids, n, key, sizeof(key)) != 0) {
		snprintf(err, errlen, "the container request names too many devices");
		return -1;
	}
	/* A retry gets the answer it got before: for the lease holder, or,
	 * once the lease is released, for the pod answered last. The IDs alone
	 * are not enough: kubelet hands the same IDs to the next pod. */
	char pod[sizeof(f->pod)];
	char lease_err[512];
	bool leased = read_lease(f, pod, sizeof(pod), lease_err, sizeof(lease_err)) == 0;
	for (unsigned back = 1; back <= f->nremembered; back++) {
		unsigned i = (f->next_slot + VXPU_DP_SOURCE_REMEMBERED - back) %
		             VXPU_DP_SOURCE_REMEMBERED;
		const struct vxpu_dp_remembered *r = &f->remembered[i];
		if (strcmp(r->key, key) != 0 || (leased && strcmp(r->pod, pod) != 0))
			continue;
		if (load_allocation(f, r->pod, alloc, err, errlen) != 0)
			return -1;
		*container = r->container;
		return 0;
	}
	if (!leased) {
		snprintf(err, errlen, "%s", lease_err);
		return -1;
	}
	if (load_allocation(f, pod, alloc, err, errlen) != 0)
		return -1;
	if (strcmp(pod, f->pod) != 0) { /* a new pod is being admitted */
		snprintf(f->pod, sizeof(f->pod), "%s", pod);
		f->answered = 0;
	}
	int pick = -1;
	for (int pass = 0; pass < 2 && pick < 0; pass++) {
		enum vxpu_container_kind kind =
		        pass == 0 ? VXPU_CONTAINER_INIT : VXPU_CONTAINER_APP;
		for (unsigned c = 0; c < alloc->ncontainers && pick < 0; c++)
			if (alloc->containers[c].kind == kind && !(f->answered & (1u << c)) &&
			    alloc->containers[c].count == n)
				pick = (int)c;
	}
	if (pick < 0) {
		snprintf(err, errlen, "pod %s has no container left to allocate with %zu device%s",
		         pod, n, n == 1 ? "" : "s");
		return -1;
	}
	f->answered |= 1u << pick;
	struct vxpu_dp_remembered *r = &f->remembered[f->next_slot];
	f->next_slot = (f->next_slot + 1) % VXPU_DP_SOURCE_REMEMBERED;
	if (f->nremembered < VXPU_DP_SOURCE_REMEMBERED)
		f->nremembered++;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->pod, sizeof(r->pod), "%s", pod);
	r->container = (unsigned)pick;
	*container = (unsigned)pick;
	bool all = true;
	for (unsigned c = 0; c < alloc->ncontainers; c++)
		all = all && (f->answered & (1u << c));
	if (all) { /* consumed: the scheduler may bind the next pod */
		release_lease(f, pod);
		f->pod[0] = '\0';
		f->answered = 0;
	}
	return 0;
}
