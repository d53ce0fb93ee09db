/*
 * The HTTP server module (src/kube/http.h) over real loopback sockets:
 * listen-address parsing, routing (200, HEAD, 404, 405 with Allow), the
 * request body and its limit (announced and chunked), strict query
 * parameters, a handler that answers nothing, start errors, concurrent
 * clients on the bounded pool, and a graceful stop that lets a request in
 * progress finish and then refuses connections.
 *
 * The client is a few lines of sockets: one request per connection
 * ("Connection: close"), read to EOF with a receive timeout, so no test can
 * hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kube/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- a minimal client ------------------------------------------------------ */

struct reply {
	int status; /* 0: no status line (connection closed or reset) */
	char head[4096];
	char *body;
	size_t body_len;
};

static int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may close early (413): not an error here */
		off += (size_t)n;
	}
}

/* Reads the whole reply and splits it into status, head and body. */
static void read_reply(int fd, struct reply *r)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	memset(r, 0, sizeof(*r));
	char *end = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) == 0 && end) {
		r->status = atoi(buf + 9);
		size_t hlen = (size_t)(end - buf);
		if (hlen >= sizeof(r->head))
			hlen = sizeof(r->head) - 1;
		memcpy(r->head, buf, hlen);
		r->head[hlen] = '\0';
		r->body_len = len - (size_t)(end + 4 - buf);
		r->body = malloc(r->body_len + 1);
		assert_non_null(r->body);
		memcpy(r->body, end + 4, r->body_len);
		r->body[r->body_len] = '\0';
	}
	free(buf);
}

/* One request: method, target, extra header lines ("" or "X: y\r\n"), body. */
static void request(uint16_t port, const char *method, const char *target, const char *headers,
                    const char *body, size_t body_len, struct reply *r)
{
	int fd = connect_to(port);
	assert_true(fd >= 0);
	char head[1024];
	int n = snprintf(head, sizeof(head),
	                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method,
	                 target, headers);
	if (body)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n",
		              body_len);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	send_all(fd, head, (size_t)n);
	if (body)
		send_all(fd, body, body_len);
	read_reply(fd, r);
	close(fd);
}

static void get(uint16_t port, const char *target, struct reply *r)
{
	request(port, "GET", target, "", NULL, 0, r);
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* The head holds this header line (case-sensitive as libmicrohttpd writes it). */
static bool has_header(const struct reply *r, const char *line)
{
	return strstr(r->head, line) != NULL;
}

/* ---- handlers ------------------------------------------------------------ */

static void h_hello(const struct vxpu_http_request *req, struct vxpu_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "hello\n", 6);
}

/* Echoes the body, and its length in a header-free way: "LEN:" prefix. */
static void h_echo(const struct vxpu_http_request *req, struct vxpu_http_response *resp, void *ctx)
{
	(void)ctx;
	char *out = malloc(req->body_len + 32);
	int n = snprintf(out, 32, "%zu:", req->body_len);
	memcpy(out + n, req->body, req->body_len);
	vxpu_http_respond_take(resp, 201, "application/octet-stream", out,
	                       (size_t)n + req->body_len);
}

static void h_query(const struct vxpu_http_request *req, struct vxpu_http_response *resp, void *ctx)
{
	(void)ctx;
	static const char *const allowed[] = {"a", "b", NULL};
	if (vxpu_http_query_check(req, allowed, resp) != 0)
		return;
	const char *a = vxpu_http_query(req, "a");
	char text[128];
	int n = snprintf(text, sizeof(text), "a=%s b=%s", a ? a : "(none)",
	                 vxpu_http_query(req, "b") ? vxpu_http_query(req, "b") : "(none)");
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, text, (size_t)n);
}

static void h_nothing(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                      void *ctx)
{
	(void)req;
	(void)resp;
	(void)ctx;
}

static void h_slow(const struct vxpu_http_request *req, struct vxpu_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	struct timespec t = {0, 400 * 1000 * 1000};
	nanosleep(&t, NULL);
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, "done\n", 5);
}

static void h_header(const struct vxpu_http_request *req, struct vxpu_http_response *resp,
                     void *ctx)
{
	(void)ctx;
	const char *v = vxpu_http_header(req, "x-probe"); /* any case */
	vxpu_http_respond(resp, 200, VXPU_HTTP_TEXT, v ? v : "-", v ? strlen(v) : 1);
}

