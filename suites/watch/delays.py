"""The rows of a witness of the tasks' block I/O delay (delayacct's blkio ticks,
as /proc/pid/stat field 42 or a tool that shows it): each task's delay over the
hold is at least the window if it slept with in_iowait and had a delay record,
and 0 otherwise (docs/kernel-rules.md §5)."""

from __future__ import annotations

import math

from suites.watch.procfs import USER_HZ


def judge_delay(ev, seen, label: str, ticks: dict[int, int], source: str, at: str = "", sign: str = "",
                before: dict[int, int] | None = None) -> None:
    """`ticks`: each task's delay in USER_HZ ticks; `at`: when the witness shows it.
    `before`: for a tool whose first report of a task is its whole delay so far
    (its deltas start from the task's birth, not the window), each task's field 42
    as the window opened: a task may have waited on I/O before, e.g. faulting in
    its program, and that may show however the window's sleep is accounted."""
    shown = ", ".join(f"{pid}: {sign}{t}" for pid, t in ticks.items())
    if seen.hold.delayed:
        least = math.floor(seen.W * USER_HZ) - 1
        ev.check(label, all(t >= least for t in ticks.values()),
                 f">= {least} ticks each (slept all W; -1 for clock granularity{at})", shown, source)
    else:
        why = "" if not seen.wait.iowait else " (no delay record: delay accounting was off when they forked)"
        earlier = {pid: (before or {}).get(pid, 0) for pid in ticks}
        if any(earlier.values()):
            had = ", ".join(f"{pid}: {t}" for pid, t in earlier.items())
            want = f"{sign}0 each beyond what it had before the window ({had}){why}"
        else:
            want = f"{sign}0 each{why}"
        ev.check(label, all(t <= earlier[pid] for pid, t in ticks.items()), want, shown, source,
                 blind=seen.wait.iowait)
