/*
 * sampler.h - turns frequent usage readings of one device of one
 * allocation into the ledger's minute samples.
 *
 * The owner of an allocation (`vxpu run`, the node agent) reads the used
 * memory and the utilisation every few seconds and feeds each reading here
 * with its time. When a reading falls into a later UTC minute than the one
 * being accumulated, that minute is complete: its arithmetic mean (readings
 * are taken at a steady period, so the mean of readings is the time mean)
 * is handed back for vxpu_ledger_sample_record. vxpu_sampler_flush hands
 * back the partial minute when the allocation ends. Minutes without any
 * reading produce no sample (the report counts them as unused, see
 * docs/metering.md). Readings that go back in time are refused.
 *
 * Pure: no clock, no I/O; the caller passes the times.
 */
#ifndef VXPU_METER_SAMPLER_H
#define VXPU_METER_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct vxpu_sampler {
	bool open;         /* a minute is being accumulated */
	int64_t minute_ms; /* its start */
	bool seen;         /* last_ms holds a reading's time */
	int64_t last_ms;   /* time of the latest reading */
	double used_mib_sum;
	double utilisation_sum;
	uint32_t readings;
};

/* A completed minute: fields as in struct vxpu_ledger_sample. */
struct vxpu_sampler_minute {
	int64_t minute_ms;
	double used_memory_mib;
	double utilisation_percent;
};

void vxpu_sampler_init(struct vxpu_sampler *s);

/*
 * Adds one reading (now_ms >= 0 and not before the previous reading;
 * used_mib >= 0; utilisation_pct in 0..100). Returns 1 and fills *done when
 * the reading closed a minute, 0 when it did not, -1 (changing nothing) for
 * an invalid reading.
 */
int vxpu_sampler_add(struct vxpu_sampler *s, int64_t now_ms, double used_mib,
                     double utilisation_pct, struct vxpu_sampler_minute *done);

/* Closes the open minute, if any: returns 1 and fills *done, else 0. */
int vxpu_sampler_flush(struct vxpu_sampler *s, struct vxpu_sampler_minute *done);

#endif
