/*
 * cuda_graph.c - stream capture, graphs and executable graphs.
 *
 * While a stream captures, kernel launches on it are recorded as nodes (with
 * their decoded arguments) instead of running; operations the simulator
 * does not record (copies, sets, stream-ordered allocation) are refused with
 * CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, and synchronising a capturing
 * stream invalidates the capture, as on the real driver. Nodes run in
 * capture order: captures here are linear, so the dependency graph is a
 * chain. Instantiation copies the nodes; cuGraphLaunch replays them on the
 * target stream as ordinary launches (same timeline, same launch queue), so
 * a replayed `busy` occupies the device and a replayed `fill` writes memory.
 */
#include "sim/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define GRAPH_MAGIC 0x48505247u /* "GRPH" */
#define EXEC_MAGIC 0x43455847u  /* "GXEC" */

struct sim_graph {
	uint32_t magic;
	struct sim_ctx *ctx;
	struct sim_kernel_call *nodes;
	size_t count, cap;
	struct sim_graph *next;
};

struct sim_graph_exec {
	uint32_t magic;
	struct sim_kernel_call *nodes;
	size_t count;
	struct sim_graph_exec *next;
};

static struct sim_graph *graphs;
static struct sim_graph_exec *execs;

void sim_graphs_reset(void)
{
	while (graphs) {
		struct sim_graph *g = graphs;
		graphs = g->next;
		free(g->nodes);
		free(g);
	}
	while (execs) {
		struct sim_graph_exec *x = execs;
		execs = x->next;
		free(x->nodes);
		free(x);
	}
}

struct sim_graph *sim_graph_new(struct sim_ctx *ctx)
{
	struct sim_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->magic = GRAPH_MAGIC;
	g->ctx = ctx;
	g->next = graphs;
	graphs = g;
	return g;
}

CUresult sim_graph_append(struct sim_graph *g, const struct sim_kernel_call *call)
{
	if (g->count == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct sim_kernel_call *n = realloc(g->nodes, cap * sizeof(*n));
		if (!n)
			return CUDA_ERROR_OUT_OF_MEMORY;
		g->nodes = n;
		g->cap = cap;
	}
	g->nodes[g->count++] = *call;
	return CUDA_SUCCESS;
}

static struct sim_graph *graph_find(CUgraph h)
{
	for (struct sim_graph *g = graphs; g; g = g->next)
		if (g == (struct sim_graph *)h)
			return g->magic == GRAPH_MAGIC ? g : NULL;
	return NULL;
}

static void graph_free(struct sim_graph *g)
{
	struct sim_graph **pp = &graphs;
	while (*pp && *pp != g)
		pp = &(*pp)->next;
	if (*pp)
		*pp = g->next;
	free(g->nodes);
	free(g);
}

/* ---- capture ------------------------------------------------------------------------- */

static CUresult begin_capture(CUstream h, CUstreamCaptureMode mode, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
	    mode != CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS && s == s->ctx->legacy)
		rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* the legacy stream cannot capture */
	else if (rc == CUDA_SUCCESS && s->capture != CU_STREAM_CAPTURE_STATUS_NONE)
		rc = CUDA_ERROR_ILLEGAL_STATE;
	if (rc == CUDA_SUCCESS) {
		s->capture_graph = sim_graph_new(s->ctx);
		if (!s->capture_graph)
			rc = CUDA_ERROR_OUT_OF_MEMORY;
		else
			s->capture = CU_STREAM_CAPTURE_STATUS_ACTIVE;
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamBeginCapture(CUstream hStream)
{
	return begin_capture(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL, false);
}

SIM_API CUresult cuStreamBeginCapture_ptsz(CUstream hStream)
{
	return begin_capture(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL, true);
}

SIM_API CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	return begin_capture(hStream, mode, false);
}

SIM_API CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
	return begin_capture(hStream, mode, true);
}

static CUresult end_capture(CUstream h, CUgraph *phGraph, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!phGraph)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS && s->capture == CU_STREAM_CAPTURE_STATUS_NONE) {
		rc = CUDA_ERROR_ILLEGAL_STATE;
	} else if (rc == CUDA_SUCCESS) {
		struct sim_graph *g = s->capture_graph;
		bool invalid = s->capture == CU_STREAM_CAPTURE_STATUS_INVALIDATED;
		s->capture = CU_STREAM_CAPTURE_STATUS_NONE;
		s->capture_graph = NULL;
		if (invalid) {
			graph_free(g);
			*phGraph = NULL;
			rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		} else {
			*phGraph = (CUgraph)g;
		}
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	return end_capture(hStream, phGraph, false);
}

SIM_API CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	return end_capture(hStream, phGraph, true);
}

