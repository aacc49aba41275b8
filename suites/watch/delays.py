"""The rows of the kernel's own record of the tasks' block I/O delay (delayacct's
blkio ticks, /proc/pid/stat field 42) over a hold: from the window's start to
the report each task printed after waking, at least the window if it slept with
in_iowait and had a delay record, at most its sleep from READY to WOKE; 0
otherwise (docs/kernel-rules.md §5). A sleep the scheduler left unstamped (a
delayed dequeue, suites/watch/stamps.py) is counted from the task's previous
stamp instead: from the window's end to its wake, less that stamp. The tools
that show it are judged per interval (suites/watch/pertask.py)."""

from __future__ import annotations

import math

from suites.watch.procfs import USER_HZ
from suites.watch.stamps import Counted

UNSTAMPED = ("kernel/sched/sched.h __block_task(): delayacct_blkio_start() stamps current, so a sleep whose "
             "dequeue was delayed (kernel/sched/fair.c dequeue_entities()) keeps the task's previous stamp "
             "(docs/kernel-rules.md §5)")


def counted_bounds(counted: Counted, ended_after: float, woke_by: float) -> tuple[int, float, str]:
    """Ticks an unstamped sleep adds when it ends somewhere in [ended_after, woke_by]
    (guest monotonic): from the stamp it was left with to its end."""
    if not counted.ended:
        return 0, 0, "0: left unstamped, and woken before its delayed dequeue (ttwu_runnable(): no delay added)"
    if counted.since is None:
        return 0, math.inf, f"left unstamped, counted from {counted.why}, not placed"
    least = math.floor((ended_after - counted.since) * USER_HZ) - 1
    most = math.ceil((woke_by - counted.since) * USER_HZ) + 1
    return least, most, f"{least} .. {most}: left unstamped, counted from {counted.why}"


def bounds(seen, pid: int, counted: Counted | None) -> tuple[int, float, str]:
    """Least and most ticks the task's delay may grow over the hold, and why."""
    h = seen.hold
    woke = h.slept[pid][1] if pid in h.slept else math.inf
    if counted is not None:
        return counted_bounds(counted, h.window.after.t, woke)
    least = math.floor(seen.window_s * USER_HZ) - 1
    most = math.ceil((woke - h.slept[pid][0]) * USER_HZ) + 1 if pid in h.slept else math.inf
    return least, most, f"{least} .. {most}"


def judge_delay(ev, seen, label: str, ticks: dict[int, int], source: str, sign: str = "",
                counted: dict[int, Counted] | None = None, unknown: str = "") -> None:
    """`ticks`: each task's delay in USER_HZ ticks over the hold. `counted`: the
    tasks whose wait was left unstamped; `unknown`: why that cannot be known here
    (then a task's delay is bounded only from below)."""
    shown = ", ".join(f"{pid}: {sign}{t}" for pid, t in ticks.items())
    h = seen.hold
    counted = counted or {}
    if h.delayed:
        judged = {pid: bounds(seen, pid, counted.get(pid)) for pid in ticks}
        if unknown:
            judged = {pid: (lo, math.inf, f">= {lo}") for pid, (lo, _, _) in judged.items()}
        ok = all(lo <= t <= hi for (lo, hi, _), t in zip(judged.values(), ticks.values(), strict=True))
        said = "; ".join(f"{pid}: {text}" for pid, (_, _, text) in judged.items())
        why = f" ({unknown})" if unknown else ""
        ev.check(label, ok, f"{said} ticks (from the window to its sleep from READY to WOKE, +-1 for the clock's "
                 f"granularity){why}", shown, source + ("; " + UNSTAMPED if counted or unknown else ""))
    else:
        why = "" if not seen.wait.iowait else " (no delay record: delay accounting was off when they forked)"
        ev.check(label, all(t == 0 for t in ticks.values()), f"{sign}0 each{why}", shown, source,
                 blind=seen.wait.iowait)