static const struct vxpu_http_route routes[] = {
        {"GET", "/hello", h_hello, NULL},     {"POST", "/echo", h_echo, NULL},
        {"PUT", "/echo", h_echo, NULL},       {"GET", "/query", h_query, NULL},
        {"GET", "/nothing", h_nothing, NULL}, {"GET", "/slow", h_slow, NULL},
        {"GET", "/header", h_header, NULL},
};

#define BODY_LIMIT 4096

static struct vxpu_http_server *start(void)
{
	struct vxpu_http_config cfg = {
	        .name = "test",
	        .listen = "127.0.0.1:0",
	        .routes = routes,
	        .nroutes = sizeof(routes) / sizeof(routes[0]),
	        .body_limit = BODY_LIMIT,
	        .threads = 3,
	        .timeout_s = 10,
	};
	struct vxpu_http_server *s = NULL;
	char err[256] = "";
	int rc = vxpu_http_start(&cfg, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("start: %s", err);
	assert_non_null(s);
	assert_true(vxpu_http_port(s) > 0);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)vxpu_http_port(s));
	assert_string_equal(vxpu_http_address(s), want);
	assert_false(vxpu_http_is_tls(s));
	return s;
}

/* ---- tests --------------------------------------------------------------- */

static void test_listen_parse(void **state)
{
	(void)state;
	char host[64], err[256];
	uint16_t port = 1;
	assert_int_equal(vxpu_http_listen_parse("127.0.0.1:9400", host, sizeof(host), &port, err,
	                                        sizeof(err)),
	                 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9400);
	assert_int_equal(
	        vxpu_http_listen_parse("[::1]:0", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(vxpu_http_listen_parse("localhost:65535", host, sizeof(host), &port, err,
	                                        sizeof(err)),
	                 0);
	assert_int_equal(port, 65535);

	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	        {"", "empty listen address"},
	        {"9400", "want HOST:PORT"},
	        {":9400", "no host"},
	        {"127.0.0.1:", "port \"\" is not 0..65535"},
	        {"127.0.0.1:65536", "port \"65536\" is not 0..65535"},
	        {"127.0.0.1:94a0", "port \"94a0\""},
	        {"127.0.0.1:+80", "port \"+80\""},
	        {"::1:80", "needs brackets"},
	        {"[::1]80", "want [IPV6]:PORT"},
	        {"a b:80", "bad host"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		port = 7;
		assert_int_equal(vxpu_http_listen_parse(bad[i].text, host, sizeof(host), &port, err,
		                                        sizeof(err)),
		                 -1);
		if (!strstr(err, bad[i].why))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", bad[i].text, err, bad[i].why);
		assert_int_equal(port, 7); /* nothing changed */
	}
}

static void test_get_head_404_405(void **state)
{
	(void)state;
	struct vxpu_http_server *s = start();
	uint16_t port = vxpu_http_port(s);
	struct reply r;

	get(port, "/hello", &r);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
	assert_string_equal(r.body, "hello\n");
	reply_free(&r);

	request(port, "HEAD", "/hello", "", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);

	get(port, "/nope", &r);
	assert_int_equal(r.status, 404);
	assert_true(has_header(&r, "Content-Type: application/json"));
	assert_string_equal(r.body, "{\"error\":\"no such path \\\"/nope\\\"\"}\n");
	reply_free(&r);

	request(port, "DELETE", "/echo", "", NULL, 0, &r);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: POST, PUT"));
	assert_non_null(strstr(r.body, "method DELETE not allowed here (allowed: POST, PUT)"));
	reply_free(&r);

	request(port, "POST", "/hello", "", "x", 1, &r);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: GET, HEAD"));
	reply_free(&r);

	/* Headers reach the handler, looked up in any case. */
	request(port, "GET", "/header", "X-Probe: 42\r\n", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "42");
	reply_free(&r);

	vxpu_http_stop(s, 1000);
}

static void test_body(void **state)
{
	(void)state;
	struct vxpu_http_server *s = start();
	uint16_t port = vxpu_http_port(s);
	struct reply r;

	/* Exactly at the limit, with a NUL inside: delivered whole. */
	char *body = malloc(BODY_LIMIT);
	for (size_t i = 0; i < BODY_LIMIT; i++)
		body[i] = (char)('a' + i % 26);
	body[100] = '\0';
	request(port, "POST", "/echo", "", body, BODY_LIMIT, &r);
	assert_int_equal(r.status, 201);
	assert_true(has_header(&r, "Content-Type: application/octet-stream"));
	assert_int_equal(r.body_len, 5 + BODY_LIMIT);
	assert_memory_equal(r.body, "4096:", 5);
	assert_memory_equal(r.body + 5, body, BODY_LIMIT);
	reply_free(&r);

	/* An empty body. */
	request(port, "PUT", "/echo", "", "", 0, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "0:");
	reply_free(&r);

	/* One byte over, announced by Content-Length: 413, JSON. */
	char *big = malloc(BODY_LIMIT + 1);
	memset(big, 'x', BODY_LIMIT + 1);
	request(port, "POST", "/echo", "", big, BODY_LIMIT + 1, &r);
	assert_int_equal(r.status, 413);
	assert_true(has_header(&r, "Content-Type: application/json"));
	assert_string_equal(r.body, "{\"error\":\"request body over 4096 bytes\"}\n");
	reply_free(&r);

	/* An absurd announced length is refused without reading anything. */
	request(port, "POST", "/echo", "Content-Length: 99999999999999999999999\r\n", NULL, 0, &r);
	assert_true(r.status == 413 || r.status == 400);
	reply_free(&r);

	/* A chunked body that grows past the limit: never reaches the handler. */
	int fd = connect_to(port);
	assert_true(fd >= 0);
	const char *head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n";
	send_all(fd, head, strlen(head));
	char chunk[3000 + 16];
	int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 3000);
	memset(chunk + n, 'y', 3000);
	memcpy(chunk + n + 3000, "\r\n", 2);
	for (int i = 0; i < 3; i++)
		send_all(fd, chunk, (size_t)n + 3002);
	send_all(fd, "0\r\n\r\n", 5);
	read_reply(fd, &r);
	close(fd);
	/* The connection is dropped (libmicrohttpd cannot answer in the middle
	 * of a body; a later version may send the 413): the handler never ran. */
	assert_true(r.status == 0 || r.status == 413);
	reply_free(&r);

	free(big);
	free(body);
	vxpu_http_stop(s, 1000);
}

static void test_query(void **state)
{
	(void)state;
	struct vxpu_http_server *s = start();
	uint16_t port = vxpu_http_port(s);
	struct reply r;

	get(port, "/query?a=1&b=two%20words", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "a=1 b=two words");
	reply_free(&r);

	get(port, "/query", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "a=(none) b=(none)");
	reply_free(&r);

	get(port, "/query?c=3", &r);
	assert_int_equal(r.status, 400);
	assert_true(has_header(&r, "Content-Type: application/json"));
	assert_string_equal(r.body,
	                    "{\"error\":\"unknown query parameter \\\"c\\\" (known: a, b)\","
	                    "\"parameter\":\"c\",\"value\":\"3\"}\n");
	reply_free(&r);

	get(port, "/query?a=1&a=2", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "{\"error\":\"query parameter \\\"a\\\" given twice\","
	                            "\"parameter\":\"a\",\"value\":\"2\"}\n");
	reply_free(&r);

	/* A value that is not printable ASCII is echoed safely. */
	get(port, "/query?zz=%C3%A9%0A", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"value\":\"???\""));
	reply_free(&r);

	/* Too many parameters. */
	char target[512] = "/query?";
	for (int i = 0; i <= VXPU_HTTP_MAX_QUERY; i++)
		snprintf(target + strlen(target), sizeof(target) - strlen(target), "a%d=1&", i);
	get(port, target, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "more than 32 query parameters"));
	reply_free(&r);

	/* A handler that answers nothing: 500, JSON. */
	get(port, "/nothing", &r);
	assert_int_equal(r.status, 500);
	assert_non_null(strstr(r.body, "handler set no response"));
	reply_free(&r);

	vxpu_http_stop(s, 1000);
}

