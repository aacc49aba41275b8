"""The tick's own count against the LOC interrupts (suites/watch/ticks.py,
suites/witnesses/cpu_iowait.py), on figures captured on debian-6.1 with one CPU,
nohz=off and delayacct: phase 2 of test_busy_cpu_masks_iowait (an O_DIRECT read
with a hog on CPU 0) took 1603 local timer interrupts, 1557 of them tick runs; the
hog was charged 619 ticks."""

from __future__ import annotations

import math
from types import SimpleNamespace

from suites.watch.procfs import USER_HZ
from suites.watch.ticks import parse_count
from suites.witnesses.cpu_iowait import ticks_in_window

HZ = 250
# The head of a per_cpu/cpuN/stats file of the trace instance, its ring wrapped
# (overrun) as a 64 KiB ring does over a long run: 1557 events written in all.
STATS = """entries: 1312
overrun: 245
commit overrun: 0
"""


def _window():
    edge = SimpleNamespace(spread=0.01)
    return SimpleNamespace(before=SimpleNamespace(t=100.0, spread=edge.spread),
                           after=SimpleNamespace(t=106.19, spread=edge.spread))


def test_count_is_entries_and_overruns():
    assert parse_count(STATS) == 1557


def test_busy_is_bounded_by_the_ticks_not_the_interrupts():
    least, most, _ = ticks_in_window(_window(), ((99.975, 5000), (106.21, 6557)), HZ)
    assert (least, most) == (1541, 1557)
    lo = math.floor(least * USER_HZ / HZ) - 8
    hi = math.ceil(most * USER_HZ / HZ) + 8
    assert lo <= 619 <= hi
    # What the LOC count predicted (1603 interrupts less 7 that may not be ticks):
    # more than the hog was charged, though every tick was.
    assert math.floor((1603 - 7) * USER_HZ / HZ) - 8 > 619
