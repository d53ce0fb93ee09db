/*
 * webhook.h - the mutating admission webhook for pods (AdmissionReview
 * admission.k8s.io/v1), as pure functions from the review to the answer.
 *
 * For a pod CREATE that asks for a vendor resource (HAMi-compatible names
 * and every name in the vendor profiles), in this order:
 *   1. opt-out: a pod labelled vxpu.io/webhook=off is admitted unchanged;
 *   2. validate the request with the core's readers (request.h) and deny,
 *      with a message naming the container, the resource and the value,
 *      when it is wrong: percentages outside 1..100, compute outside 0..100,
 *      memory 0, memory and memory percentage together, a device count of 0
 *      with memory or compute given, two device families in one container,
 *      a resource of a known vendor domain that no profile offers
 *      ("nvidia.com/gpumemory");
 *   3. fill defaults, as JSON Patch operations on the container's
 *      resources.limits (and resources.requests when the container has
 *      that map): count 1 when only memory or compute is given; a whole,
 *      exclusive device (cores 100) when only a count is given, as HAMi
 *      users expect (configurable);
 *   4. check the namespace and project quotas early: the pod's smallest
 *      possible charge (absolute memory × count, compute × count, devices;
 *      percent memory counts 0 here, its size depends on the node) must fit
 *      what is left, or the pod is denied with the quota's message;
 *   5. set spec.schedulerName when the pod left it empty or
 *      "default-scheduler".
 * Everything else (other kinds, other operations, pods without vendor
 * resources) is admitted unchanged.
 *
 * The review is parsed strictly (one JSON object, no duplicate keys, only
 * apiVersion, kind and request at the top, apiVersion admission.k8s.io/v1,
 * kind AdmissionReview, request.uid a non-empty string); a malformed review
 * is an error for the server to answer with 400. A well-formed review always
 * gets an AdmissionReview answer with the request's uid.
 */
#ifndef VXPU_CORE_WEBHOOK_H
#define VXPU_CORE_WEBHOOK_H

#include "core/quota.h"
#include "core/vendor.h"

#include <stdbool.h>
#include <stddef.h>

#define VXPU_LABEL_WEBHOOK "vxpu.io/webhook"
#define VXPU_WEBHOOK_OPT_OUT "off"

struct vxpu_webhook_config {
	const char *scheduler_name;  /* set on vxpu pods; NULL or "" = leave it */
	bool exclusive_default;      /* only a count given: a whole, exclusive device */
	bool deny_unknown_resources; /* a known vendor domain's unknown resource */
};

/* What the review decided, for logs and metrics. */
enum vxpu_webhook_verdict {
	VXPU_WEBHOOK_IGNORED = 0, /* not a pod CREATE, no vendor resource, opted out */
	VXPU_WEBHOOK_ADMITTED,    /* a vxpu pod, maybe patched */
	VXPU_WEBHOOK_DENIED,
};

struct vxpu_webhook_result {
	enum vxpu_webhook_verdict verdict;
	size_t patches;    /* JSON Patch operations */
	char message[512]; /* the denial */
};

/*
 * Answers one AdmissionReview body of len bytes. quota (may be NULL) is read
 * for the early check. Returns the answer (free with free) or NULL with err
 * set when the review is malformed or memory ran out.
 */
char *vxpu_webhook_review(const struct vxpu_vendor_table *vendors,
                          const struct vxpu_webhook_config *cfg,
                          const struct vxpu_quota_table *quota, const char *body, size_t len,
                          struct vxpu_webhook_result *result, char *err, size_t errlen);

/* Standard base64 of len bytes (free with free); NULL on no memory. */
char *vxpu_base64_encode(const unsigned char *data, size_t len);

#endif
