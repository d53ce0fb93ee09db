/*
 * trace.h - a GPU cluster trace in memory: the nodes and the tasks of
 * Alibaba's cluster-trace-gpu-v2023 ("openb") format, parsed strictly.
 *
 * Node list (openb_node_list_*.csv): columns sn, cpu_milli, memory_mib, gpu,
 * model, found by header name in any order. Task list (openb_pod_list_*.csv):
 * columns name, cpu_milli, memory_mib, num_gpu, gpu_milli and, optionally,
 * gpu_spec. Other columns (qos, pod_phase, creation_time, ...) may be
 * present and are ignored: the replay does not use them.
 *
 * Strict means: every header name is unique and non-empty; every row has
 * exactly the header's number of fields; numbers are plain decimal digits
 * within their range; names are non-empty and unique; quoting is not part of
 * the format and is refused. Rows end with LF or CRLF; a blank row is an
 * error. The first problem found is reported as
 *
 *     FILE:LINE: COLUMN: PROBLEM
 *
 * and nothing is loaded. Task rules: num_gpu 0 takes no GPU (gpu_milli 0, no
 * gpu_spec); num_gpu 1 takes gpu_milli 1..1000 of one GPU; num_gpu > 1 takes
 * whole GPUs (gpu_milli 1000). gpu_spec "A|B" lists acceptable GPU models.
 * Nodes without GPUs are parsed and validated, then left out of the cluster
 * (the replay simulates GPU nodes only); they are counted in skipped_nodes.
 *
 * Pure: parses from memory buffers the caller read; no I/O, no globals.
 */
#ifndef VXPU_CORE_TRACE_H
#define VXPU_CORE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frag.h"

#define VXPU_TRACE_MAX_GPUS VXPU_FRAG_MAX_DEVICES /* GPUs per node */
#define VXPU_TRACE_MAX_TASK_GPUS 64               /* GPUs per task (larger never fit) */
#define VXPU_TRACE_MAX_MODELS VXPU_FRAG_MAX_MODELS
#define VXPU_TRACE_GPU_MILLI VXPU_FRAG_DEVICE_MILLI

struct vxpu_trace_node {
	char *name;
	uint32_t cpu_milli;
	uint32_t mem_mib;
	uint32_t gpu_count;
	uint32_t model; /* index into vxpu_trace.models */
};

struct vxpu_trace_task {
	uint32_t cpu_milli;
	uint32_t mem_mib;
	uint32_t gpu_count;
	uint32_t gpu_milli;  /* per GPU */
	bool any_model;      /* no gpu_spec */
	uint64_t model_mask; /* gpu_spec models present in the node list */
	uint32_t line;       /* where it was read, for messages */
};

struct vxpu_trace {
	struct vxpu_trace_node *nodes; /* GPU nodes only, in file order */
	size_t node_count;
	size_t skipped_nodes; /* rows with gpu 0 */
	char *models[VXPU_TRACE_MAX_MODELS];
	size_t model_count;
	struct vxpu_trace_task *tasks;
	size_t task_count;
	uint64_t gpu_milli_capacity; /* sum over nodes of gpu * 1000 */
	uint32_t max_node_cpu_milli; /* the largest node, for normalised scores */
	uint32_t max_node_gpu_milli;
};

void vxpu_trace_init(struct vxpu_trace *t);
void vxpu_trace_free(struct vxpu_trace *t);

/* Parses a node list. `file` names the source in messages. On error returns
 * -1, writes "FILE:LINE: COLUMN: PROBLEM" into err and leaves t unchanged. */
int vxpu_trace_load_nodes(struct vxpu_trace *t, const char *csv, size_t len, const char *file,
                          char *err, size_t errlen);

/* Parses a task list against the loaded nodes (gpu_spec names are matched
 * to their models; a name no node has is accepted and matches nothing).
 * Same error convention. Requires vxpu_trace_load_nodes() first. */
int vxpu_trace_load_tasks(struct vxpu_trace *t, const char *csv, size_t len, const char *file,
                          char *err, size_t errlen);

/* Total GPU milli a task takes. */
static inline uint64_t vxpu_trace_task_gpu_milli(const struct vxpu_trace_task *task)
{
	return (uint64_t)task->gpu_count * task->gpu_milli;
}

/* The task as a shape for the fragmentation measure. */
struct vxpu_frag_shape vxpu_trace_task_shape(const struct vxpu_trace_task *task);

/* A perturbed mix of the same kind: tasks drawn from the trace with the
 * given shares of each class (fractional: 1 GPU below 1000 milli; multi: 2 or
 * more GPUs; spec: any GPU task that names models; cpu: no GPU; the rest are
 * one whole GPU). Each share is in [0, 1] and together they are <= 1; a class
 * the trace lacks is drawn as its nearest kind (spec: a GPU task given the
 * gpu_spec of a random spec task, or a random single model when the trace has
 * none). Replaces t->tasks with `count` tasks; deterministic in `seed`.
 * Returns -1 with a message on bad shares or out of memory. */
struct vxpu_trace_mix {
	double fractional;
	double multi;
	double spec;
	double cpu;
};
int vxpu_trace_remix(struct vxpu_trace *t, const struct vxpu_trace_mix *mix, size_t count,
                     uint64_t seed, char *err, size_t errlen);

/* Measures the class shares of the loaded tasks (as vxpu_trace_remix counts them). */
void vxpu_trace_measure_mix(const struct vxpu_trace *t, struct vxpu_trace_mix *mix);

#endif
