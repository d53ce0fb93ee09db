/*
 * health.c - the device health state machine (see health.h).
 *
 * Everything here is arithmetic on the event and the previous state, so a
 * recorded sequence of events always gives the same sequence of states;
 * the node agent's I/O part (src/node/health.c) only gathers the events.
 */
#include "core/health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t default_app_xids[] = {13, 31, 43, 45, 68, 109};

void vxpu_health_policy_default(struct vxpu_health_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->app_xid_count = sizeof(default_app_xids) / sizeof(default_app_xids[0]);
	memcpy(p->app_xids, default_app_xids, sizeof(default_app_xids));
	p->recovery = VXPU_HEALTH_RECOVER_WHEN_CLEAR;
	p->clear_for_ns = 30ULL * 1000000000ULL;
}

static int fail(char *err, size_t errlen, const char *what, const char *text, const char *problem)
{
	if (err && errlen)
		snprintf(err, errlen, "invalid %s \"%.64s\": %s", what, text ? text : "(null)",
		         problem);
	return -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int vxpu_health_policy_set_app_xids(struct vxpu_health_policy *p, const char *text, char *err,
                                    size_t errlen)
{
	const char *what = "application XID list";
	if (!text || !*text)
		return fail(err, errlen, what, text,
		            "empty (use \"none\" for no application XIDs)");
	uint32_t xids[VXPU_HEALTH_MAX_APP_XIDS];
	unsigned n = 0;
	if (strcmp(text, "none") != 0) {
		const char *s = text;
		for (;;) {
			if (*s < '0' || *s > '9')
				return fail(err, errlen, what, text,
				            "each item must be a decimal XID");
			uint32_t v = 0;
			int digits = 0;
			while (*s >= '0' && *s <= '9') {
				if (++digits > 5)
					return fail(err, errlen, what, text,
					            "an XID is at most 65535");
				v = v * 10 + (uint32_t)(*s++ - '0');
			}
			if (v < 1 || v > 65535)
				return fail(err, errlen, what, text, "an XID runs from 1 to 65535");
			if (n == VXPU_HEALTH_MAX_APP_XIDS)
				return fail(err, errlen, what, text, "more than 64 XIDs");
			xids[n++] = v;
			if (*s == '\0')
				break;
			if (*s != ',')
				return fail(err, errlen, what, text,
				            "items are separated by commas");
			s++;
		}
		qsort(xids, n, sizeof(xids[0]), cmp_u32);
		for (unsigned i = 1; i < n; i++)
			if (xids[i] == xids[i - 1])
				return fail(err, errlen, what, text, "an XID is listed twice");
	}
	p->app_xid_count = n;
	memcpy(p->app_xids, xids, n * sizeof(xids[0]));
	return 0;
}

int vxpu_health_policy_set_recovery(struct vxpu_health_policy *p, const char *text, char *err,
                                    size_t errlen)
{
	if (text && strcmp(text, "never") == 0)
		p->recovery = VXPU_HEALTH_RECOVER_NEVER;
	else if (text && strcmp(text, "when-clear") == 0)
		p->recovery = VXPU_HEALTH_RECOVER_WHEN_CLEAR;
	else
		return fail(err, errlen, "recovery policy", text, "must be never or when-clear");
	return 0;
}

int vxpu_health_duration_parse(const char *text, uint64_t *ns, char *err, size_t errlen)
{
	const char *what = "duration";
	if (!text || *text < '0' || *text > '9')
		return fail(err, errlen, what, text,
		            "must be digits and a unit (ms, s, m, h), e.g. 30s");
	uint64_t v = 0;
	int digits = 0;
	const char *s = text;
	while (*s >= '0' && *s <= '9') {
		if (++digits > 9)
			return fail(err, errlen, what, text, "at most 9 digits");
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	uint64_t unit;
	if (strcmp(s, "ms") == 0)
		unit = 1000000ULL;
	else if (strcmp(s, "s") == 0)
		unit = 1000000000ULL;
	else if (strcmp(s, "m") == 0)
		unit = 60ULL * 1000000000ULL;
	else if (strcmp(s, "h") == 0)
		unit = 3600ULL * 1000000000ULL;
	else
		return fail(err, errlen, what, text, "the unit must be ms, s, m or h");
	*ns = v * unit; /* at most 999999999 h: fits in 64 bits */
	return 0;
}

int vxpu_health_policy_set_clear_for(struct vxpu_health_policy *p, const char *text, char *err,
                                     size_t errlen)
{
	uint64_t ns;
	if (vxpu_health_duration_parse(text, &ns, err, errlen) != 0)
		return -1;
	p->clear_for_ns = ns;
	return 0;
}

const char *vxpu_health_recovery_name(enum vxpu_health_recovery r)
{
	return r == VXPU_HEALTH_RECOVER_NEVER ? "never" : "when-clear";
}

bool vxpu_health_xid_is_critical(const struct vxpu_health_policy *p, uint32_t xid)
{
	return bsearch(&xid, p->app_xids, p->app_xid_count, sizeof(xid), cmp_u32) == NULL;
}

void vxpu_device_health_init(struct vxpu_device_health *h, uint64_t now_ns)
{
	memset(h, 0, sizeof(*h));
	h->healthy = true;
	h->since_ns = now_ns;
	h->last_event_ns = now_ns;
}

/* Records evidence of an error; returns true when the device just failed.
 * The first reason stays until recovery: it names what took the card out. */
static bool record_error(struct vxpu_device_health *h, uint64_t at, const char *reason)
{
	h->critical_events++;
	h->last_error_ns = at;
	if (!h->healthy)
		return false;
	h->healthy = false;
	h->since_ns = at;
	snprintf(h->reason, sizeof(h->reason), "%s", reason);
	return true;
}

bool vxpu_health_apply(const struct vxpu_health_policy *p, struct vxpu_device_health *h,
                       const struct vxpu_health_event *ev)
{
	uint64_t at = ev->at_ns < h->last_event_ns ? h->last_event_ns : ev->at_ns;
	h->last_event_ns = at;
	char reason[96];
	switch (ev->kind) {
	case VXPU_HEALTH_EVENT_XID:
		if (!vxpu_health_xid_is_critical(p, ev->xid)) {
			h->application_xids++;
			return false;
		}
		h->last_xid = ev->xid;
		snprintf(reason, sizeof(reason), "critical XID %u", (unsigned)ev->xid);
		return record_error(h, at, reason);
	case VXPU_HEALTH_EVENT_ECC_DOUBLE:
		return record_error(h, at, "double-bit ECC error");
	case VXPU_HEALTH_EVENT_ECC_SINGLE:
		h->single_bit_ecc++;
		return false;
	case VXPU_HEALTH_EVENT_PROBE:
		if (ev->lost)
			return record_error(h, at, "device lost (fell off the bus)");
		if (ev->uncorrected_volatile > 0) {
			snprintf(reason, sizeof(reason), "%llu uncorrectable ECC errors",
			         (unsigned long long)ev->uncorrected_volatile);
			return record_error(h, at, reason);
		}
		if (h->healthy || p->recovery != VXPU_HEALTH_RECOVER_WHEN_CLEAR ||
		    at - h->last_error_ns < p->clear_for_ns)
			return false;
		h->healthy = true;
		h->reason[0] = '\0';
		h->since_ns = at;
		h->recoveries++;
		return true;
	}
	return false;
}
