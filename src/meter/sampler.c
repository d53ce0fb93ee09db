/*
 * sampler.c - minute means of usage readings (see sampler.h). The running
 * sums are reset whenever a minute is handed out, so memory use is constant
 * whatever the allocation's length.
 */
#include "meter/sampler.h"

#include "meter/ledger.h"

#include <math.h>
#include <string.h>

void vxpu_sampler_init(struct vxpu_sampler *s)
{
	memset(s, 0, sizeof(*s));
}

static void close_minute(struct vxpu_sampler *s, struct vxpu_sampler_minute *done)
{
	done->minute_ms = s->minute_ms;
	done->used_memory_mib = s->used_mib_sum / s->readings;
	done->utilisation_percent = s->utilisation_sum / s->readings;
	/* Guard the ledger's 0..100 bound against rounding of the mean. */
	if (done->utilisation_percent > 100)
		done->utilisation_percent = 100;
	s->open = false;
	s->used_mib_sum = 0;
	s->utilisation_sum = 0;
	s->readings = 0;
}

int vxpu_sampler_add(struct vxpu_sampler *s, int64_t now_ms, double used_mib,
                     double utilisation_pct, struct vxpu_sampler_minute *done)
{
	if (now_ms < 0 || (s->seen && now_ms < s->last_ms) || !isfinite(used_mib) || used_mib < 0 ||
	    !isfinite(utilisation_pct) || utilisation_pct < 0 || utilisation_pct > 100)
		return -1;
	int64_t minute = vxpu_ledger_minute_of(now_ms);
	int closed = 0;
	if (s->open && minute != s->minute_ms) {
		close_minute(s, done);
		closed = 1;
	}
	if (!s->open) {
		s->open = true;
		s->minute_ms = minute;
	}
	s->seen = true;
	s->last_ms = now_ms;
	s->used_mib_sum += used_mib;
	s->utilisation_sum += utilisation_pct;
	s->readings++;
	return closed;
}

int vxpu_sampler_flush(struct vxpu_sampler *s, struct vxpu_sampler_minute *done)
{
	if (!s->open)
		return 0;
	close_minute(s, done);
	return 1;
}
