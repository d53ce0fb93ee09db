/*
 * kubeclient.h - a small Kubernetes API client (libcurl): the calls the
 * scheduler makes, with the API server's concurrency rules.
 *
 * Credentials:
 *   - in cluster: the service account's token, CA and namespace under
 *     /var/run/secrets/kubernetes.io/serviceaccount and the server from
 *     KUBERNETES_SERVICE_HOST / _PORT. The token file is projected and
 *     rotated by kubelet: it is stat'ed before every request and read again
 *     when it changed, so a rotation never interrupts the client;
 *   - a kubeconfig file (YAML, read with libyaml): the current context (or
 *     a named one), its cluster's server, CA (file or -data) and
 *     insecure-skip-tls-verify, its user's token, tokenFile or client
 *     certificate and key (files or -data). Relative paths are relative to
 *     the kubeconfig's folder. Exec and auth-provider plugins are refused
 *     with a message, not ignored.
 *
 * Requests: every call but the watch stream has a connect timeout and a
 * total timeout. Answers 429 and 5xx and transport failures (refused,
 * reset, timed out, dropped) are retried with exponential backoff (base,
 * doubling, capped, with jitter; Retry-After is honoured up to the cap), up
 * to a number of attempts. Non-idempotent calls are retried too: the
 * callers make them safe with preconditions (a merge patch that names the
 * resourceVersion it was computed from, a PUT with resourceVersion, a
 * Binding of a pod that is not bound), so a retry of a call that did land
 * answers 409 and the caller re-reads. Error messages carry the method,
 * the path, the status and the API server's Status message.
 *
 * Watches: vxpu_kube_reflect runs the list-then-watch loop of one
 * collection: list (paginated with limit/continue), hand every object to
 * the consumer as a relist, then watch from the list's resourceVersion with
 * bookmarks, resuming from the last resourceVersion seen when the stream
 * ends, and relisting when the server answers 410 Gone (the version left
 * its history). It returns only when asked to stop.
 *
 * Handles are pooled: calls from many threads reuse connections without
 * sharing a curl handle. Every function is thread-safe.
 */
#ifndef VXPU_KUBE_KUBECLIENT_H
#define VXPU_KUBE_KUBECLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define VXPU_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define VXPU_KUBE_PATH_MAX 4096
#define VXPU_KUBE_URL_MAX 512

struct vxpu_kube_config {
	char server[VXPU_KUBE_URL_MAX]; /* "https://10.96.0.1:443" */
	char ca_file[VXPU_KUBE_PATH_MAX];
	char *ca_data;                       /* PEM (heap), or NULL */
	bool insecure;                       /* do not verify the server */
	char token_file[VXPU_KUBE_PATH_MAX]; /* read again when it changes */
	char *token;                         /* static bearer token (heap), or NULL */
	char cert_file[VXPU_KUBE_PATH_MAX];
	char key_file[VXPU_KUBE_PATH_MAX];
	char *cert_data; /* PEM (heap), or NULL */
	char *key_data;
	char ns[64]; /* the context's / service account's namespace */
	/* Request behaviour; 0 = the default in brackets. */
	unsigned connect_timeout_ms; /* [5000] */
	unsigned timeout_ms;         /* [30000] per attempt, not for watch streams */
	unsigned attempts;           /* [5] */
	unsigned backoff_ms;         /* [100] first wait, doubled per attempt */
	unsigned backoff_max_ms;     /* [5000] */
	unsigned watch_timeout_s;    /* [300] asked of the server per watch call */
	unsigned page_size;          /* [500] list page size */
};

/* Frees the heap parts and clears the configuration. */
void vxpu_kube_config_free(struct vxpu_kube_config *c);

/*
 * In-cluster configuration from sa_dir (normally VXPU_KUBE_SA_DIR) and the
 * KUBERNETES_SERVICE_HOST/_PORT environment. 0, or -1 naming what is missing.
 */
int vxpu_kube_config_in_cluster(struct vxpu_kube_config *c, const char *sa_dir, char *err,
                                size_t errlen);

/*
 * Configuration from a kubeconfig file; context NULL = current-context.
 * Strict: unknown context/cluster/user names, a missing server, a user
 * without credentials vxpu can use, and malformed YAML are refused with
 * the key's path and the file's line.
 */
int vxpu_kube_config_from_kubeconfig(struct vxpu_kube_config *c, const char *path,
                                     const char *context, char *err, size_t errlen);

struct vxpu_kube_client;

int vxpu_kube_client_new(const struct vxpu_kube_config *cfg, struct vxpu_kube_client **out,
                         char *err, size_t errlen);
void vxpu_kube_client_free(struct vxpu_kube_client *c);

/* The namespace of the configuration ("default" when it named none). */
const char *vxpu_kube_client_namespace(const struct vxpu_kube_client *c);

