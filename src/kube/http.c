/*
 * http.c - the HTTP(S) server behind http.h, on libmicrohttpd.
 *
 * Threads: libmicrohttpd runs a fixed pool of polling threads (one when
 * threads is 1), each accepting from the shared listening socket and
 * running handlers to completion; there is no thread per connection, so
 * the number of threads is bounded whatever the clients do.
 *
 * The listening socket is ours (bound here, handed to libmicrohttpd), so
 * that address errors name the address and port 0 can be resolved to the
 * real port. Stopping quiesces the daemon first (the socket leaves the
 * poll sets: no new connection is accepted), waits for the requests in
 * flight, then stops the daemon, which joins its threads.
 *
 * A request's life: the first call of the access handler (headers read)
 * creates its exchange, counts it in flight and refuses an announced body
 * over the limit; body calls append to the exchange's buffer; the last
 * call routes and answers. libmicrohttpd's completion callback frees the
 * exchange and ends the in-flight count, whatever way the request ended.
 */
#include "kube/http.h"

#include "common/log.h"
#include "core/fail.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_FILE_MAX ((size_t)1 << 20)

struct vxpu_http_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	char name[64];
	char address[160];
	uint16_t port;
	bool tls;
	size_t body_limit;
	struct vxpu_http_route *routes;
	size_t nroutes;
	char *tls_cert;
	char *tls_key;
	_Atomic int in_flight;
	/* libmicrohttpd's messages while starting, for the start error. */
	pthread_mutex_t start_lock;
	bool starting;
	char start_msg[256];
};

struct exchange {
	struct timespec started;
	char *body;
	size_t len, cap;
	bool too_large;
	bool answered; /* a response is queued (early refusal) */
	size_t nquery;
	bool query_overflow;
	struct vxpu_http_param query[VXPU_HTTP_MAX_QUERY];
};

/* ---- listening address ------------------------------------------------- */

int vxpu_http_listen_parse(const char *text, char *host, size_t hostcap, uint16_t *port, char *err,
                           size_t errlen)
{
	if (!text || !*text)
		return vxpu_fail(err, errlen, "empty listen address (want HOST:PORT)");
	const char *colon;
	const char *hbeg = text;
	size_t hlen;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return vxpu_fail(err, errlen,
			                 "invalid listen address \"%s\": want [IPV6]:PORT", text);
		hbeg = text + 1;
		hlen = (size_t)(close - hbeg);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return vxpu_fail(err, errlen,
			                 "invalid listen address \"%s\": want HOST:PORT", text);
		hlen = (size_t)(colon - text);
		if (memchr(text, ':', hlen))
			return vxpu_fail(
			        err, errlen,
			        "invalid listen address \"%s\": an IPv6 address needs brackets, "
			        "as in [::1]:9400",
			        text);
	}
	if (hlen == 0)
		return vxpu_fail(
		        err, errlen,
		        "invalid listen address \"%s\": no host (use 0.0.0.0:PORT for every "
		        "interface)",
		        text);
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)hbeg[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == '[' || c == ']')
			return vxpu_fail(err, errlen, "invalid listen address \"%s\": bad host",
			                 text);
	}
	if (hlen + 1 > hostcap)
		return vxpu_fail(err, errlen, "invalid listen address \"%s\": host too long", text);
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen)
		return vxpu_fail(err, errlen,
		                 "invalid listen address \"%s\": port \"%s\" is not 0..65535", text,
		                 p);
	unsigned long v = strtoul(p, NULL, 10);
	if (v > 65535)
		return vxpu_fail(err, errlen,
		                 "invalid listen address \"%s\": port \"%s\" is not 0..65535", text,
		                 p);
	memcpy(host, hbeg, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* "1.2.3.4:80" or "[::1]:80" for a socket address. */
static void format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
	char h[INET6_ADDRSTRLEN + 8], serv[16];
	if (!sa || getnameinfo(sa, len, h, sizeof(h), serv, sizeof(serv),
	                       NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, cap, "unknown");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(buf, cap, "[%s]:%s", h, serv);
	else
		snprintf(buf, cap, "%s:%s", h, serv);
}

static int open_listener(struct vxpu_http_server *s, const char *listen_text, char *err,
                         size_t errlen)
{
	char host[256];
	uint16_t port = 0;
	if (vxpu_http_listen_parse(listen_text, host, sizeof(host), &port, err, errlen) != 0)
		return -1;
	char serv[8];
	snprintf(serv, sizeof(serv), "%u", (unsigned)port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host, serv, &hints, &res);
	if (gai != 0)
		return vxpu_fail(err, errlen, "cannot listen on %s: %s", listen_text,
		                 gai_strerror(gai));
	int saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		                ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
			saved = errno;
			close(fd);
			continue;
		}
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		socklen_t sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
			saved = errno;
			close(fd);
			continue;
		}
		format_sockaddr((struct sockaddr *)&ss, sl, s->address, sizeof(s->address));
		s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		                                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		s->listen_fd = fd;
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return vxpu_fail(err, errlen, "cannot listen on %s: %s", listen_text,
	                 saved ? strerror(saved) : "no usable address");
}