static CUresult is_capturing(CUstream h, CUstreamCaptureStatus *status, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!status)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_stream *s;
	rc = sim_stream_resolve(h, ptsz, &s);
	if (rc == CUDA_SUCCESS)
		*status = s->capture;
	sim_unlock();
	return rc;
}

SIM_API CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return is_capturing(hStream, captureStatus, false);
}

SIM_API CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return is_capturing(hStream, captureStatus, true);
}

/* ---- graphs -------------------------------------------------------------------------- */

SIM_API CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	struct sim_ctx *ctx;
	CUresult rc = sim_current_ctx(&ctx);
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!phGraph || flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	sim_lock();
	struct sim_graph *g = sim_graph_new(ctx);
	sim_unlock();
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*phGraph = (CUgraph)g;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuGraphDestroy(CUgraph hGraph)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_graph *g = graph_find(hGraph);
	if (g)
		graph_free(g);
	sim_unlock();
	return g ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult instantiate(CUgraphExec *phGraphExec, CUgraph hGraph)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	if (!phGraphExec)
		return CUDA_ERROR_INVALID_VALUE;
	struct sim_graph_exec *x = calloc(1, sizeof(*x));
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	sim_lock();
	struct sim_graph *g = graph_find(hGraph);
	if (!g) {
		rc = CUDA_ERROR_INVALID_VALUE;
	} else if (g->count) {
		x->nodes = malloc(g->count * sizeof(*x->nodes));
		if (!x->nodes)
			rc = CUDA_ERROR_OUT_OF_MEMORY;
		else
			memcpy(x->nodes, g->nodes, g->count * sizeof(*x->nodes));
	}
	if (rc != CUDA_SUCCESS) {
		sim_unlock();
		free(x);
		return rc;
	}
	x->magic = EXEC_MAGIC;
	x->count = g->count;
	x->next = execs;
	execs = x;
	sim_unlock();
	*phGraphExec = (CUgraphExec)x;
	return CUDA_SUCCESS;
}

SIM_API CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
                                    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return instantiate(phGraphExec, hGraph);
}

SIM_API CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                                       CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return instantiate(phGraphExec, hGraph);
}

SIM_API CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                             unsigned long long flags)
{
	if (flags & ~(unsigned long long)(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
	                                  CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY))
		return CUDA_ERROR_INVALID_VALUE;
	return instantiate(phGraphExec, hGraph);
}

static CUresult instantiate_params(CUgraphExec *phGraphExec, CUgraph hGraph,
                                   CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = instantiate(phGraphExec, hGraph);
	p->hErrNode_out = NULL;
	p->result_out =
	        rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
	return rc;
}

SIM_API CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                              CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	return instantiate_params(phGraphExec, hGraph, instantiateParams);
}

SIM_API CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                   CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
	return instantiate_params(phGraphExec, hGraph, instantiateParams);
}

static struct sim_graph_exec *exec_find(CUgraphExec h)
{
	for (struct sim_graph_exec *x = execs; x; x = x->next)
		if (x == (struct sim_graph_exec *)h)
			return x->magic == EXEC_MAGIC ? x : NULL;
	return NULL;
}

static CUresult graph_launch(CUgraphExec hGraphExec, CUstream hStream, bool ptsz)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_graph_exec *x = exec_find(hGraphExec);
	struct sim_stream *s = NULL;
	if (!x)
		rc = CUDA_ERROR_INVALID_VALUE;
	if (rc == CUDA_SUCCESS)
		rc = sim_stream_resolve(hStream, ptsz, &s);
	/* sim_launch may drop the lock while the launch queue is full; the
	 * executable graph's nodes are not freed meanwhile unless destroyed by
	 * the caller concurrently, which the real driver forbids as well. */
	for (size_t i = 0; rc == CUDA_SUCCESS && i < x->count; i++) {
		struct sim_kernel_call call = x->nodes[i];
		rc = sim_launch(s, &call);
	}
	sim_unlock();
	return rc;
}

SIM_API CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	return graph_launch(hGraphExec, hStream, false);
}

SIM_API CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	return graph_launch(hGraphExec, hStream, true);
}

SIM_API CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	CUresult rc = sim_check_init();
	if (rc != CUDA_SUCCESS)
		return rc;
	sim_lock();
	struct sim_graph_exec **pp = &execs;
	while (*pp && *pp != (struct sim_graph_exec *)hGraphExec)
		pp = &(*pp)->next;
	struct sim_graph_exec *x = *pp;
	if (x)
		*pp = x->next;
	sim_unlock();
	if (!x)
		return CUDA_ERROR_INVALID_VALUE;
	free(x->nodes);
	free(x);
	return CUDA_SUCCESS;
}
