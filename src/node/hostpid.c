/*
 * hostpid.c - container PIDs to host PIDs (see hostpid.h).
 *
 * Every file under the proc root is read through a descriptor relative to
 * the root's own descriptor, so a process that exits mid-scan only makes an
 * open fail (skipped) and a PID reused meanwhile is at worst read whole
 * from its new owner - whose cgroup or mapping then decides, as for any
 * other process. Parsing is strict: a status file whose NSpid line is not
 * a tab-separated list of positive decimals gives no PID for that process.
 */
#include "node/hostpid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct pid_list {
	struct vxpu_hostpid *items;
	size_t n, cap;
};

static int push(struct pid_list *l, int32_t ns_pid, int32_t host_pid)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct vxpu_hostpid *p = realloc(l->items, cap * sizeof(*p));
		if (!p)
			return -1;
		l->items = p;
		l->cap = cap;
	}
	l->items[l->n].ns_pid = ns_pid;
	l->items[l->n].host_pid = host_pid;
	l->n++;
	return 0;
}

/* Strict positive decimal that fits int32 from *s; advances *s. */
static int parse_pid(const char **s, int32_t *out)
{
	const char *p = *s;
	int64_t v = 0;
	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > INT32_MAX)
			return -1;
	}
	*s = p;
	*out = (int32_t)v;
	return 0;
}

static FILE *open_at(int root, const char *pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/%s", pid, name);
	int fd = openat(root, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* The innermost NSpid of a status file, or -1 (absent or malformed). */
static int32_t innermost_ns_pid(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	int32_t result = -1;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		const char *s = line + 6;
		int32_t last = -1;
		for (;;) {
			if (*s != '\t')
				break;
			s++;
			if (parse_pid(&s, &last) != 0) {
				last = -1;
				break;
			}
		}
		if (last > 0 && (*s == '\n' || *s == '\0'))
			result = last;
		break;
	}
	free(line);
	return result;
}

static bool cgroup_matches(FILE *f, const char *want)
{
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0)
		found = strstr(line, want) != NULL;
	free(line);
	return found;
}

/* True when a maps line names the file dev:ino ("addr perms off MAJ:MIN INODE path"). */
static bool maps_file(FILE *f, uint64_t dev, uint64_t ino)
{
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	unsigned want_major = major((dev_t)dev), want_minor = minor((dev_t)dev);
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		unsigned long long inode;
		int n = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu%n", &maj, &min, &inode, &n) == 3 && n > 0)
			found = inode == ino && maj == want_major && min == want_minor;
	}
	free(line);
	return found;
}

static bool is_pid_name(const char *name)
{
	if (*name < '1' || *name > '9')
		return false;
	for (const char *p = name; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return strlen(name) <= 10;
}

static bool passes(int root, const char *pid, const struct vxpu_hostpid_filter *f)
{
	if (f->cgroup) {
		FILE *cg = open_at(root, pid, "cgroup");
		if (!cg)
			return false;
		bool ok = cgroup_matches(cg, f->cgroup);
		fclose(cg);
		if (!ok)
			return false;
	}
	if (f->by_mapping) {
		FILE *maps = open_at(root, pid, "maps");
		if (!maps)
			return false;
		bool ok = maps_file(maps, f->map_dev, f->map_ino);
		fclose(maps);
		if (!ok)
			return false;
	}
	return true;
}

static int cmp_hostpid(const void *a, const void *b)
{
	const struct vxpu_hostpid *x = a, *y = b;
	if (x->ns_pid != y->ns_pid)
		return x->ns_pid < y->ns_pid ? -1 : 1;
	return (x->host_pid > y->host_pid) - (x->host_pid < y->host_pid);
}

static int scan(const struct vxpu_hostpid_filter *f, struct pid_list *l, char *err, size_t errlen)
{
	const char *root_path = f->proc_root ? f->proc_root : "/proc";
	int root = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = root >= 0 ? fdopendir(dup(root)) : NULL;
	if (!dir) {
		snprintf(err, errlen, "cannot read %s: %s", root_path, strerror(errno));
		if (root >= 0)
			close(root);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (!is_pid_name(de->d_name))
			continue;
		const char *s = de->d_name;
		int32_t host_pid;
		if (parse_pid(&s, &host_pid) != 0 || !passes(root, de->d_name, f))
			continue;
		FILE *st = open_at(root, de->d_name, "status");
		if (!st)
			continue;
		int32_t ns_pid = innermost_ns_pid(st);
		fclose(st);
		if (ns_pid > 0 && push(l, ns_pid, host_pid) != 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
	}
	closedir(dir);
	close(root);
	if (rc == 0 && l->n > 1)
		qsort(l->items, l->n, sizeof(l->items[0]), cmp_hostpid);
	return rc;
}

int vxpu_hostpid_scan(const struct vxpu_hostpid_filter *f, struct vxpu_hostpid *out, size_t cap,
                      size_t *count, char *err, size_t errlen)
{
	struct pid_list l = {0};
	if (scan(f, &l, err, errlen) != 0) {
		free(l.items);
		return -1;
	}
	*count = l.n;
	if (l.n)
		memcpy(out, l.items, (l.n < cap ? l.n : cap) * sizeof(*out));
	free(l.items);
	return 0;
}

int32_t vxpu_hostpid_lookup(const struct vxpu_hostpid *list, size_t n, int32_t ns_pid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* first entry with ns_pid >= the one wanted */
		size_t mid = lo + (hi - lo) / 2;
		if (list[mid].ns_pid < ns_pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || list[lo].ns_pid != ns_pid)
		return 0;
	if (lo + 1 < n && list[lo + 1].ns_pid == ns_pid)
		return -1;
	return list[lo].host_pid;
}

int vxpu_hostpid_update_region(struct vxpu_region *r, const struct vxpu_hostpid_filter *f,
                               struct vxpu_hostpid_report *report, char *err, size_t errlen)
{
	memset(report, 0, sizeof(*report));
	struct vxpu_hostpid_filter filter = *f;
	if (filter.by_mapping) {
		struct stat sb;
		if (fstat(r->fd, &sb) != 0) {
			snprintf(err, errlen, "cannot stat the region file: %s", strerror(errno));
			return -1;
		}
		filter.map_dev = (uint64_t)sb.st_dev;
		filter.map_ino = (uint64_t)sb.st_ino;
	}
	struct vxpu_region_view *view = malloc(sizeof(*view));
	if (!view) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	vxpu_region_read(r, view);
	bool wanted = false;
	for (unsigned i = 0; i < view->process_count && !wanted; i++)
		wanted = view->processes[i].alive && view->processes[i].host_pid == 0;
	struct pid_list l = {0};
	if (wanted && scan(&filter, &l, err, errlen) != 0) {
		free(l.items);
		free(view);
		return -1;
	}
	for (unsigned i = 0; i < view->process_count; i++) {
		const struct vxpu_region_process *p = &view->processes[i];
		if (!p->alive)
			continue;
		if (p->host_pid != 0) {
			report->known++;
			continue;
		}
		int32_t host = vxpu_hostpid_lookup(l.items, l.n, p->pid);
		if (host == 0)
			report->unmatched++;
		else if (host < 0)
			report->ambiguous++;
		else if (vxpu_region_set_host_pid(r, p->slot, p->generation, host) != 0)
			report->raced++;
		else
			report->written++;
	}
	free(l.items);
	free(view);
	return 0;
}
