"""The kernel's load average arithmetic, to derive what /proc/loadavg must show.

include/linux/sched/loadavg.h and kernel/sched/loadavg.c (6.1, 6.12):
every LOAD_FREQ = 5*HZ+1 ticks, avenrun = calc_load(avenrun, EXP_1, active)
where active = nr_running + nr_uninterruptible (fixed point, FSHIFT = 11), and
the new value is applied up to 10 ticks after the sample instant
(calc_global_load: "sample_window + 10"). /proc/loadavg prints
LOAD_INT/LOAD_FRAC of avenrun + FIXED_1/200 (fs/proc/loadavg.c).
"""

from __future__ import annotations

import itertools
import math

FSHIFT = 11
FIXED_1 = 1 << FSHIFT
EXP_1 = 1884  # 1/exp(5sec/1min) as fixed-point


def calc_load(load: int, exp: int, active: int) -> int:
    newload = load * exp + active * (FIXED_1 - exp)
    if active >= load:
        newload += FIXED_1 - 1
    return newload // FIXED_1


def printed(avenrun: int) -> int:
    """What /proc/loadavg shows for a fixed-point avenrun, in hundredths."""
    x = avenrun + FIXED_1 // 200
    return (x >> FSHIFT) * 100 + (((x & (FIXED_1 - 1)) * 100) >> FSHIFT)


def hundredths(shown: float) -> int:
    return round(shown * 100)


def smallest_avenrun(shown: int) -> int:
    """The smallest fixed-point avenrun that /proc/loadavg prints as `shown` hundredths."""
    lo = max(0, (shown - 2) * FIXED_1 // 100)
    while printed(lo) < shown:
        lo += 1
    return lo


def largest_avenrun(shown: int) -> int:
    """The largest fixed-point avenrun that /proc/loadavg prints as `shown` hundredths."""
    hi = (shown + 2) * FIXED_1 // 100
    while printed(hi) > shown:
        hi -= 1
    return hi


def samples_within(window_s: float, hz: int) -> int:
    """Load samples surely taken and applied inside a window: one per LOAD_FREQ,
    each visible 10 ticks after its instant (calc_global_load)."""
    period = (5 * hz + 1) / hz
    return max(0, math.floor((window_s - 11 / hz) / period))


def updates_seen(readings: list[tuple[float, tuple[float, float, float]]], hz: int) -> int:
    """calc_load() updates seen inside a window, from (read start, (load1, load5,
    load15)) at each sample, the first as the window opens: the printed values
    change only at an update, and one whose instant (up to 10 ticks before it
    became visible) may precede the window is not counted. An update that leaves
    all three unchanged is missed, so this is a lower bound."""
    opened = readings[0][0]
    return sum(1 for (t0, a), (_, b) in itertools.pairwise(readings)
               if a != b and t0 - 10 / hz >= opened)


def load1_lower_bound(shown_before: int, tasks: int, fewest: int, most: int | None = None) -> int:
    """The least load1 (hundredths) the kernel can show after between `fewest`
    and `most` updates (just `fewest` if `most` is not given) during which at
    least `tasks` tasks were counted as active, from a reading of `shown_before`
    hundredths. calc_load is monotonic in load and active, so more activity only
    raises it; the number of updates matters both ways: below `tasks` each one
    raises the load, above it each one lowers it (toward `tasks`)."""
    load = smallest_avenrun(shown_before)
    for _ in range(fewest):
        load = calc_load(load, EXP_1, tasks * FIXED_1)
    least = printed(load)
    for _ in range(fewest, most or fewest):
        load = calc_load(load, EXP_1, tasks * FIXED_1)
        least = min(least, printed(load))
    return least


def samples_at_most(window_s: float, hz: int) -> int:
    """Load samples that can become visible inside a window: one per LOAD_FREQ,
    plus one taken just before the window opened and applied inside it."""
    period = (5 * hz + 1) / hz
    return math.floor(window_s / period) + 1


def load1_upper_bound(shown_before: int, active: int, samples: int) -> int:
    """The most load1 (hundredths) the kernel can show after up to `samples`
    updates during which at most `active` tasks were counted, from a reading of
    `shown_before`. From above the fixed point calc_load decays, from below it
    rises: the largest of the iterates (0 to `samples` of them) bounds both."""
    load = largest_avenrun(shown_before)
    most = printed(load)
    for _ in range(samples):
        load = calc_load(load, EXP_1, active * FIXED_1)
        most = max(most, printed(load))
    return most


def judge_tool(ev, seen, tool: str, values: list, source: str) -> None:
    """A tool's load averages, each as it read /proc/loadavg (`values`: (Instant, (1, 5, 15 min))):
    the averages change only at a calc_load() update, so at the read they were
    those of the hold's sample just before or just after it, as printed there
    (two decimals, as the tool prints them)."""
    from suites.watch import bracket
    from suites.watch.tools import no_report
    samples = seen.window.samples
    shown, ok = [], True
    judged = 0
    for at, loads in values:
        a, b = bracket.around(samples, at)
        if a is None or b is None:
            continue
        judged += 1
        for v, x, y in zip(loads, (a.load.load1, a.load.load5, a.load.load15),
                           (b.load.load1, b.load.load5, b.load.load15), strict=True):
            good = min(x, y) - 0.005 <= v <= max(x, y) + 0.005
            ok &= good
            shown.append(f"{v:.2f} in [{min(x, y):.2f}, {max(x, y):.2f}]" + ("" if good else " (NO)"))
    if not judged:
        no_report(ev, seen, tool, source, len(values))
        return
    ev.check(f"{seen.prefix}{tool}", ok, "1, 5 and 15 min each as /proc/loadavg read just before or just after the "
             "tool's read (fs/proc/loadavg.c; it changes only at calc_load() updates)", "; ".join(shown), source)
