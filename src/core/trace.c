/*
 * trace.c - strict parsing of the openb node and task lists, and the mix
 * generator (see trace.h for the format and the rules).
 *
 * The CSV reader works on the caller's buffer without copying: a row is
 * split into (pointer, length) fields in place, so a malformed file never
 * costs more than one pass. Both loaders build their result in fresh arrays
 * and only swap them into the trace when the whole file was accepted, which
 * is how "an error changes nothing" is kept.
 *
 * Names are checked for uniqueness by sorting an index (n log n, no hash
 * table to size), and the message names the line of the first occurrence.
 */
#include "core/trace.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_COLUMNS 64
#define NAME_MAX_LEN 255

struct csv_field {
	const char *ptr;
	size_t len;
};

struct csv_reader {
	const char *buf;
	size_t len;
	size_t pos;
	uint32_t line; /* line number of the row last read (1-based) */
	const char *file;
	char *err;
	size_t errlen;
};

static int failf(struct csv_reader *r, uint32_t line, const char *column, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int failf(struct csv_reader *r, uint32_t line, const char *column, const char *fmt, ...)
{
	if (!r->err || r->errlen == 0)
		return -1;
	int n = snprintf(r->err, r->errlen, "%s:%" PRIu32 ": %s: ", r->file, line, column);
	if (n < 0 || (size_t)n >= r->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Quotes a field for a message, cut short and with odd bytes escaped.
 * cap must be at least 16. */
static const char *show(const struct csv_field *f, char *out, size_t cap)
{
	const size_t limit = cap - 6; /* room for ...", the quote and the NUL */
	size_t o = 0, i;
	out[o++] = '"';
	for (i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->ptr[i];
		const bool odd = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
		if (o + (odd ? 4 : 1) > limit)
			break;
		if (odd) {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < f->len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* Reads the next row into fields. Returns the field count, 0 at the end of
 * the buffer, -1 on a blank row or too many fields (message written). */
static int csv_next(struct csv_reader *r, struct csv_field *fields)
{
	if (r->pos >= r->len)
		return 0;
	r->line++;
	const char *start = r->buf + r->pos;
	const char *nl = memchr(start, '\n', r->len - r->pos);
	size_t row_len = nl ? (size_t)(nl - start) : r->len - r->pos;
	r->pos += row_len + (nl ? 1 : 0);
	if (row_len > 0 && start[row_len - 1] == '\r')
		row_len--;
	if (row_len == 0)
		return failf(r, r->line, "row", "blank row");
	int count = 0;
	size_t begin = 0;
	for (size_t i = 0; i <= row_len; i++) {
		if (i == row_len || start[i] == ',') {
			if (count == CSV_MAX_COLUMNS)
				return failf(r, r->line, "row", "more than %d fields",
				             CSV_MAX_COLUMNS);
			fields[count].ptr = start + begin;
			fields[count].len = i - begin;
			count++;
			begin = i + 1;
		}
	}
	return count;
}

static bool field_is(const struct csv_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->len == n && memcmp(f->ptr, name, n) == 0;
}

/* The header: finds each wanted column (index or -1) and checks names. */
static int read_header(struct csv_reader *r, const char *const *wanted, const bool *required,
                       int *index, size_t nwanted, int *ncolumns)
{
	struct csv_field fields[CSV_MAX_COLUMNS];
	char shown[96];
	int n = csv_next(r, fields);
	if (n < 0)
		return -1;
	if (n == 0) {
		r->line = 1;
		return failf(r, 1, "header", "empty file");
	}
	for (int i = 0; i < n; i++) {
		if (fields[i].len == 0)
			return failf(r, r->line, "header", "column %d has no name", i + 1);
		for (size_t k = 0; k < fields[i].len; k++) {
			unsigned char c = (unsigned char)fields[i].ptr[k];
			if (c <= ' ' || c == '"' || c == 0x7f)
				return failf(r, r->line, "header", "column %d: invalid name %s",
				             i + 1, show(&fields[i], shown, sizeof(shown)));
		}
		for (int j = 0; j < i; j++)
			if (fields[j].len == fields[i].len &&
			    memcmp(fields[j].ptr, fields[i].ptr, fields[i].len) == 0)
				return failf(r, r->line, "header", "duplicate column %s",
				             show(&fields[i], shown, sizeof(shown)));
	}
	for (size_t w = 0; w < nwanted; w++) {
		index[w] = -1;
		for (int i = 0; i < n; i++)
			if (field_is(&fields[i], wanted[w]))
				index[w] = i;
		if (index[w] < 0 && required[w])
			return failf(r, r->line, wanted[w], "missing column");
	}
	*ncolumns = n;
	return 0;
}

static int check_field_count(struct csv_reader *r, int got, int want, const char *const *names,
                             const int *index, size_t nwanted)
{
	if (got == want)
		return 0;
	if (got > want)
		return failf(r, r->line, "row", "%d fields, the header has %d", got, want);
	/* Name the first wanted column the short row lacks, if any. */
	for (size_t w = 0; w < nwanted; w++)
		if (index[w] >= got)
			return failf(r, r->line, names[w], "missing (%d fields, the header has %d)",
			             got, want);
	return failf(r, r->line, "row", "%d fields, the header has %d", got, want);
}

static int parse_u32(struct csv_reader *r, const struct csv_field *f, const char *column,
                     uint32_t min, uint32_t max, uint32_t *out)
{
	char shown[96];
	if (f->len == 0)
		return failf(r, r->line, column, "empty");
	uint64_t v = 0;
	for (size_t i = 0; i < f->len; i++) {
		char c = f->ptr[i];
		if (c == '"')
			return failf(r, r->line, column, "quoted fields are not supported");
		if (c < '0' || c > '9')
			return failf(r, r->line, column, "%s is not a whole number",
			             show(f, shown, sizeof(shown)));
		v = v * 10 + (uint64_t)(c - '0');
		if (v > UINT32_MAX)
			return failf(r, r->line, column, "%s is out of range %" PRIu32 "..%" PRIu32,
			             show(f, shown, sizeof(shown)), min, max);
	}
	if (v < min || v > max)
		return failf(r, r->line, column,
		             "%" PRIu64 " is out of range %" PRIu32 "..%" PRIu32, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A node or model name: printable ASCII without ',', '|', '"' or spaces. */
static int check_name(struct csv_reader *r, const struct csv_field *f, const char *column,
                      bool allow_empty)
{
	char shown[96];
	if (f->len == 0)
		return allow_empty ? 0 : failf(r, r->line, column, "empty");
	if (f->len > NAME_MAX_LEN)
		return failf(r, r->line, column, "longer than %d bytes", NAME_MAX_LEN);
	for (size_t i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->ptr[i];
		if (c == '"')
			return failf(r, r->line, column, "quoted fields are not supported");
		if (c <= ' ' || c >= 0x7f || c == '|')
			return failf(r, r->line, column, "invalid character in %s",
			             show(f, shown, sizeof(shown)));
	}
	return 0;
}

struct name_ref {
	const char *ptr;
	size_t len;
	uint32_t line;
};

static int name_ref_cmp(const void *pa, const void *pb)
{
	const struct name_ref *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->ptr, b->ptr, n);
	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->line < b->line ? -1 : (a->line > b->line ? 1 : 0);
}

/* Fails on the later line of the first duplicate pair (sorted by line). */
static int check_unique(struct csv_reader *r, struct name_ref *refs, size_t n, const char *column,
                        const char *what)
{
	qsort(refs, n, sizeof(*refs), name_ref_cmp);
	uint32_t worst_line = 0, first_line = 0;
	size_t worst = 0;
	for (size_t i = 1; i < n; i++) {
		if (refs[i].len == refs[i - 1].len &&
		    memcmp(refs[i].ptr, refs[i - 1].ptr, refs[i].len) == 0) {
			/* refs[i-1] is the earlier line of this name (ties sort by line). */
			size_t first = i - 1;
			while (first > 0 && refs[first - 1].len == refs[i].len &&
			       memcmp(refs[first - 1].ptr, refs[i].ptr, refs[i].len) == 0)
				first--;
			if (worst_line == 0 || refs[i].line < worst_line) {
				worst_line = refs[i].line;
				first_line = refs[first].line;
				worst = i;
			}
		}
	}
	if (worst_line == 0)
		return 0;
	char shown[96];
	struct csv_field f = {refs[worst].ptr, refs[worst].len};
	return failf(r, worst_line, column, "duplicate %s %s (first on line %" PRIu32 ")", what,
	             show(&f, shown, sizeof(shown)), first_line);
}

void vxpu_trace_init(struct vxpu_trace *t)
{
	memset(t, 0, sizeof(*t));
}

static void free_nodes(struct vxpu_trace_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(nodes[i].name);
	free(nodes);
}

void vxpu_trace_free(struct vxpu_trace *t)
{
	free_nodes(t->nodes, t->node_count);
	for (size_t i = 0; i < t->model_count; i++)
		free(t->models[i]);
	free(t->tasks);
	vxpu_trace_init(t);
}

static char *dup_field(const struct csv_field *f)
{
	char *s = malloc(f->len + 1);
	if (s) {
		memcpy(s, f->ptr, f->len);
		s[f->len] = '\0';
	}
	return s;
}

/* Counts the data rows (upper bound on records) without parsing them. */
static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n + 1;
}

enum { NODE_SN, NODE_CPU, NODE_MEM, NODE_GPU, NODE_MODEL, NODE_COLUMNS };

int vxpu_trace_load_nodes(struct vxpu_trace *t, const char *csv, size_t len, const char *file,
                          char *err, size_t errlen)
{
	static const char *const names[NODE_COLUMNS] = {"sn", "cpu_milli", "memory_mib", "gpu",
	                                                "model"};
	static const bool required[NODE_COLUMNS] = {true, true, true, true, true};
	struct csv_reader r = {.buf = csv, .len = len, .file = file, .err = err, .errlen = errlen};
	int index[NODE_COLUMNS], ncolumns = 0;
	if (read_header(&r, names, required, index, NODE_COLUMNS, &ncolumns) < 0)
		return -1;

	size_t cap = count_lines(csv, len);
	struct vxpu_trace_node *nodes = calloc(cap, sizeof(*nodes));
	struct name_ref *refs = calloc(cap, sizeof(*refs));
	char *models[VXPU_TRACE_MAX_MODELS] = {0};
	size_t model_count = 0, node_count = 0, rows = 0, skipped = 0;
	int rc = -1;
	if (!nodes || !refs) {
		failf(&r, 1, "file", "out of memory");
		goto out;
	}
	struct csv_field f[CSV_MAX_COLUMNS];
	int n;
	while ((n = csv_next(&r, f)) != 0) {
		if (n < 0 || check_field_count(&r, n, ncolumns, names, index, NODE_COLUMNS) < 0)
			goto out;
		const struct csv_field *sn = &f[index[NODE_SN]], *model = &f[index[NODE_MODEL]];
		uint32_t cpu, mem, gpu;
		if (check_name(&r, sn, "sn", false) < 0 ||
		    parse_u32(&r, &f[index[NODE_CPU]], "cpu_milli", 0, INT32_MAX, &cpu) < 0 ||
		    parse_u32(&r, &f[index[NODE_MEM]], "memory_mib", 0, INT32_MAX, &mem) < 0 ||
		    parse_u32(&r, &f[index[NODE_GPU]], "gpu", 0, VXPU_TRACE_MAX_GPUS, &gpu) < 0 ||
		    check_name(&r, model, "model", gpu == 0) < 0)
			goto out;
		refs[rows++] = (struct name_ref){sn->ptr, sn->len, r.line};
		if (gpu == 0) {
			skipped++;
			continue;
		}
		size_t m = 0;
		while (m < model_count && !(strlen(models[m]) == model->len &&
		                            memcmp(models[m], model->ptr, model->len) == 0))
			m++;
		if (m == model_count) {
			if (model_count == VXPU_TRACE_MAX_MODELS) {
				failf(&r, r.line, "model", "more than %d GPU models",
				      VXPU_TRACE_MAX_MODELS);
				goto out;
			}
			models[model_count] = dup_field(model);
			if (!models[model_count]) {
				failf(&r, r.line, "model", "out of memory");
				goto out;
			}
			model_count++;
		}
		struct vxpu_trace_node *node = &nodes[node_count];
		node->name = dup_field(sn);
		if (!node->name) {
			failf(&r, r.line, "sn", "out of memory");
			goto out;
		}
		node->cpu_milli = cpu;
		node->mem_mib = mem;
		node->gpu_count = gpu;
		node->model = (uint32_t)m;
		node_count++;
	}
	if (check_unique(&r, refs, rows, "sn", "node") < 0)
		goto out;
	if (node_count == 0) {
		failf(&r, r.line, "gpu", "no node with GPUs");
		goto out;
	}

	vxpu_trace_free(t);
	t->nodes = nodes;
	t->node_count = node_count;
	t->skipped_nodes = skipped;
	memcpy(t->models, models, sizeof(models));
	t->model_count = model_count;
	for (size_t i = 0; i < node_count; i++) {
		t->gpu_milli_capacity += (uint64_t)nodes[i].gpu_count * VXPU_TRACE_GPU_MILLI;
		if (nodes[i].cpu_milli > t->max_node_cpu_milli)
			t->max_node_cpu_milli = nodes[i].cpu_milli;
		if (nodes[i].gpu_count * VXPU_TRACE_GPU_MILLI > t->max_node_gpu_milli)
			t->max_node_gpu_milli = nodes[i].gpu_count * VXPU_TRACE_GPU_MILLI;
	}
	nodes = NULL;
	node_count = 0;
	model_count = 0;
	rc = 0;
out:
	free_nodes(nodes, node_count);
	for (size_t i = 0; i < model_count; i++)
		free(models[i]);
	free(refs);
	return rc;
}

/* gpu_spec: MODEL("|"MODEL)*; models no node has match nothing. */
static int parse_spec(struct csv_reader *r, const struct vxpu_trace *t, const struct csv_field *f,
                      uint64_t *mask)
{
	char shown[96];
	*mask = 0;
	size_t begin = 0;
	for (size_t i = 0; i <= f->len; i++) {
		if (i < f->len && f->ptr[i] != '|')
			continue;
		struct csv_field part = {f->ptr + begin, i - begin};
		if (part.len == 0)
			return failf(r, r->line, "gpu_spec", "empty model name in %s",
			             show(f, shown, sizeof(shown)));
		for (size_t k = 0; k < part.len; k++) {
			unsigned char c = (unsigned char)part.ptr[k];
			if (c == '"')
				return failf(r, r->line, "gpu_spec",
				             "quoted fields are not supported");
			if (c <= ' ' || c >= 0x7f)
				return failf(r, r->line, "gpu_spec", "invalid character in %s",
				             show(f, shown, sizeof(shown)));
		}
		for (size_t m = 0; m < t->model_count; m++)
			if (strlen(t->models[m]) == part.len &&
			    memcmp(t->models[m], part.ptr, part.len) == 0)
				*mask |= (uint64_t)1 << m;
		begin = i + 1;
	}
	return 0;
}

enum { TASK_NAME, TASK_CPU, TASK_MEM, TASK_NGPU, TASK_MILLI, TASK_SPEC, TASK_COLUMNS };

int vxpu_trace_load_tasks(struct vxpu_trace *t, const char *csv, size_t len, const char *file,
                          char *err, size_t errlen)
{
	static const char *const names[TASK_COLUMNS] = {"name",    "cpu_milli", "memory_mib",
	                                                "num_gpu", "gpu_milli", "gpu_spec"};
	static const bool required[TASK_COLUMNS] = {true, true, true, true, true, false};
	struct csv_reader r = {.buf = csv, .len = len, .file = file, .err = err, .errlen = errlen};
	if (t->node_count == 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: load the node list first", file);
		return -1;
	}
	int index[TASK_COLUMNS], ncolumns = 0;
	if (read_header(&r, names, required, index, TASK_COLUMNS, &ncolumns) < 0)
		return -1;

	size_t cap = count_lines(csv, len);
	struct vxpu_trace_task *tasks = calloc(cap, sizeof(*tasks));
	struct name_ref *refs = calloc(cap, sizeof(*refs));
	size_t count = 0;
	int rc = -1;
	if (!tasks || !refs) {
		failf(&r, 1, "file", "out of memory");
		goto out;
	}
	struct csv_field f[CSV_MAX_COLUMNS];
	int n;
	while ((n = csv_next(&r, f)) != 0) {
		if (n < 0 || check_field_count(&r, n, ncolumns, names, index, TASK_COLUMNS) < 0)
			goto out;
		const struct csv_field *name = &f[index[TASK_NAME]];
		struct vxpu_trace_task task = {.line = r.line, .any_model = true};
		if (check_name(&r, name, "name", false) < 0 ||
		    parse_u32(&r, &f[index[TASK_CPU]], "cpu_milli", 0, INT32_MAX, &task.cpu_milli) <
		            0 ||
		    parse_u32(&r, &f[index[TASK_MEM]], "memory_mib", 0, INT32_MAX, &task.mem_mib) <
		            0 ||
		    parse_u32(&r, &f[index[TASK_NGPU]], "num_gpu", 0, VXPU_TRACE_MAX_TASK_GPUS,
		              &task.gpu_count) < 0 ||
		    parse_u32(&r, &f[index[TASK_MILLI]], "gpu_milli", 0, VXPU_TRACE_GPU_MILLI,
		              &task.gpu_milli) < 0)
			goto out;
		if (task.gpu_count == 0 && task.gpu_milli != 0) {
			failf(&r, r.line, "gpu_milli", "%" PRIu32 " on a task with num_gpu 0",
			      task.gpu_milli);
			goto out;
		}
		if (task.gpu_count >= 1 && task.gpu_milli == 0) {
			failf(&r, r.line, "gpu_milli",
			      "0 on a task with num_gpu %" PRIu32 " (want 1..1000)",
			      task.gpu_count);
			goto out;
		}
		if (task.gpu_count > 1 && task.gpu_milli != VXPU_TRACE_GPU_MILLI) {
			failf(&r, r.line, "gpu_milli",
			      "%" PRIu32 " with num_gpu %" PRIu32
			      ": a multi-GPU task takes whole GPUs (1000)",
			      task.gpu_milli, task.gpu_count);
			goto out;
		}
		if (index[TASK_SPEC] >= 0 && f[index[TASK_SPEC]].len > 0) {
			if (task.gpu_count == 0) {
				failf(&r, r.line, "gpu_spec", "set on a task with num_gpu 0");
				goto out;
			}
			if (parse_spec(&r, t, &f[index[TASK_SPEC]], &task.model_mask) < 0)
				goto out;
			task.any_model = false;
		}
		refs[count] = (struct name_ref){name->ptr, name->len, r.line};
		tasks[count++] = task;
	}
	if (check_unique(&r, refs, count, "name", "task") < 0)
		goto out;
	if (count == 0) {
		failf(&r, r.line, "file", "no tasks");
		goto out;
	}
	free(t->tasks);
	t->tasks = tasks;
	t->task_count = count;
	tasks = NULL;
	rc = 0;
out:
	free(tasks);
	free(refs);
	return rc;
}

struct vxpu_frag_shape vxpu_trace_task_shape(const struct vxpu_trace_task *task)
{
	return (struct vxpu_frag_shape){
	        .cpu_milli = task->cpu_milli,
	        .mem_mib = task->mem_mib,
	        .dev_count = task->gpu_count,
	        .dev_milli = task->gpu_milli,
	        .any_model = task->any_model,
	        .model_mask = task->any_model ? 0 : task->model_mask,
	};
}

/* ---- mixes ------------------------------------------------------------- */

enum task_class { CLASS_CPU, CLASS_FRACTIONAL, CLASS_WHOLE, CLASS_MULTI, CLASS_COUNT };

static enum task_class classify(const struct vxpu_trace_task *task)
{
	if (task->gpu_count == 0)
		return CLASS_CPU;
	if (task->gpu_count > 1)
		return CLASS_MULTI;
	return task->gpu_milli < VXPU_TRACE_GPU_MILLI ? CLASS_FRACTIONAL : CLASS_WHOLE;
}

void vxpu_trace_measure_mix(const struct vxpu_trace *t, struct vxpu_trace_mix *mix)
{
	size_t counts[CLASS_COUNT] = {0}, spec = 0;
	for (size_t i = 0; i < t->task_count; i++) {
		counts[classify(&t->tasks[i])]++;
		spec += !t->tasks[i].any_model;
	}
	const double n = t->task_count ? (double)t->task_count : 1.0;
	mix->cpu = counts[CLASS_CPU] / n;
	mix->fractional = counts[CLASS_FRACTIONAL] / n;
	mix->multi = counts[CLASS_MULTI] / n;
	mix->spec = spec / n;
}

/* splitmix64: a small, well-mixed generator; enough for drawing mixes. */
static uint64_t mix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double mix_uniform(uint64_t *state)
{
	return (double)(mix_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static size_t mix_below(uint64_t *state, size_t n)
{
	return (size_t)(mix_uniform(state) * (double)n);
}

int vxpu_trace_remix(struct vxpu_trace *t, const struct vxpu_trace_mix *mix, size_t count,
                     uint64_t seed, char *err, size_t errlen)
{
	const double shares[CLASS_COUNT] = {mix->cpu, mix->fractional,
	                                    1.0 - mix->cpu - mix->fractional - mix->multi,
	                                    mix->multi};
	const double eps = 1e-9;
	if (!(mix->cpu >= 0 && mix->fractional >= 0 && mix->multi >= 0 && mix->spec >= 0) ||
	    shares[CLASS_WHOLE] < -eps || mix->spec > 1.0 - mix->cpu + eps || count == 0) {
		snprintf(
		        err, errlen,
		        "mix: shares must be >= 0, cpu + fractional + multi <= 1, spec <= 1 - cpu, "
		        "count > 0");
		return -1;
	}
	size_t *by_class[CLASS_COUNT] = {0};
	size_t class_len[CLASS_COUNT] = {0};
	size_t *spec_tasks = malloc(t->task_count * sizeof(size_t) + 1);
	size_t spec_len = 0;
	struct vxpu_trace_task *out = malloc(count * sizeof(*out));
	int rc = -1;
	for (int c = 0; c < CLASS_COUNT; c++)
		by_class[c] = malloc(t->task_count * sizeof(size_t) + 1);
	for (int c = 0; c < CLASS_COUNT; c++)
		if (!by_class[c])
			goto oom;
	if (!spec_tasks || !out)
		goto oom;
	for (size_t i = 0; i < t->task_count; i++) {
		enum task_class c = classify(&t->tasks[i]);
		by_class[c][class_len[c]++] = i;
		if (!t->tasks[i].any_model)
			spec_tasks[spec_len++] = i;
	}
	static const char *const class_names[CLASS_COUNT] = {"cpu", "fractional", "whole-GPU",
	                                                     "multi-GPU"};
	for (int c = 0; c < CLASS_COUNT; c++) {
		if (shares[c] > eps && class_len[c] == 0) {
			snprintf(err, errlen, "mix: the trace has no %s task to draw from",
			         class_names[c]);
			goto out;
		}
	}
	const double gpu_share = 1.0 - mix->cpu;
	const double spec_given_gpu = gpu_share > eps ? mix->spec / gpu_share : 0.0;
	uint64_t state = seed ^ 0x5bd1e9955bd1e995ULL;
	for (size_t i = 0; i < count; i++) {
		double u = mix_uniform(&state), acc = 0.0;
		int c = CLASS_COUNT - 1;
		for (int k = 0; k < CLASS_COUNT; k++) {
			acc += shares[k] > 0 ? shares[k] : 0;
			if (u < acc) {
				c = k;
				break;
			}
		}
		while (class_len[c] == 0)
			c = (c + 1) % CLASS_COUNT; /* only reachable through rounding at 1.0 */
		struct vxpu_trace_task task =
		        t->tasks[by_class[c][mix_below(&state, class_len[c])]];
		task.line = 0;
		if (task.gpu_count > 0) {
			task.any_model = true;
			task.model_mask = 0;
			if (mix_uniform(&state) < spec_given_gpu) {
				task.any_model = false;
				if (spec_len > 0)
					task.model_mask =
					        t->tasks[spec_tasks[mix_below(&state, spec_len)]]
					                .model_mask;
				else
					task.model_mask = (uint64_t)1
					                  << mix_below(&state, t->model_count);
			}
		}
		out[i] = task;
	}
	free(t->tasks);
	t->tasks = out;
	t->task_count = count;
	out = NULL;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "mix: out of memory");
out:
	for (int c = 0; c < CLASS_COUNT; c++)
		free(by_class[c]);
	free(spec_tasks);
	free(out);
	return rc;
}
