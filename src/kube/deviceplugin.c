/*
 * deviceplugin.c - the kubelet device plugin server and its registration
 * (see deviceplugin.h).
 *
 * The server runs gRPC core's completion-queue API on one thread. Every
 * call is a small state machine with one tag per kind of batch:
 *   new    the call arrived: ask for the next one, then start
 *          {send initial metadata, receive the request} and
 *          {receive close on server};
 *   recv   the request is in: a unary method answers with
 *          {send message, send status} (or a status alone on error);
 *          ListAndWatch joins the watchers and is sent the list;
 *   send   a send finished; a watcher may be sent the next list;
 *   close  the client finished or cancelled.
 * A call is freed once it is closed and no send of it is in flight, so no
 * completion ever names freed memory. Health changes bump a generation;
 * the loop wakes every 50 ms (or on any event) and sends the list to each
 * idle watcher whose last list is older.
 *
 * Invariants: only the server thread touches calls; the cards' health is
 * read and written under `lock`; at shutdown the server is shut down and
 * all calls cancelled, and the queue is drained before anything is freed.
 */
#include "kube/deviceplugin.h"

/* The generated Registration service has a member named after its method,
 * "register", a C keyword; the messages are all this file uses. */
#define register register_rpc
#include "deviceplugin.pb-c.h"
#undef register

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum dp_method {
	M_UNKNOWN,
	M_OPTIONS,
	M_LIST_AND_WATCH,
	M_PREFERRED,
	M_ALLOCATE,
	M_PRE_START,
};

enum dp_tag_kind { T_NEW, T_RECV, T_SEND, T_CLOSE, T_SHUTDOWN };

struct dp_call;
struct dp_tag {
	struct dp_call *call;
	enum dp_tag_kind kind;
};

struct dp_call {
	struct vxpu_dp *p;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	enum dp_method method;
	grpc_byte_buffer *recv;
	grpc_byte_buffer *send;
	grpc_slice status_details;
	bool has_status_details;
	int cancelled;
	bool started, closed, send_pending, finished, watching;
	uint64_t sent_gen;
	struct dp_tag t_new, t_recv, t_send, t_close;
	struct dp_call *next; /* every live call */
};

struct vxpu_dp {
	struct vxpu_dp_options o;
	char socket_path[VXPU_DP_PATH_MAX + 80];
	struct stat socket_stat;
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t thread;
	atomic_bool stopping;
	atomic_ulong allocations;
	/* the last VXPU_DP_TIMES Allocate durations (server thread writes) */
	pthread_mutex_t times_lock;
	unsigned ntimes, next_time;
	uint64_t times_ns[VXPU_DP_TIMES];
	pthread_mutex_t lock; /* guards o.cards[].healthy and gen */
	uint64_t gen;
	struct dp_call *calls;
	struct dp_tag t_shutdown;
};

/* ---- messages ------------------------------------------------------------ */

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
	free(buf);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
	if (!bb)
		return NULL;
	grpc_byte_buffer_reader reader;
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return NULL;
	grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	ProtobufCMessage *m =
	        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