/* ---- responses ----------------------------------------------------------- */

static void response_reset(struct vxpu_http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

void vxpu_http_respond_take(struct vxpu_http_response *resp, int status, const char *content_type,
                            char *body, size_t len)
{
	response_reset(resp);
	if (!body) {
		vxpu_http_respond_error(resp, 500, "out of memory");
		return;
	}
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s",
	         content_type ? content_type : VXPU_HTTP_TEXT);
	resp->body = body;
	resp->body_len = len;
}

void vxpu_http_respond(struct vxpu_http_response *resp, int status, const char *content_type,
                       const char *body, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy) {
		if (len)
			memcpy(copy, body, len);
		copy[len] = '\0';
	}
	vxpu_http_respond_take(resp, status, content_type, copy, len);
}

/* The document's text with a final newline (malloc'd), or NULL. */
static char *json_text(const cJSON *doc, bool pretty, size_t *len)
{
	char *text = pretty ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *grown = realloc(text, n + 2);
	if (!grown) {
		free(text);
		return NULL;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	*len = n + 1;
	return grown;
}

void vxpu_http_respond_json(struct vxpu_http_response *resp, int status, struct cJSON *doc)
{
	size_t len = 0;
	char *text = doc ? json_text(doc, true, &len) : NULL;
	cJSON_Delete(doc);
	vxpu_http_respond_take(resp, status, VXPU_HTTP_JSON, text, len);
}

/* A last-resort body when even building the error document fails. */
static const char oom_body[] = "{\"error\":\"out of memory\"}\n";

static void respond_error_doc(struct vxpu_http_response *resp, int status, cJSON *doc)
{
	response_reset(resp);
	size_t len = 0;
	char *text = doc ? json_text(doc, false, &len) : NULL;
	cJSON_Delete(doc);
	if (!text) {
		text = strdup(oom_body);
		len = text ? sizeof(oom_body) - 1 : 0;
		status = 500;
	}
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", VXPU_HTTP_JSON);
	resp->body = text;
	resp->body_len = len;
}

void vxpu_http_respond_error(struct vxpu_http_response *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *doc = cJSON_CreateObject();
	if (doc && !cJSON_AddStringToObject(doc, "error", msg)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	respond_error_doc(resp, status, doc);
}

/* Printable ASCII copy of text (others as '?'), cut at cap - 1 bytes. */
static void printable(const char *text, char *buf, size_t cap)
{
	size_t j = 0;
	for (size_t i = 0; text[i] && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[j] = '\0';
}

void vxpu_http_respond_bad_param(struct vxpu_http_response *resp, const char *name,
                                 const char *value, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char safe_name[128], safe_value[256], safe_msg[512];
	printable(name, safe_name, sizeof(safe_name));
	printable(msg, safe_msg, sizeof(safe_msg));
	cJSON *doc = cJSON_CreateObject();
	bool ok = doc && cJSON_AddStringToObject(doc, "error", safe_msg) &&
	          cJSON_AddStringToObject(doc, "parameter", safe_name);
	if (ok && value) {
		printable(value, safe_value, sizeof(safe_value));
		ok = cJSON_AddStringToObject(doc, "value", safe_value) != NULL;
	} else if (ok) {
		ok = cJSON_AddNullToObject(doc, "value") != NULL;
	}
	if (!ok) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	respond_error_doc(resp, 400, doc);
}

/* ---- request helpers ----------------------------------------------------- */

const char *vxpu_http_header(const struct vxpu_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const char *vxpu_http_query(const struct vxpu_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	return NULL;
}

int vxpu_http_query_check(const struct vxpu_http_request *req, const char *const *allowed,
                          struct vxpu_http_response *resp)
{
	for (size_t i = 0; i < req->nquery; i++) {
		const struct vxpu_http_param *p = &req->query[i];
		bool known = false;
		for (size_t k = 0; allowed && allowed[k] && !known; k++)
			known = strcmp(allowed[k], p->name) == 0;
		if (!known) {
			char list[256] = "";
			size_t used = 0;
			for (size_t k = 0; allowed && allowed[k]; k++) {
				int n = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 k ? ", " : "", allowed[k]);
				if (n < 0 || (size_t)n >= sizeof(list) - used)
					break;
				used += (size_t)n;
			}
			char safe[128];
			printable(p->name, safe, sizeof(safe));
			vxpu_http_respond_bad_param(resp, p->name, p->value,
			                            "unknown query parameter \"%s\" (known: %s)",
			                            safe, used ? list : "none");
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(req->query[j].name, p->name) == 0) {
				char safe[128];
				printable(p->name, safe, sizeof(safe));
				vxpu_http_respond_bad_param(resp, p->name, p->value,
				                            "query parameter \"%s\" given twice",
				                            safe);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- serving ------------------------------------------------------------- */

static int64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void client_address(struct MHD_Connection *c, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                : sizeof(struct sockaddr_in);
	format_sockaddr(sa, len, buf, cap);
}

/*
 * Queues resp (its body is handed to libmicrohttpd) and writes the access
 * line. allow, when not NULL, is the Allow header of a 405.
 */
static enum MHD_Result answer(struct vxpu_http_server *s, struct MHD_Connection *c,
                              struct exchange *x, const char *method, const char *path,
                              struct vxpu_http_response *resp, const char *allow)
{
	if (resp->status < 100 || resp->status > 599) {
		int bad = resp->status;
		vxpu_http_respond_error(resp, 500, "internal error: handler set no response");
		if (bad != 0)
			vxpu_log(VXPU_LOG_ERROR, "http handler set an invalid status", "server",
			         s->name, "path", path, (char *)NULL);
	}
	struct MHD_Response *r;
	size_t bytes = resp->body_len;
	if (resp->body) {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
		                                    MHD_RESPMEM_MUST_FREE);
		if (r)
			resp->body = NULL; /* libmicrohttpd owns it now */
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	response_reset(resp);
	if (!r)
		return MHD_NO;
	if (resp->content_type[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	x->answered = true;
	if (rc != MHD_YES) {
		/* Too late to answer (in the middle of a body): the library
		 * drops the connection instead. */
		char remote[160];
		client_address(c, remote, sizeof(remote));
		vxpu_log(VXPU_LOG_INFO, "http request dropped", "server", s->name, "remote", remote,
		         "method", method, "path", path, "reason",
		         resp->status == 413 ? "body over the limit" : "response refused",
		         (char *)NULL);
	} else if (vxpu_log_enabled(VXPU_LOG_INFO)) {
		char remote[160], status[8], nbytes[24], ms[24];
		client_address(c, remote, sizeof(remote));
		snprintf(status, sizeof(status), "%d", resp->status);
		snprintf(nbytes, sizeof(nbytes), "%zu", bytes);
		snprintf(ms, sizeof(ms), "%lld", (long long)elapsed_ms(&x->started));
		vxpu_log(VXPU_LOG_INFO, "http request", "server", s->name, "remote", remote,
		         "method", method, "path", path, "status", status, "bytes", nbytes, "ms",
		         ms, (char *)NULL);
	}
	return rc;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	(void)kind;
	struct exchange *x = cls;
	if (x->nquery == VXPU_HTTP_MAX_QUERY) {
		x->query_overflow = true;
		return MHD_NO;
	}
	x->query[x->nquery].name = key ? key : "";
	x->query[x->nquery].value = value ? value : "";
	x->nquery++;
	return MHD_YES;
}

/* Routes a complete request and answers it. */
static enum MHD_Result dispatch(struct vxpu_http_server *s, struct MHD_Connection *c,
                                struct exchange *x, const char *method, const char *path)
{
	struct vxpu_http_response resp;
	memset(&resp, 0, sizeof(resp));
	if (x->too_large) {
		vxpu_http_respond_error(&resp, 413, "request body over %zu bytes", s->body_limit);
		return answer(s, c, x, method, path, &resp, NULL);
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, x);
	if (x->query_overflow) {
		vxpu_http_respond_error(&resp, 400, "more than %d query parameters",
		                        VXPU_HTTP_MAX_QUERY);
		return answer(s, c, x, method, path, &resp, NULL);
	}
	bool head = strcmp(method, "HEAD") == 0;
	const struct vxpu_http_route *route = NULL;
	bool path_known = false;
	for (size_t i = 0; i < s->nroutes && !route; i++) {
		const struct vxpu_http_route *r = &s->routes[i];
		if (strcmp(r->path, path) != 0)
			continue;
		path_known = true;
		if (strcmp(r->method, method) == 0 || (head && strcmp(r->method, "GET") == 0))
			route = r;
	}
	if (!route && !path_known) {
		char safe[256];
		printable(path, safe, sizeof(safe));
		vxpu_http_respond_error(&resp, 404, "no such path \"%s\"", safe);
		return answer(s, c, x, method, path, &resp, NULL);
	}
	if (!route) {
		char allow[128] = "";
		size_t used = 0;
		for (size_t i = 0; i < s->nroutes; i++) {
			if (strcmp(s->routes[i].path, path) != 0)
				continue;
			bool get = strcmp(s->routes[i].method, "GET") == 0;
			int n = snprintf(allow + used, sizeof(allow) - used, "%s%s%s",
			                 used ? ", " : "", s->routes[i].method,
			                 get ? ", HEAD" : "");
			if (n < 0 || (size_t)n >= sizeof(allow) - used)
				break;
			used += (size_t)n;
		}
		char safe[64];
		printable(method, safe, sizeof(safe));
		vxpu_http_respond_error(&resp, 405, "method %s not allowed here (allowed: %s)",
		                        safe, allow);
		return answer(s, c, x, method, path, &resp, allow);
	}
	char remote[160];
	client_address(c, remote, sizeof(remote));
	struct vxpu_http_request req = {
	        .method = method,
	        .path = path,
	        .remote = remote,
	        .body = x->body ? x->body : "",
	        .body_len = x->len,
	        .nquery = x->nquery,
	        .query = x->query,
	        .connection = c,
	};
	route->handler(&req, &resp, route->ctx);
	return answer(s, c, x, method, path, &resp, NULL);
}

/* The announced body length is over the limit (Content-Length). */
static bool announced_too_large(struct MHD_Connection *c, size_t limit)
{
	const char *cl =
	        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl || !*cl)
		return false;
	size_t n = strlen(cl);
	if (strspn(cl, "0123456789") != n)
		return false; /* libmicrohttpd refuses a malformed length itself */
	if (n > 19)
		return true;
	return strtoull(cl, NULL, 10) > limit;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct vxpu_http_server *s = cls;
	struct exchange *x = *con_cls;
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &x->started);
		*con_cls = x;
		atomic_fetch_add(&s->in_flight, 1);
		if (announced_too_large(c, s->body_limit)) {
			/* Answered before the body is read; libmicrohttpd then
			 * closes the connection instead of reading it. */
			x->too_large = true;
			return dispatch(s, c, x, method, url);
		}
		return MHD_YES;
	}
	if (x->answered)
		return MHD_NO;
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (x->too_large)
			return MHD_YES;
		if (n > s->body_limit - x->len) {
			/* A chunked body grew past the limit: answer now if the
			 * library lets us, else drop the connection. */
			x->too_large = true;
			free(x->body);
			x->body = NULL;
			x->len = x->cap = 0;
			return dispatch(s, c, x, method, url);
		}
		if (x->len + n + 1 > x->cap) {
			size_t cap = x->cap ? x->cap : 1024;
			while (cap < x->len + n + 1)
				cap *= 2;
			char *grown = realloc(x->body, cap);
			if (!grown)
				return MHD_NO;
			x->body = grown;
			x->cap = cap;
		}
		memcpy(x->body + x->len, upload, n);
		x->len += n;
		x->body[x->len] = '\0';
		return MHD_YES;
	}
	return dispatch(s, c, x, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
	(void)c;
	(void)code;
	struct vxpu_http_server *s = cls;
	struct exchange *x = *con_cls;
	if (!x)
		return;
	*con_cls = NULL;
	free(x->body);
	free(x);
	atomic_fetch_sub(&s->in_flight, 1);
}

static void on_library_message(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own diagnostics (bad requests, TLS handshakes, ...). */
static void on_library_message(void *cls, const char *fmt, va_list ap)
{
	struct vxpu_http_server *s = cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	pthread_mutex_lock(&s->start_lock);
	if (s->starting)
		snprintf(s->start_msg, sizeof(s->start_msg), "%s", msg);
	pthread_mutex_unlock(&s->start_lock);
	vxpu_log(VXPU_LOG_INFO, "http library message", "server", s->name, "detail", msg,
	         (char *)NULL);
}

/* Reads a PEM file (at most TLS_FILE_MAX bytes) into a NUL-terminated string. */
static char *read_pem(const char *flag, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vxpu_fail(err, errlen, "%s \"%s\": %s", flag, path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		vxpu_fail(err, errlen, "%s \"%s\": not a regular file", flag, path);
		return NULL;
	}
	if ((uint64_t)st.st_size > TLS_FILE_MAX || st.st_size == 0) {
		close(fd);
		vxpu_fail(err, errlen, "%s \"%s\": size %lld is not 1..%zu bytes", flag, path,
		          (long long)st.st_size, TLS_FILE_MAX);
		return NULL;
	}
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	size_t got = 0;
	while (buf && got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != size) {
		free(buf);
		vxpu_fail(err, errlen, "%s \"%s\": cannot read the file", flag, path);
		return NULL;
	}
	buf[size] = '\0';
	if (strlen(buf) != size || !strstr(buf, "-----BEGIN ")) {
		free(buf);
		vxpu_fail(err, errlen, "%s \"%s\": not a PEM file", flag, path);
		return NULL;
	}
	return buf;
}

static int check_routes(const struct vxpu_http_config *cfg, char *err, size_t errlen)
{
	if (cfg->nroutes && !cfg->routes)
		return vxpu_fail(err, errlen, "routes: none given for %zu", cfg->nroutes);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct vxpu_http_route *r = &cfg->routes[i];
		if (!r->method || !*r->method ||
		    strspn(r->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(r->method))
			return vxpu_fail(err, errlen,
			                 "routes[%zu].method: want an upper-case method", i);
		if (!r->path || r->path[0] != '/')
			return vxpu_fail(err, errlen, "routes[%zu].path: must start with '/'", i);
		if (!r->handler)
			return vxpu_fail(err, errlen, "routes[%zu] (%s %s): no handler", i,
			                 r->method, r->path);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->routes[j].method, r->method) == 0 &&
			    strcmp(cfg->routes[j].path, r->path) == 0)
				return vxpu_fail(err, errlen, "routes[%zu]: %s %s is routed twice",
				                 i, r->method, r->path);
	}
	return 0;
}

static void server_free(struct vxpu_http_server *s)
{
	if (!s)
		return;
	free(s->routes);
	free(s->tls_cert);
	free(s->tls_key);
	pthread_mutex_destroy(&s->start_lock);
	free(s);
}

int vxpu_http_start(const struct vxpu_http_config *cfg, struct vxpu_http_server **out, char *err,
                    size_t errlen)
{
	*out = NULL;
	if (check_routes(cfg, err, errlen) != 0)
		return -1;
	if (!cfg->tls_cert_file != !cfg->tls_key_file)
		return vxpu_fail(err, errlen,
		                 "HTTPS needs both a certificate and a key file (%s given)",
		                 cfg->tls_cert_file ? "only the certificate" : "only the key");
	struct vxpu_http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return vxpu_fail(err, errlen, "out of memory");
	s->listen_fd = -1;
	pthread_mutex_init(&s->start_lock, NULL);
	snprintf(s->name, sizeof(s->name), "%s", cfg->name && *cfg->name ? cfg->name : "http");
	s->body_limit = cfg->body_limit ? cfg->body_limit : VXPU_HTTP_BODY_LIMIT_DEFAULT;
	unsigned threads = cfg->threads ? cfg->threads : VXPU_HTTP_THREADS_DEFAULT;
	unsigned conns =
	        cfg->max_connections ? cfg->max_connections : VXPU_HTTP_CONNECTIONS_DEFAULT;
	unsigned timeout = cfg->timeout_s ? cfg->timeout_s : VXPU_HTTP_TIMEOUT_DEFAULT_S;
	if (conns < threads)
		conns = threads;
	if (cfg->nroutes) {
		s->routes = calloc(cfg->nroutes, sizeof(*s->routes));
		if (!s->routes) {
			server_free(s);
			return vxpu_fail(err, errlen, "out of memory");
		}
		memcpy(s->routes, cfg->routes, cfg->nroutes * sizeof(*s->routes));
	}
	s->nroutes = cfg->nroutes;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (cfg->tls_cert_file) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			server_free(s);
			return vxpu_fail(err, errlen,
			                 "HTTPS: this libmicrohttpd was built without TLS");
		}
		s->tls_cert = read_pem("--tls-cert", cfg->tls_cert_file, err, errlen);
		s->tls_key =
		        s->tls_cert ? read_pem("--tls-key", cfg->tls_key_file, err, errlen) : NULL;
		if (!s->tls_key) {
			server_free(s);
			return -1;
		}
		s->tls = true;
		flags |= MHD_USE_TLS;
	}
	if (open_listener(s, cfg->listen, err, errlen) != 0) {
		server_free(s);
		return -1;
	}
	/* The level is read once; read it before threads can race on it. */
	(void)vxpu_log_enabled(VXPU_LOG_INFO);
	struct MHD_OptionItem opts[12];
	size_t n = 0;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, conns, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, timeout, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
	if (threads > 1)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
	if (s->tls) {
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
	}
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	s->starting = true;
	s->daemon =
	        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	                         on_library_message, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	                         s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	pthread_mutex_lock(&s->start_lock);
	s->starting = false;
	pthread_mutex_unlock(&s->start_lock);
	if (!s->daemon) {
		vxpu_fail(err, errlen, "cannot start the %s server on %s%s%s%s",
		          s->tls ? "HTTPS" : "HTTP", s->address,
		          s->tls ? " (are the certificate and key a valid pair?)" : "",
		          s->start_msg[0] ? ": " : "", s->start_msg);
		close(s->listen_fd);
		server_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

const char *vxpu_http_address(const struct vxpu_http_server *s)
{
	return s->address;
}

uint16_t vxpu_http_port(const struct vxpu_http_server *s)
{
	return s->port;
}

bool vxpu_http_is_tls(const struct vxpu_http_server *s)
{
	return s->tls;
}

void vxpu_http_stop(struct vxpu_http_server *s, unsigned grace_ms)
{
	if (!s)
		return;
	/* Stop accepting; the socket comes back to us (closed below). */
	MHD_socket quiesced = MHD_quiesce_daemon(s->daemon);
	struct timespec since;
	clock_gettime(CLOCK_MONOTONIC, &since);
	while (atomic_load(&s->in_flight) > 0 && elapsed_ms(&since) < (int64_t)grace_ms) {
		struct timespec tick = {0, 10L * 1000 * 1000};
		nanosleep(&tick, NULL);
	}
	int left = atomic_load(&s->in_flight);
	if (left > 0) {
		char count[16];
		snprintf(count, sizeof(count), "%d", left);
		vxpu_log(VXPU_LOG_WARN, "http server stopping with requests in flight", "server",
		         s->name, "requests", count, (char *)NULL);
	}
	MHD_stop_daemon(s->daemon);
	/* Without a quiesce, stopping the daemon closed the socket. */
	if (quiesced != MHD_INVALID_SOCKET)
		close(quiesced);
	server_free(s);
}

/* ---- signals --------------------------------------------------------------- */

static void stop_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

int vxpu_http_block_stop_signals(void)
{
	sigset_t set;
	stop_signal_set(&set);
	/* A shell starts background jobs with SIGINT ignored; an ignored
	 * signal is discarded, not queued, so restore the default action (the
	 * signals are blocked below and only ever taken by sigwait). */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGINT, SIG_DFL) == SIG_ERR ||
	    signal(SIGTERM, SIG_DFL) == SIG_ERR)
		return -1;
	return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

int vxpu_http_wait_stop_signal(void)
{
	sigset_t set;
	stop_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig) == 0)
			return sig;
	}
}
