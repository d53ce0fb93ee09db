/*
 * health.h - the device health state machine: error evidence in, health out.
 *
 * The node agent feeds every device's evidence here in time order: XID
 * events, single- and double-bit ECC events, and periodic probes (is the
 * device lost? how many uncorrectable errors does its volatile counter
 * hold?). The machine answers whether the device is healthy and why not.
 *
 * Rules (a policy chooses the parts marked configurable):
 *   - an XID marks the device unhealthy unless it is on the policy's list of
 *     application XIDs (configurable; default 13, 31, 43, 45, 68, 109: faults
 *     a program causes on its own context, which leave the card usable);
 *     every other code, including ones not known today, is critical;
 *   - a double-bit (uncorrectable) ECC event marks it unhealthy;
 *   - a single-bit (corrected) ECC event is counted and changes nothing;
 *   - a probe that finds the device lost, or a non-zero volatile count of
 *     uncorrectable errors, marks it unhealthy (so evidence survives a
 *     missed event) and counts as fresh evidence;
 *   - recovery (configurable): "never" keeps a failed device out until the
 *     agent restarts; "when-clear" brings it back at the first clean probe
 *     that comes at least clear_for after the last evidence of an error.
 *
 * Invariants: pure and deterministic (no clock, no I/O: every event
 * carries its time); times never run backwards (an event older than the
 * last one seen is taken as happening at the last time); a healthy device
 * has an empty reason; apply returns true exactly when `healthy` flipped.
 */
#ifndef VXPU_CORE_HEALTH_H
#define VXPU_CORE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXPU_HEALTH_MAX_APP_XIDS 64

enum vxpu_health_recovery {
	VXPU_HEALTH_RECOVER_NEVER,
	VXPU_HEALTH_RECOVER_WHEN_CLEAR,
};

struct vxpu_health_policy {
	unsigned app_xid_count;
	uint32_t app_xids[VXPU_HEALTH_MAX_APP_XIDS]; /* ascending, no duplicates */
	enum vxpu_health_recovery recovery;
	uint64_t clear_for_ns; /* quiet time before a clean probe recovers a device */
};

/* Application XIDs 13, 31, 43, 45, 68, 109; recovery when-clear after 30 s. */
void vxpu_health_policy_default(struct vxpu_health_policy *p);

/*
 * Strict setters: on error they return -1, leave *p unchanged and write a
 * reason naming the value into err.
 *   app XIDs:  "13,31,43" (decimal 1..65535, comma separated) or "none"
 *   recovery:  "never" | "when-clear"
 *   clear-for: a duration, see vxpu_health_duration_parse
 */
int vxpu_health_policy_set_app_xids(struct vxpu_health_policy *p, const char *text, char *err,
                                    size_t errlen);
int vxpu_health_policy_set_recovery(struct vxpu_health_policy *p, const char *text, char *err,
                                    size_t errlen);
int vxpu_health_policy_set_clear_for(struct vxpu_health_policy *p, const char *text, char *err,
                                     size_t errlen);

/* "250ms", "30s", "5m", "1h": 1..9 digits and one unit; 0 is allowed. */
int vxpu_health_duration_parse(const char *text, uint64_t *ns, char *err, size_t errlen);

const char *vxpu_health_recovery_name(enum vxpu_health_recovery r);

/* True when the XID makes a device unhealthy under the policy. */
bool vxpu_health_xid_is_critical(const struct vxpu_health_policy *p, uint32_t xid);

enum vxpu_health_event_kind {
	VXPU_HEALTH_EVENT_XID,
	VXPU_HEALTH_EVENT_ECC_SINGLE,
	VXPU_HEALTH_EVENT_ECC_DOUBLE,
	VXPU_HEALTH_EVENT_PROBE,
};

struct vxpu_health_event {
	enum vxpu_health_event_kind kind;
	uint64_t at_ns;                /* monotonic time of the evidence */
	uint32_t xid;                  /* XID events */
	bool lost;                     /* probes: the device answered "lost" */
	uint64_t uncorrected_volatile; /* probes: uncorrectable ECC count */
};

struct vxpu_device_health {
	bool healthy;
	char reason[96];           /* why unhealthy; "" when healthy */
	uint64_t since_ns;         /* when the present state began */
	uint64_t last_event_ns;    /* the latest event's time (the clock never runs back) */
	uint64_t last_error_ns;    /* the latest evidence of an error (0: none yet) */
	uint32_t last_xid;         /* the latest critical XID, 0 when none */
	uint64_t critical_events;  /* events and probes that were evidence of an error */
	uint64_t application_xids; /* XIDs on the application list */
	uint64_t single_bit_ecc;   /* corrected ECC events */
	uint64_t recoveries;       /* unhealthy -> healthy transitions */
};

/* A healthy device first seen at now_ns. */
void vxpu_device_health_init(struct vxpu_device_health *h, uint64_t now_ns);

/* Applies one event; returns true when h->healthy changed. */
bool vxpu_health_apply(const struct vxpu_health_policy *p, struct vxpu_device_health *h,
                       const struct vxpu_health_event *ev);

#endif