struct vxpu_kube_response {
	long status; /* HTTP status of the last attempt; 0 = no answer */
	char *body;  /* NUL-terminated (heap), may be NULL */
	size_t len;
	unsigned attempts;
};

void vxpu_kube_response_free(struct vxpu_kube_response *r);

/* Counters since the client was made (for /metrics). */
struct vxpu_kube_stats {
	uint64_t requests;      /* attempts sent */
	uint64_t retries;       /* attempts after the first */
	uint64_t failures;      /* calls that gave up */
	uint64_t token_reloads; /* token file read again */
	uint64_t relists;       /* reflector lists after the first */
	uint64_t watch_events;
};

void vxpu_kube_client_stats(const struct vxpu_kube_client *c, struct vxpu_kube_stats *out);

/*
 * One API call with the retry policy above. path starts with '/' and may
 * hold a query. body may be NULL. Returns 0 when an answer came back (any
 * status, in resp->status; retries exhausted on 429/5xx also return 0 with
 * that status), -1 when no answer came back at all (err says why). On 0 the
 * caller frees resp.
 */
int vxpu_kube_request(struct vxpu_kube_client *c, const char *method, const char *path,
                      const char *content_type, const char *body, struct vxpu_kube_response *resp,
                      char *err, size_t errlen);

/*
 * The same, expecting a 2xx answer with a JSON object, parsed into *doc
 * (cJSON_Delete it). Returns the HTTP status (2xx) or -1 with err holding
 * the status and the API server's message; *status receives the status of
 * a non-2xx answer (0 if none), so callers can tell 404, 409 and 410 apart.
 */
int vxpu_kube_call_json(struct vxpu_kube_client *c, const char *method, const char *path,
                        const char *content_type, const char *body, struct cJSON **doc,
                        long *status, char *err, size_t errlen);

/* Content types of the three patch flavours. */
#define VXPU_KUBE_MERGE_PATCH "application/merge-patch+json"
#define VXPU_KUBE_STRATEGIC_PATCH "application/strategic-merge-patch+json"
#define VXPU_KUBE_JSON_PATCH "application/json-patch+json"

/*
 * Percent-encodes one path segment or query value (RFC 3986 unreserved
 * characters kept). Returns 0, or -1 when it does not fit.
 */
int vxpu_kube_escape(const char *in, char *out, size_t cap);

/* RFC 3339 with microseconds (a MicroTime: "2006-01-02T15:04:05.000000Z")
 * of Unix milliseconds ms >= 0, as Events and Leases carry. */
void vxpu_kube_micro_time(int64_t ms, char *out, size_t cap);

/* A core/v1 Event about one Pod, from one reporting component. */
struct vxpu_kube_event {
	const char *ns, *name, *uid; /* the Pod */
	bool warning;                /* type Warning, else Normal */
	const char *reason;
	const char *message;
	const char *component; /* source.component and reportingComponent */
	const char *host;      /* source.host, or NULL for a cluster-wide component */
	const char *instance;  /* reportingInstance */
};

/*
 * Creates the Event in the Pod's namespace, named like kubectl's (the Pod's
 * name, a dot, the time in hex nanoseconds), first and last seen now,
 * count 1. Returns 0, or -1 with a reason.
 */
int vxpu_kube_post_event(struct vxpu_kube_client *c, const struct vxpu_kube_event *ev, char *err,
                         size_t errlen);

/* The consumer of a reflector. */
struct vxpu_kube_watcher {
	/* A relist starts (first=true the first time): objects follow as ADDED. */
	void (*relist_begin)(void *ctx, bool first);
	/* One object: type "ADDED", "MODIFIED" or "DELETED". */
	void (*event)(void *ctx, const char *type, const struct cJSON *object);
	/* The relist's objects were all delivered: whatever was not among them
	 * is gone. The collection is in sync from here on. */
	void (*relist_end)(void *ctx, const char *resource_version);
	void *ctx;
};

/*
 * Lists then watches collection path (e.g. "/api/v1/pods") until *stop is
 * set, delivering to w (from the calling thread). selector: a query
 * fragment added to both ("fieldSelector=..."), or NULL. Returns 0 when
 * stopped. Waits between failed attempts follow the backoff policy.
 */
int vxpu_kube_reflect(struct vxpu_kube_client *c, const char *path, const char *selector,
                      const struct vxpu_kube_watcher *w, atomic_bool *stop);

/*
 * Lists a collection completely (all pages). Returns 0 with *items (a cJSON
 * array, cJSON_Delete it) and the list's resourceVersion, or -1.
 */
int vxpu_kube_list(struct vxpu_kube_client *c, const char *path, const char *selector,
                   struct cJSON **items, char *resource_version, size_t rvcap, long *status,
                   char *err, size_t errlen);

/* Base64 (standard alphabet, padding) into *out (heap, NUL-terminated); -1 on bad input. */
int vxpu_kube_base64_decode(const char *in, char **out, size_t *len);

#endif