/* The device list: slices virtual IDs per card, with health and NUMA. */
static grpc_byte_buffer *list_message(struct vxpu_dp *p, uint64_t *gen)
{
	size_t total = 0;
	for (unsigned c = 0; c < p->o.ncards; c++)
		total += p->o.cards[c].slices;
	V1beta1__Device *devs = calloc(total ? total : 1, sizeof(*devs));
	V1beta1__Device **ptrs = calloc(
	        total ? total : 1,
	        sizeof(*ptrs)); /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	char(*ids)[VXPU_DEVICE_ID_MAX + 8] = calloc(total ? total : 1, sizeof(*ids));
	V1beta1__NUMANode *numa = calloc(p->o.ncards ? p->o.ncards : 1, sizeof(*numa));
	V1beta1__NUMANode **numa_ptrs =
	        calloc(p->o.ncards ? p->o.ncards : 1,
	               sizeof(*numa_ptrs)); /* NOLINT(bugprone-sizeof-expression) */
	V1beta1__TopologyInfo *topo = calloc(p->o.ncards ? p->o.ncards : 1, sizeof(*topo));
	grpc_byte_buffer *bb = NULL;
	if (!devs || !ptrs || !ids || !numa || !numa_ptrs || !topo)
		goto out;
	pthread_mutex_lock(&p->lock);
	*gen = p->gen;
	size_t n = 0;
	for (unsigned c = 0; c < p->o.ncards; c++) {
		const struct vxpu_dp_card *card = &p->o.cards[c];
		v1beta1__numanode__init(&numa[c]);
		v1beta1__topology_info__init(&topo[c]);
		numa[c].id = card->numa;
		numa_ptrs[c] = &numa[c];
		topo[c].n_nodes = 1;
		topo[c].nodes = &numa_ptrs[c];
		for (unsigned k = 0; k < card->slices; k++, n++) {
			v1beta1__device__init(&devs[n]);
			vxpu_dp_virtual_id(card->id, k, ids[n], sizeof(ids[n]));
			devs[n].id = ids[n];
			devs[n].health = card->healthy ? "Healthy" : "Unhealthy";
			devs[n].topology = card->numa >= 0 ? &topo[c] : NULL;
			ptrs[n] = &devs[n];
		}
	}
	pthread_mutex_unlock(&p->lock);
	V1beta1__ListAndWatchResponse resp = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
	resp.n_devices = n;
	resp.devices = ptrs;
	bb = pack(&resp.base);
out:
	free(devs);
	free(ptrs);
	free(ids);
	free(numa);
	free(numa_ptrs);
	free(topo);
	return bb;
}

static grpc_byte_buffer *options_message(void)
{
	V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	o.pre_start_required = 0;
	o.get_preferred_allocation_available = 1;
	return pack(&o.base);
}

/* The card part of a virtual ID, or "" when it is not one. */
static void card_of(const char *id, char *card, size_t cap)
{
	unsigned k;
	if (vxpu_dp_parse_virtual_id(id, card, cap, &k) != 0)
		card[0] = '\0';
}

static bool listed(char **ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* Must-include first, then IDs on cards already used, then the rest. */
static grpc_byte_buffer *preferred_message(grpc_byte_buffer *in, char *err, size_t errlen)
{
	V1beta1__PreferredAllocationRequest *req = (V1beta1__PreferredAllocationRequest *)unpack(
	        &v1beta1__preferred_allocation_request__descriptor, in);
	if (!req) {
		snprintf(err, errlen, "GetPreferredAllocation: the request does not parse");
		return NULL;
	}
	size_t nc = req->n_container_requests;
	V1beta1__ContainerPreferredAllocationResponse *rs = calloc(nc ? nc : 1, sizeof(*rs));
	V1beta1__ContainerPreferredAllocationResponse **rp =
	        calloc(nc ? nc : 1, sizeof(*rp)); /* NOLINT(bugprone-sizeof-expression) */
	char ***chosen = calloc(nc ? nc : 1, sizeof(*chosen));
	grpc_byte_buffer *bb = NULL;
	if (!rs || !rp || !chosen)
		goto out;
	for (size_t c = 0; c < nc; c++) {
		V1beta1__ContainerPreferredAllocationRequest *r = req->container_requests[c];
		size_t want = r->allocation_size > 0 ? (size_t)r->allocation_size : 0;
		size_t cap = r->n_available_deviceids + r->n_must_include_deviceids;
		chosen[c] = calloc(cap ? cap : 1, sizeof(char *));
		if (!chosen[c])
			goto out;
		size_t n = 0;
		for (size_t i = 0; i < r->n_must_include_deviceids && n < want; i++)
			if (!listed(chosen[c], n, r->must_include_deviceids[i]))
				chosen[c][n++] = r->must_include_deviceids[i];
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < r->n_available_deviceids && n < want; i++) {
				const char *id = r->available_deviceids[i];
				if (listed(chosen[c], n, id))
					continue;
				bool same_card = false;
				char card[VXPU_DEVICE_ID_MAX], other[VXPU_DEVICE_ID_MAX];
				card_of(id, card, sizeof(card));
				for (size_t j = 0; j < n && card[0] && !same_card; j++) {
					card_of(chosen[c][j], other, sizeof(other));
					same_card = strcmp(card, other) == 0;
				}
				if (pass == 1 || same_card)
					chosen[c][n++] = r->available_deviceids[i];
			}
		}
		v1beta1__container_preferred_allocation_response__init(&rs[c]);
		rs[c].n_deviceids = n;
		rs[c].deviceids = chosen[c];
		rp[c] = &rs[c];
	}
	V1beta1__PreferredAllocationResponse resp = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
	resp.n_container_responses = nc;
	resp.container_responses = rp;
	bb = pack(&resp.base);
