/*
 * http.h - the HTTP(S) server of vxpu's daemons: `vxpu serve`, and later
 * the scheduler extender, the admission webhook and the node agent's
 * /metrics. Built on libmicrohttpd; HTTPS through its GnuTLS support.
 *
 *   static void healthz(const struct vxpu_http_request *req,
 *                       struct vxpu_http_response *resp, void *ctx)
 *   {
 *           vxpu_http_respond(resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
 *   }
 *   static const struct vxpu_http_route routes[] = {{"GET", "/healthz", healthz, NULL}};
 *   struct vxpu_http_config cfg = {.name = "serve", .listen = "127.0.0.1:9400",
 *                                  .routes = routes, .nroutes = 1};
 *   vxpu_http_block_stop_signals();          // before any thread starts
 *   vxpu_http_start(&cfg, &server, err, sizeof(err));
 *   vxpu_http_wait_stop_signal();            // SIGINT or SIGTERM
 *   vxpu_http_stop(server, 5000);            // graceful
 *
 * Contract:
 *   - Routing is by exact path, then method. A path no route has is 404; a
 *     path some route has with another method is 405 with an Allow header.
 *     A GET route also answers HEAD (headers only). Error bodies are JSON
 *     objects {"error": "..."} (application/json), from the server and from
 *     vxpu_http_respond_error alike.
 *   - The request body is collected before the handler runs and never
 *     exceeds body_limit: a larger Content-Length is answered 413 without
 *     reading the body (the connection is closed after it); a chunked
 *     body that grows past the limit makes the server drop the connection
 *     (libmicrohttpd cannot answer in the middle of a body). Either way the
 *     handler never runs. More than VXPU_HTTP_MAX_QUERY query parameters
 *     is 400.
 *   - Handlers run on a bounded pool of `threads` threads, concurrently;
 *     a handler that touches shared state locks it. A handler that sets no
 *     response yields 500. Connections idle for timeout_s are closed;
 *     at most max_connections are open at once (others wait in the kernel's
 *     accept queue or are refused).
 *   - One access-log line per request at info level through common/log.h:
 *     msg="http request" server= remote= method= path= status= bytes= ms=.
 *   - vxpu_http_stop stops accepting at once, lets requests in progress
 *     finish (up to grace_ms), then closes every connection and joins the
 *     threads. No handler runs after it returns.
 * Nothing here is process-global except the signal helpers, which change
 * the calling thread's signal mask and SIGPIPE's disposition.
 */
#ifndef VXPU_KUBE_HTTP_H
#define VXPU_KUBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define VXPU_HTTP_BODY_LIMIT_DEFAULT ((size_t)1 << 20) /* 1 MiB */
#define VXPU_HTTP_THREADS_DEFAULT 4u
#define VXPU_HTTP_CONNECTIONS_DEFAULT 64u
#define VXPU_HTTP_TIMEOUT_DEFAULT_S 30u
#define VXPU_HTTP_MAX_QUERY 32
#define VXPU_HTTP_JSON "application/json"
#define VXPU_HTTP_TEXT "text/plain; charset=utf-8"

/* One query parameter, percent-decoded; value is "" for "?name". */
struct vxpu_http_param {
	const char *name;
	const char *value;
};

/* What a handler sees. Every pointer is valid during the handler only. */
struct vxpu_http_request {
	const char *method; /* "GET", "POST", ... ("HEAD" reaches GET routes) */
	const char *path;   /* decoded path, without the query */
	const char *remote; /* "127.0.0.1:51234", "[::1]:51234" */
	const char *body;   /* NUL-terminated (a NUL inside is possible); "" if none */
	size_t body_len;
	size_t nquery;
	const struct vxpu_http_param *query; /* in the order of the request */
	void *connection;                    /* internal: for vxpu_http_header */
};

/* What a handler fills, through the vxpu_http_respond* calls below. */
struct vxpu_http_response {
	int status; /* 0 = not set (the server answers 500) */
	char content_type[96];
	char *body; /* malloc'd; the server frees it */
	size_t body_len;
};

typedef void (*vxpu_http_handler)(const struct vxpu_http_request *req,
                                  struct vxpu_http_response *resp, void *ctx);

struct vxpu_http_route {
	const char *method; /* upper case, e.g. "GET" */
	const char *path;   /* exact, starting with '/' */
	vxpu_http_handler handler;
	void *ctx;
};

