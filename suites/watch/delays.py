"""The rows of the kernel's own record of the tasks' block I/O delay (delayacct's
blkio ticks, /proc/pid/stat field 42) over a hold: from the window's start to
the report each task printed after waking, at least the window if it slept with
in_iowait and had a delay record, at most its sleep from READY to WOKE; 0
otherwise (docs/kernel-rules.md §5). The tools that show it are judged per
interval (suites/watch/pertask.py)."""

from __future__ import annotations

import math

from suites.watch.procfs import USER_HZ


def judge_delay(ev, seen, label: str, ticks: dict[int, int], source: str, sign: str = "") -> None:
    """`ticks`: each task's delay in USER_HZ ticks over the hold."""
    shown = ", ".join(f"{pid}: {sign}{t}" for pid, t in ticks.items())
    h = seen.hold
    if h.delayed:
        least = math.floor(seen.W * USER_HZ) - 1
        most = {pid: math.ceil((h.slept[pid][1] - h.slept[pid][0]) * USER_HZ) + 1 if pid in h.slept else math.inf
                for pid in ticks}
        ev.check(label, all(least <= t <= most[pid] for pid, t in ticks.items()),
                 f"{least} .. its sleep from READY to WOKE ({', '.join(f'{pid}: {m}' for pid, m in most.items())}) "
                 "ticks each (+-1 for the clock's granularity)", shown, source)
    else:
        why = "" if not seen.wait.iowait else " (no delay record: delay accounting was off when they forked)"
        ev.check(label, all(t == 0 for t in ticks.values()), f"{sign}0 each{why}", shown, source,
                 blind=seen.wait.iowait)