out:
	if (chosen)
		for (size_t c = 0; c < nc; c++)
			free(chosen[c]);
	free(chosen);
	free(rs);
	free(rp);
	v1beta1__preferred_allocation_request__free_unpacked(req, NULL);
	if (!bb && !err[0])
		snprintf(err, errlen, "GetPreferredAllocation: out of memory");
	return bb;
}

/* One container's answer as protobuf-c objects; storage is owned by *s. */
struct answer_storage {
	struct vxpu_dp_answer answer;
	V1beta1__ContainerAllocateResponse resp;
	V1beta1__ContainerAllocateResponse__EnvsEntry env[VXPU_DP_MAX_ENV];
	V1beta1__ContainerAllocateResponse__EnvsEntry *env_ptrs[VXPU_DP_MAX_ENV];
	V1beta1__Mount mounts[VXPU_DP_MAX_MOUNTS];
	V1beta1__Mount *mount_ptrs[VXPU_DP_MAX_MOUNTS];
	V1beta1__DeviceSpec devices[VXPU_DP_MAX_DEVICES];
	V1beta1__DeviceSpec *device_ptrs[VXPU_DP_MAX_DEVICES];
};

static void answer_to_proto(struct answer_storage *s)
{
	struct vxpu_dp_answer *a = &s->answer;
	v1beta1__container_allocate_response__init(&s->resp);
	for (unsigned i = 0; i < a->nenv; i++) {
		v1beta1__container_allocate_response__envs_entry__init(&s->env[i]);
		s->env[i].key = a->env[i].name;
		s->env[i].value = a->env[i].value;
		s->env_ptrs[i] = &s->env[i];
	}
	for (unsigned i = 0; i < a->nmounts; i++) {
		v1beta1__mount__init(&s->mounts[i]);
		s->mounts[i].container_path = a->mounts[i].container_path;
		s->mounts[i].host_path = a->mounts[i].host_path;
		s->mounts[i].read_only = a->mounts[i].read_only;
		s->mount_ptrs[i] = &s->mounts[i];
	}
	for (unsigned i = 0; i < a->ndevices; i++) {
		v1beta1__device_spec__init(&s->devices[i]);
		s->devices[i].container_path = a->devices[i].container_path;
		s->devices[i].host_path = a->devices[i].host_path;
		s->devices[i].permissions = a->devices[i].permissions;
		s->device_ptrs[i] = &s->devices[i];
	}
	s->resp.n_envs = a->nenv;
	s->resp.envs = s->env_ptrs;
	s->resp.n_mounts = a->nmounts;
	s->resp.mounts = s->mount_ptrs;
	s->resp.n_devices = a->ndevices;
	s->resp.devices = s->device_ptrs;
}

