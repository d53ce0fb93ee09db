/*
 * budget.h - the compute controller's arithmetic: pure functions of their
 * arguments (no clock, no I/O), shared by the preloaded library and tested
 * on their own (tests/unit/limiter/test_budget.c).
 *
 * The model (docs/limiter.md, "Compute"):
 *   - A container's share of a device is a budget clock `vtime` in the
 *     region (struct vxpu_region_compute), in CLOCK_MONOTONIC nanoseconds.
 *     Charging c ns of device time at a share of p % moves it forward by
 *     c * 100 / p: a container that used exactly its share keeps vtime at
 *     the wall clock. A launch may go while vtime <= now and otherwise
 *     waits vtime - now (a futex wait, never a poll).
 *   - vtime never lags the wall clock by more than the burst allowance
 *     (burst_ns of device time, i.e. burst_ns * 100 / p of wall time): idle
 *     time is not banked beyond that, so a burst after idling is bounded.
 *   - This is a token bucket in its "virtual scheduling" form: one word
 *     updated by compare-and-swap from any process of the container, so the
 *     budget needs no lock and no refill thread, and changing p (live
 *     resizing, priority) changes the rate from the next charge on.
 *   - Nothing depends on the device's SM count: the unit is device time.
 *   - Charges are signed: a launch is charged an estimate when it goes and
 *     the measured time replaces the estimate when it completes.
 */
#ifndef VXPU_LIMITER_BUDGET_H
#define VXPU_LIMITER_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Device time a container may use at once after idling (per device). */
#define VXPU_BUDGET_BURST_NS (10ULL * 1000000ULL)
/*
 * A launch may go while the budget clock is at most this far ahead of now,
 * so a container at a high share keeps a kernel or two queued and a late
 * wake-up of its host thread does not leave the device idle (the share is
 * unchanged: the clock still advances by every charge). Not while held.
 */
#define VXPU_BUDGET_AHEAD_NS (4ULL * 1000000ULL)
/* A high-priority container counts as active at least this long after its last launch. */
#define VXPU_BUDGET_HIGH_WINDOW_NS (6ULL * 1000000ULL)
/* Safety margin when fitting a held container's kernel into a high one's idle gap. */
#define VXPU_BUDGET_GAP_MARGIN_NS (1000ULL * 1000ULL)

/*
 * The budget clock after charging cost_ns (negative: a refund) at percent
 * (1..100) at time now, with the burst allowance burst_ns. A refund cannot
 * take the clock below the burst floor; the device time it could not give
 * back goes to *unrefunded_ns (may be NULL), which the caller keeps as a
 * credit against its next charges (so no charge is lost, yet the clock
 * itself never banks more than the burst).
 */
uint64_t vxpu_budget_charge(uint64_t vtime, uint64_t now, int64_t cost_ns, uint32_t percent,
                            uint64_t burst_ns, uint64_t *unrefunded_ns);

/* How long a launch at now waits: 0 when the budget is not in debt. */
uint64_t vxpu_budget_wait(uint64_t vtime, uint64_t now);

/*
 * The budget clock when the share changes from old_percent to new_percent:
 * a debt (vtime ahead of now) is wall time at the old share; at the new
 * share the same device time is repaid in debt * old / new. So a raised
 * limit, or a held container whose high neighbour went idle, continues at
 * once, and a lowered one repays its recent use at the lower share.
 */
uint64_t vxpu_budget_rescale(uint64_t vtime, uint64_t now, uint32_t old_percent,
                             uint32_t new_percent);

/*
 * The share that applies now: the device's limit (0 = none, i.e. 100), or,
 * for a normal or low container while a high one is active on the device,
 * the smaller of that and the floor. A high container is never lowered.
 */
uint32_t vxpu_budget_effective(uint32_t limit, uint32_t priority, bool high_active, uint32_t floor);

/*
 * How long after its last launch a high container counts as active: its
 * launch period (0: unknown) plus 2 ms for a late host wake-up, at least
 * VXPU_BUDGET_HIGH_WINDOW_NS and at most 9 ms (so others resume within
 * 10 ms of its last launch, wake-up aside).
 */
uint64_t vxpu_budget_high_window(uint64_t period_ns);

/* True while a high container's last launch is within window_ns of now. */
bool vxpu_budget_high_active(uint64_t high_last_ns, uint64_t now, uint64_t window_ns);

/*
 * Device time a completed launch occupied as seen from the process: from
 * the later of its launch and the end of the process's previous work on
 * the device, to its end; only the part after `from` (the start of the
 * current accounting window) counts. 0 when nothing of it is left.
 */
uint64_t vxpu_budget_occupancy(uint64_t launch_ns, uint64_t prev_end_ns, uint64_t end_ns,
                               uint64_t from_ns);

/* Busy device time from a per-process utilisation sample (percent of window). */
uint64_t vxpu_budget_util_busy(unsigned percent, uint64_t window_ns);

/* Moving average of per-launch device time (weight 1/4 to the new sample). */
uint64_t vxpu_budget_estimate(uint64_t estimate, uint64_t sample, bool first);

/*
 * For a held container while a high one is active: true when a launch now
 * of a kernel taking own_ns can finish before the high container's next
 * launch, which is expected period_ns after its last one (last_ns) and
 * keeps the device busy_ns. When no kernel of that size fits between the
 * high container's launches at all, the answer is true (the floor share
 * must still be served; the budget alone paces it).
 */
bool vxpu_budget_gap_fits(uint64_t now, uint64_t last_ns, uint64_t period_ns, uint64_t busy_ns,
                          uint64_t own_ns, uint64_t margin_ns);

#endif