static void test_start_errors(void **state)
{
	(void)state;
	char err[512];
	struct vxpu_http_server *s = (struct vxpu_http_server *)&err; /* must be reset */
	static const struct vxpu_http_route twice[] = {{"GET", "/a", h_hello, NULL},
	                                               {"GET", "/a", h_hello, NULL}};
	struct vxpu_http_config cfg = {.listen = "127.0.0.1:0", .routes = twice, .nroutes = 2};
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_string_equal(err, "routes[1]: GET /a is routed twice");

	static const struct vxpu_http_route relative[] = {{"GET", "a", h_hello, NULL}};
	cfg.routes = relative;
	cfg.nroutes = 1;
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "routes[0].path: must start with '/'");

	static const struct vxpu_http_route lower[] = {{"get", "/a", h_hello, NULL}};
	cfg.routes = lower;
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "routes[0].method: want an upper-case method");

	cfg.routes = routes;
	cfg.nroutes = 1;
	cfg.listen = "127.0.0.1:x";
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid listen address \"127.0.0.1:x\""));

	cfg.listen = "127.0.0.1:0";
	cfg.tls_cert_file = "/nonexistent/cert.pem";
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "HTTPS needs both a certificate and a key file (only the "
	                         "certificate given)");
	cfg.tls_key_file = "/nonexistent/key.pem";
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "--tls-cert \"/nonexistent/cert.pem\": No such file or directory");

	char notpem[] = "/tmp/vxpu-test-http-XXXXXX";
	int fd = mkstemp(notpem);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	cfg.tls_cert_file = notpem;
	cfg.tls_key_file = notpem;
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), "--tls-cert \"%s\": not a PEM file", notpem);
	assert_string_equal(err, want);
	unlink(notpem);

	/* A port in use is named with the address. */
	cfg.tls_cert_file = cfg.tls_key_file = NULL;
	struct vxpu_http_server *first = start();
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)vxpu_http_port(first));
	cfg.listen = addr;
	assert_int_equal(vxpu_http_start(&cfg, &s, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot listen on %s: Address already in use", addr);
	assert_string_equal(err, want);
	vxpu_http_stop(first, 1000);
	vxpu_http_stop(NULL, 0);
}

struct client_arg {
	uint16_t port;
	const char *target;
	int ok;
	int rounds;
};

static void *client_thread(void *p)
{
	struct client_arg *a = p;
	for (int i = 0; i < a->rounds; i++) {
		struct reply r;
		get(a->port, a->target, &r);
		if (r.status == 200 &&
		    (strcmp(r.body, "hello\n") == 0 || strcmp(r.body, "done\n") == 0))
			a->ok++;
		reply_free(&r);
	}
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	(void)state;
	struct vxpu_http_server *s = start();
	enum { THREADS = 8, ROUNDS = 25 };
	pthread_t t[THREADS];
	struct client_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct client_arg){vxpu_http_port(s), "/hello", 0, ROUNDS};
		assert_int_equal(pthread_create(&t[i], NULL, client_thread, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, ROUNDS);
	}
	vxpu_http_stop(s, 1000);
}

/* Connections in flight when the stop begins. */
static void test_graceful_stop(void **state)
{
	(void)state;
	struct vxpu_http_server *s = start();
	uint16_t port = vxpu_http_port(s);
	pthread_t t;
	struct client_arg a = {port, "/slow", 0, 1};
	assert_int_equal(pthread_create(&t, NULL, client_thread, &a), 0);
	/* Let the request reach its handler (which sleeps 400 ms). */
	struct timespec d = {0, 150 * 1000 * 1000};
	nanosleep(&d, NULL);
	vxpu_http_stop(s, 5000);
	pthread_join(t, NULL);
	assert_int_equal(a.ok, 1);
	/* Stopped: nobody listens on the port any more. */
	int fd = connect_to(port);
	if (fd >= 0)
		close(fd);
	assert_true(fd < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_listen_parse),  cmocka_unit_test(test_get_head_404_405),
	        cmocka_unit_test(test_body),          cmocka_unit_test(test_query),
	        cmocka_unit_test(test_start_errors),  cmocka_unit_test(test_concurrent_clients),
	        cmocka_unit_test(test_graceful_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