static grpc_byte_buffer *allocate_message(struct vxpu_dp *p, grpc_byte_buffer *in, char *err,
                                          size_t errlen)
{
	V1beta1__AllocateRequest *req =
	        (V1beta1__AllocateRequest *)unpack(&v1beta1__allocate_request__descriptor, in);
	if (!req) {
		snprintf(err, errlen, "Allocate: the request does not parse");
		return NULL;
	}
	size_t nc = req->n_container_requests;
	struct answer_storage *st = calloc(nc ? nc : 1, sizeof(*st));
	V1beta1__ContainerAllocateResponse **rp =
	        calloc(nc ? nc : 1, sizeof(*rp)); /* NOLINT(bugprone-sizeof-expression) */
	struct vxpu_pod_allocation *alloc = malloc(sizeof(*alloc));
	grpc_byte_buffer *bb = NULL;
	if (!st || !rp || !alloc) {
		snprintf(err, errlen, "Allocate: out of memory");
		goto out;
	}
	for (size_t c = 0; c < nc; c++) {
		V1beta1__ContainerAllocateRequest *r = req->container_requests[c];
		unsigned container = 0;
		char why[512] = "";
		if (!p->o.lookup ||
		    p->o.lookup(p->o.lookup_ctx, (const char *const *)r->devices_ids,
		                r->n_devices_ids, alloc, &container, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "Allocate: %s",
			         why[0] ? why : "no allocation source");
			goto out;
		}
		if (vxpu_dp_answer(&p->o.answer, alloc, container, &st[c].answer, why,
		                   sizeof(why)) != 0) {
			snprintf(err, errlen, "Allocate: %s", why);
			goto out;
		}
		if (p->o.prepare && p->o.prepare(p->o.prepare_ctx, alloc, container, &st[c].answer,
		                                 why, sizeof(why)) != 0) {
			snprintf(err, errlen, "Allocate: %s", why);
			goto out;
		}
		answer_to_proto(&st[c]);
		rp[c] = &st[c].resp;
	}
	V1beta1__AllocateResponse resp = V1BETA1__ALLOCATE_RESPONSE__INIT;
	resp.n_container_responses = nc;
	resp.container_responses = rp;
	bb = pack(&resp.base);
	if (bb)
		atomic_fetch_add(&p->allocations, nc);
out:
	free(st);
	free(rp);
	free(alloc);
	v1beta1__allocate_request__free_unpacked(req, NULL);
	return bb;
}

/* ---- calls --------------------------------------------------------------- */

static void request_call(struct vxpu_dp *p)
{
	struct dp_call *c = calloc(1, sizeof(*c));
	if (!c)
		return; /* the next event retries */
	c->p = p;
	c->t_new = (struct dp_tag){c, T_NEW};
	c->t_recv = (struct dp_tag){c, T_RECV};
	c->t_send = (struct dp_tag){c, T_SEND};
	c->t_close = (struct dp_tag){c, T_CLOSE};
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	c->next = p->calls;
	p->calls = c;
	if (grpc_server_request_call(p->server, &c->call, &c->details, &c->md, p->cq, p->cq,
	                             &c->t_new) != GRPC_CALL_OK)
		c->closed = c->finished = true; /* freed by the sweep */
}

static void free_call(struct dp_call *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->send)
		grpc_byte_buffer_destroy(c->send);
	if (c->has_status_details)
		grpc_slice_unref(c->status_details);
	free(c);
}

/* Frees the calls that are done: closed, nothing in flight. */
static void sweep(struct vxpu_dp *p)
{
	for (struct dp_call **pp = &p->calls; *pp;) {
		struct dp_call *c = *pp;
		if (c->closed && !c->send_pending && (c->finished || c->watching || !c->started)) {
			*pp = c->next;
			free_call(c);
		} else {
			pp = &c->next;
		}
	}
}