struct vxpu_http_config {
	const char *name;                     /* names the server in log lines ("serve") */
	const char *listen;                   /* "HOST:PORT", see vxpu_http_listen_parse */
	const struct vxpu_http_route *routes; /* copied by vxpu_http_start */
	size_t nroutes;
	size_t body_limit;        /* bytes; 0 = VXPU_HTTP_BODY_LIMIT_DEFAULT */
	unsigned threads;         /* 0 = VXPU_HTTP_THREADS_DEFAULT */
	unsigned max_connections; /* 0 = VXPU_HTTP_CONNECTIONS_DEFAULT */
	unsigned timeout_s;       /* idle connection timeout; 0 = the default */
	/* HTTPS: both PEM files, or neither (plain HTTP). */
	const char *tls_cert_file;
	const char *tls_key_file;
};

/*
 * Splits "HOST:PORT": HOST is an IPv4 address, a bracketed IPv6 address
 * ("[::1]", the brackets are removed) or a host name; PORT is 0..65535 in
 * decimal (0 = any free port). 0, or -1 with a reason naming the text.
 */
int vxpu_http_listen_parse(const char *text, char *host, size_t hostcap, uint16_t *port, char *err,
                           size_t errlen);

struct vxpu_http_server;

/*
 * Validates the configuration (routes: method and path set, path starting
 * with '/', no (method, path) twice; TLS files readable, at most 1 MiB,
 * accepted by GnuTLS), binds, and starts serving. 0 and *out, or -1 with a
 * reason naming the field, the file or the address.
 */
int vxpu_http_start(const struct vxpu_http_config *cfg, struct vxpu_http_server **out, char *err,
                    size_t errlen);

/* The bound address, e.g. "127.0.0.1:9400" (the real port when 0 was asked). */
const char *vxpu_http_address(const struct vxpu_http_server *s);
uint16_t vxpu_http_port(const struct vxpu_http_server *s);
bool vxpu_http_is_tls(const struct vxpu_http_server *s);

/* Graceful stop (see above) and free. NULL is a no-op. */
void vxpu_http_stop(struct vxpu_http_server *s, unsigned grace_ms);

/* A request header (case-insensitive name), or NULL. */
const char *vxpu_http_header(const struct vxpu_http_request *req, const char *name);

/* The value of query parameter name (the first if repeated), or NULL. */
const char *vxpu_http_query(const struct vxpu_http_request *req, const char *name);

/*
 * Strict query: every parameter is one of allowed (NULL-terminated) and
 * appears once. Returns 0, or -1 after answering 400 naming the parameter.
 */
int vxpu_http_query_check(const struct vxpu_http_request *req, const char *const *allowed,
                          struct vxpu_http_response *resp);

/* Sets the response to a copy of body (len bytes). */
void vxpu_http_respond(struct vxpu_http_response *resp, int status, const char *content_type,
                       const char *body, size_t len);

/* Sets the response to body (malloc'd, len bytes), which the server frees.
 * body NULL means out of memory: the response becomes 500. */
void vxpu_http_respond_take(struct vxpu_http_response *resp, int status, const char *content_type,
                            char *body, size_t len);

/* Sets the response to the JSON document doc (consumed: deleted here). */
void vxpu_http_respond_json(struct vxpu_http_response *resp, int status, struct cJSON *doc);

/* {"error": MESSAGE} with status. */
void vxpu_http_respond_error(struct vxpu_http_response *resp, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* 400 {"error": MESSAGE, "parameter": name, "value": value}. value may be
 * NULL (a missing parameter). Bytes outside printable ASCII in the echoed
 * value are written as '?', so the document stays valid UTF-8. */
void vxpu_http_respond_bad_param(struct vxpu_http_response *resp, const char *name,
                                 const char *value, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/*
 * Blocks SIGINT and SIGTERM in the calling thread, so that threads started
 * afterwards (the server's) inherit the mask and the signals wait for
 * vxpu_http_wait_stop_signal (their action is reset to the default first:
 * a shell starts background jobs with SIGINT ignored, and an ignored signal
 * is discarded); ignores SIGPIPE (a peer that goes away must not kill the
 * daemon). Call before vxpu_http_start. 0 or -1.
 */
int vxpu_http_block_stop_signals(void);

/* Waits for SIGINT or SIGTERM (blocked first); returns the signal number. */
int vxpu_http_wait_stop_signal(void);

#endif
