/*
 * budget.c - the compute controller's arithmetic (contract and model in
 * budget.h). Everything saturates instead of wrapping: a clock near 0 (a
 * freshly booted machine) or a huge cost cannot make vtime jump backwards
 * past the burst floor or forwards past UINT64_MAX.
 */
#include "limiter/budget.h"

#include "limiter/region.h"

/* cost * 100 / percent, saturated to the int64 range. */
static int64_t scale(int64_t cost_ns, uint32_t percent)
{
	if (percent == 0 || percent > 100)
		percent = 100;
	bool negative = cost_ns < 0;
	uint64_t mag = negative ? (uint64_t)(-(cost_ns + 1)) + 1 : (uint64_t)cost_ns;
	uint64_t scaled =
	        mag > (uint64_t)INT64_MAX / 100 ? (uint64_t)INT64_MAX : mag * 100 / percent;
	if (scaled > (uint64_t)INT64_MAX)
		scaled = (uint64_t)INT64_MAX;
	return negative ? -(int64_t)scaled : (int64_t)scaled;
}

uint64_t vxpu_budget_charge(uint64_t vtime, uint64_t now, int64_t cost_ns, uint32_t percent,
                            uint64_t burst_ns, uint64_t *unrefunded_ns)
{
	if (unrefunded_ns)
		*unrefunded_ns = 0;
	if (percent == 0 || percent > 100)
		percent = 100;
	int64_t burst_wall =
	        scale(burst_ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)burst_ns, percent);
	uint64_t floor = now > (uint64_t)burst_wall ? now - (uint64_t)burst_wall : 0;
	uint64_t base = vtime < floor ? floor : vtime;
	int64_t delta = scale(cost_ns, percent);
	if (delta >= 0)
		return base > UINT64_MAX - (uint64_t)delta ? UINT64_MAX : base + (uint64_t)delta;
	uint64_t back = (uint64_t)(-(delta + 1)) + 1;
	if (base - floor >= back)
		return base - back;
	if (unrefunded_ns) /* back to device time: the unscaled remainder */
		*unrefunded_ns = (back - (base - floor)) / 100 * percent +
		                 (back - (base - floor)) % 100 * percent / 100;
	return floor;
}

uint64_t vxpu_budget_wait(uint64_t vtime, uint64_t now)
{
	return vtime > now ? vtime - now : 0;
}

uint64_t vxpu_budget_rescale(uint64_t vtime, uint64_t now, uint32_t old_percent,
                             uint32_t new_percent)
{
	if (vtime <= now || old_percent == 0 || new_percent == 0 || old_percent == new_percent)
		return vtime;
	uint64_t debt = vtime - now;
	/* debt <= burst-bounded charges in practice; saturate anyway */
	if (debt > UINT64_MAX / 100)
		return vtime;
	return now + debt * old_percent / new_percent;
}

uint32_t vxpu_budget_effective(uint32_t limit, uint32_t priority, bool high_active, uint32_t floor)
{
	uint32_t pct = limit == 0 || limit > 100 ? 100 : limit;
	bool yields = priority == VXPU_PRIORITY_NORMAL || priority == VXPU_PRIORITY_LOW;
	if (yields && high_active && floor >= 1 && floor < pct)
		pct = floor;
	return pct;
}

uint64_t vxpu_budget_high_window(uint64_t period_ns)
{
	const uint64_t slack = 2ULL * 1000000ULL, most = 9ULL * 1000000ULL;
	uint64_t w = period_ns > most ? most : period_ns + slack;
	if (w < VXPU_BUDGET_HIGH_WINDOW_NS)
		w = VXPU_BUDGET_HIGH_WINDOW_NS;
	return w > most ? most : w;
}

bool vxpu_budget_high_active(uint64_t high_last_ns, uint64_t now, uint64_t window_ns)
{
	if (high_last_ns == 0)
		return false;
	return high_last_ns >= now || now - high_last_ns < window_ns;
}

uint64_t vxpu_budget_occupancy(uint64_t launch_ns, uint64_t prev_end_ns, uint64_t end_ns,
                               uint64_t from_ns)
{
	uint64_t start = launch_ns;
	if (prev_end_ns > start)
		start = prev_end_ns;
	if (from_ns > start)
		start = from_ns;
	return end_ns > start ? end_ns - start : 0;
}

uint64_t vxpu_budget_util_busy(unsigned percent, uint64_t window_ns)
{
	if (percent > 100)
		percent = 100;
	return window_ns / 100 * percent + window_ns % 100 * percent / 100;
}

uint64_t vxpu_budget_estimate(uint64_t estimate, uint64_t sample, bool first)
{
	if (first)
		return sample;
	return estimate - estimate / 4 + sample / 4;
}

bool vxpu_budget_gap_fits(uint64_t now, uint64_t last_ns, uint64_t period_ns, uint64_t busy_ns,
                          uint64_t own_ns, uint64_t margin_ns)
{
	if (period_ns == 0)
		return true; /* no rhythm known yet */
	uint64_t need = busy_ns + own_ns + margin_ns;
	if (need >= period_ns)
		return true; /* nothing fits between its launches: the budget paces us */
	uint64_t slack = period_ns - need;
	if (now < last_ns)
		return true;
	return now - last_ns <= slack;
}