static enum dp_method method_of(grpc_slice m)
{
	static const struct {
		const char *path;
		enum dp_method method;
	} table[] = {
	        {"/v1beta1.DevicePlugin/GetDevicePluginOptions", M_OPTIONS},
	        {"/v1beta1.DevicePlugin/ListAndWatch", M_LIST_AND_WATCH},
	        {"/v1beta1.DevicePlugin/GetPreferredAllocation", M_PREFERRED},
	        {"/v1beta1.DevicePlugin/Allocate", M_ALLOCATE},
	        {"/v1beta1.DevicePlugin/PreStartContainer", M_PRE_START},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (grpc_slice_str_cmp(m, table[i].path) == 0)
			return table[i].method;
	return M_UNKNOWN;
}

/* Sends a message and/or a final status. msg NULL: status only. */
static void send_reply(struct dp_call *c, grpc_byte_buffer *msg, grpc_status_code code,
                       const char *details)
{
	grpc_op ops[2];
	memset(ops, 0, sizeof(ops));
	size_t n = 0;
	if (msg) {
		c->send = msg;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = msg;
		n++;
	}
	c->status_details = grpc_slice_from_copied_string(details ? details : "");
	c->has_status_details = true;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = details ? &c->status_details : NULL;
	n++;
	c->send_pending = true;
	if (grpc_call_start_batch(c->call, ops, n, &c->t_send, NULL) != GRPC_CALL_OK) {
		c->send_pending = false;
		c->finished = true;
	}
}

static void on_new(struct dp_call *c, bool ok)
{
	struct vxpu_dp *p = c->p;
	if (!ok) { /* the server is shutting down */
		c->closed = c->finished = true;
		return;
	}
	request_call(p);
	c->started = true;
	c->method = method_of(c->details.method);
	grpc_op ops[2];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &c->recv;
	c->send_pending = true; /* the recv batch: the call may not be freed */
	if (grpc_call_start_batch(c->call, ops, 2, &c->t_recv, NULL) != GRPC_CALL_OK)
		c->send_pending = false;
	grpc_op close_op;
	memset(&close_op, 0, sizeof(close_op));
	close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	close_op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (grpc_call_start_batch(c->call, &close_op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
		c->closed = true;
}

static void on_recv(struct dp_call *c, bool ok)
{
	struct vxpu_dp *p = c->p;
	c->send_pending = false;
	if (!ok) {
		c->finished = true;
		return;
	}
	char err[640] = "";
	grpc_byte_buffer *reply = NULL;
	switch (c->method) {
	case M_OPTIONS:
		reply = options_message();
		break;
	case M_LIST_AND_WATCH:
		c->watching = true;
		c->sent_gen = UINT64_MAX; /* sent at the next push */
		return;
	case M_PREFERRED:
		reply = preferred_message(c->recv, err, sizeof(err));
		break;
	case M_ALLOCATE: {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		reply = allocate_message(p, c->recv, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_mutex_lock(&p->times_lock);
		p->times_ns[p->next_time] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ULL +
		                            (uint64_t)(t1.tv_nsec - t0.tv_nsec);
		p->next_time = (p->next_time + 1) % VXPU_DP_TIMES;
		if (p->ntimes < VXPU_DP_TIMES)
			p->ntimes++;
		pthread_mutex_unlock(&p->times_lock);
		break;
	}
	case M_PRE_START: {
		V1beta1__PreStartContainerResponse r = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
		reply = pack(&r.base);
		break;
	}
	default:
		send_reply(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "method not served by this plugin");
		return;
	}
	if (reply)
		send_reply(c, reply, GRPC_STATUS_OK, NULL);
	else
		send_reply(c, NULL,
		           c->method == M_ALLOCATE ? GRPC_STATUS_FAILED_PRECONDITION
		                                   : GRPC_STATUS_INVALID_ARGUMENT,
		           err[0] ? err : "cannot build the reply");
}

static void on_send(struct dp_call *c, bool ok)
{
	c->send_pending = false;
	if (c->send) {
		grpc_byte_buffer_destroy(c->send);
		c->send = NULL;
	}
	if (!c->watching || !ok)
		c->finished = true;
}

/* Sends the device list to every idle watcher that has not seen this generation. */
static void push_lists(struct vxpu_dp *p)
{
	pthread_mutex_lock(&p->lock);
	uint64_t gen = p->gen;
	pthread_mutex_unlock(&p->lock);
	for (struct dp_call *c = p->calls; c; c = c->next) {
		if (!c->watching || c->closed || c->finished || c->send_pending ||
		    c->sent_gen == gen)
			continue;
		uint64_t list_gen;
		grpc_byte_buffer *bb = list_message(p, &list_gen);
		if (!bb)
			continue;
		grpc_op op;
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = bb;
		c->send = bb;
		c->send_pending = true;
		c->sent_gen = list_gen;
		if (grpc_call_start_batch(c->call, &op, 1, &c->t_send, NULL) != GRPC_CALL_OK) {
			c->send_pending = false;
			c->finished = true;
		}
	}
}

static void handle(struct vxpu_dp *p, struct dp_tag *t, bool ok)
{
	(void)p;
	switch (t->kind) {
	case T_NEW:
		on_new(t->call, ok);
		break;
	case T_RECV:
		on_recv(t->call, ok);
		break;
	case T_SEND:
		on_send(t->call, ok);
		break;
	case T_CLOSE:
		t->call->closed = true;
		break;
	case T_SHUTDOWN:
		break;
	}
}

static void *serve_thread(void *arg)
{
	struct vxpu_dp *p = arg;
	request_call(p);
	while (!atomic_load(&p->stopping)) {
		gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		                                     gpr_time_from_millis(50, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(p->cq, deadline, NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			handle(p, ev.tag, ev.success != 0);
		push_lists(p);
		sweep(p);
	}
	/* Shutdown: no new calls, cancel the live ones, wait for every tag. */
	grpc_server_shutdown_and_notify(p->server, p->cq, &p->t_shutdown);
	grpc_server_cancel_all_calls(p->server);
	bool server_down = false;
	for (;;) {
		sweep(p);
		if (server_down && !p->calls)
			break;
		gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		                                     gpr_time_from_millis(1000, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(p->cq, deadline, NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct dp_tag *t = ev.tag;
		if (t->kind == T_SHUTDOWN) {
			server_down = true;
			continue;
		}
		if (t->kind == T_NEW && !ev.success) {
			t->call->closed = t->call->finished = true;
			continue;
		}
		handle(p, t, false);
	}
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

int vxpu_dp_start(struct vxpu_dp **out, const struct vxpu_dp_options *o, char *err, size_t errlen)
{
	if (o->ncards > VXPU_DP_MAX_CARDS) {
		snprintf(err, errlen, "more than %d cards", VXPU_DP_MAX_CARDS);
		return -1;
	}
	for (unsigned c = 0; c < o->ncards; c++) {
		if (o->cards[c].slices < 1 || o->cards[c].slices > 1024 ||
		    strstr(o->cards[c].id, "::") || !o->cards[c].id[0]) {
			snprintf(err, errlen,
			         "card %u (\"%s\"): needs an id without \"::\" and 1..1024 slices",
			         c, o->cards[c].id);
			return -1;
		}
	}
	struct vxpu_dp *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->o = *o;
	p->t_shutdown = (struct dp_tag){NULL, T_SHUTDOWN};
	if ((size_t)snprintf(p->socket_path, sizeof(p->socket_path), "%s/%s", o->plugin_dir,
	                     o->endpoint) >= sizeof(p->socket_path)) {
		snprintf(err, errlen, "socket path too long");
		free(p);
		return -1;
	}
	if (unlink(p->socket_path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot replace %s: %s", p->socket_path, strerror(errno));
		free(p);
		return -1;
	}
	grpc_init();
	p->cq = grpc_completion_queue_create_for_next(NULL);
	p->server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(p->server, p->cq, NULL);
	char addr[sizeof(p->socket_path) + 8];
	snprintf(addr, sizeof(addr), "unix:%s", p->socket_path);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(p->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		snprintf(err, errlen, "cannot listen on %s", p->socket_path);
		grpc_server_destroy(p->server);
		grpc_completion_queue_shutdown(p->cq);
		while (grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		               .type != GRPC_QUEUE_SHUTDOWN) {
		}
		grpc_completion_queue_destroy(p->cq);
		grpc_shutdown();
		free(p);
		return -1;
	}
	grpc_server_start(p->server);
	if (stat(p->socket_path, &p->socket_stat) != 0)
		memset(&p->socket_stat, 0, sizeof(p->socket_stat));
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->stopping, false);
	atomic_init(&p->allocations, 0);
	pthread_mutex_init(&p->times_lock, NULL);
	if (pthread_create(&p->thread, NULL, serve_thread, p) != 0) {
		snprintf(err, errlen, "cannot start the plugin thread");
		grpc_server_shutdown_and_notify(p->server, p->cq, &p->t_shutdown);
		grpc_server_cancel_all_calls(p->server);
		grpc_completion_queue_pluck(p->cq, &p->t_shutdown,
		                            gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_server_destroy(p->server);
		grpc_completion_queue_shutdown(p->cq);
		while (grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		               .type != GRPC_QUEUE_SHUTDOWN) {
		}
		grpc_completion_queue_destroy(p->cq);
		grpc_shutdown();
		unlink(p->socket_path);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int vxpu_dp_register(struct vxpu_dp *p, char *err, size_t errlen)
{
	char target[VXPU_DP_PATH_MAX + 32];
	snprintf(target, sizeof(target), "unix:%s/kubelet.sock", p->o.plugin_dir);
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline =
	        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_static_string("/v1beta1.Registration/Register");
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
	                                           NULL, deadline, NULL);

	V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	opts.get_preferred_allocation_available = 1;
	V1beta1__RegisterRequest req = V1BETA1__REGISTER_REQUEST__INIT;
	req.version = "v1beta1";
	req.endpoint = p->o.endpoint;
	req.resource_name = p->o.resource;
	req.options = &opts;
	grpc_byte_buffer *send = pack(&req.base);

	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_byte_buffer *recv = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	int rc = -1;
	static int tag;
	if (send && grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK) {
		grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (status == GRPC_STATUS_OK) {
			rc = 0;
		} else {
			snprintf(err, errlen,
			         "registering %s with kubelet at %s/kubelet.sock: %.*s (status %d)",
			         p->o.resource, p->o.plugin_dir, (int)GRPC_SLICE_LENGTH(details),
			         (const char *)GRPC_SLICE_START_PTR(details), (int)status);
		}
	} else {
		snprintf(err, errlen, "registering %s: cannot start the call", p->o.resource);
	}
	if (send)
		grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
	               .type != GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	return rc;
}

void vxpu_dp_set_health(struct vxpu_dp *p, unsigned card, bool healthy)
{
	if (card >= p->o.ncards)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->o.cards[card].healthy != healthy) {
		p->o.cards[card].healthy = healthy;
		p->gen++;
	}
	pthread_mutex_unlock(&p->lock);
}

bool vxpu_dp_socket_gone(const struct vxpu_dp *p)
{
	struct stat sb;
	if (stat(p->socket_path, &sb) != 0)
		return true;
	return sb.st_ino != p->socket_stat.st_ino || sb.st_dev != p->socket_stat.st_dev;
}

unsigned vxpu_dp_allocate_times(struct vxpu_dp *p, uint64_t *out_ns, unsigned cap)
{
	pthread_mutex_lock(&p->times_lock);
	unsigned n = p->ntimes < cap ? p->ntimes : cap;
	for (unsigned i = 0; i < n; i++)
		out_ns[i] = p->times_ns[(p->next_time + VXPU_DP_TIMES - n + i) % VXPU_DP_TIMES];
	pthread_mutex_unlock(&p->times_lock);
	return n;
}

unsigned long vxpu_dp_allocations(const struct vxpu_dp *p)
{
	return atomic_load(&p->allocations);
}

void vxpu_dp_stop(struct vxpu_dp *p)
{
	if (!p)
		return;
	atomic_store(&p->stopping, true);
	pthread_join(p->thread, NULL);
	grpc_server_destroy(p->server);
	grpc_completion_queue_shutdown(p->cq);
	while (grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(p->cq);
	struct stat sb;
	if (stat(p->socket_path, &sb) == 0 && sb.st_ino == p->socket_stat.st_ino)
		unlink(p->socket_path);
	pthread_mutex_destroy(&p->lock);
	free(p);
	grpc_shutdown();
}
