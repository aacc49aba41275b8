"""Sleeps with in_iowait of tasks other than a hold's, as the off-CPU tracer
(suites/watch/offcpu.py) saw them during the hold: what lets a counter of I/O
wait move where the hold's own tasks are not (a tool paging itself in over
virtio-fs sleeps in io_schedule() on the tools' CPU). Witnesses that bound such
a counter mark the tracer as the hold starts and gather at its end; where no
tracer is attached, or it lost events, they bound without it and say so.
"""

from __future__ import annotations

from typing import Any

from suites.watch import offcpu

SOURCE = "fixtures/tracers/offcpu_iowait.bt: every task's sleeps with in_iowait, their CPU and span"


def mark(run) -> None:
    """Note how many events the tracer had lost as the hold starts."""
    t = offcpu.attached(run.guest)
    if t is not None:
        run.scratch["iowait_lost"] = t.iowait_sleeps()[1]


def gather(run) -> dict[str, Any]:
    """The in_iowait sleeps that reach into the hold, and the events lost since `mark`."""
    t = offcpu.attached(run.guest)
    if t is None or "iowait_lost" not in run.scratch:
        return {}
    sleeps, lost = t.iowait_sleeps()
    return {"iowait_sleeps": [s for s in sleeps if s.end is None or s.end >= run.started],
            "iowait_lost": lost - run.scratch["iowait_lost"]}


def _traced(seen) -> list[offcpu.IowaitSleep] | None:
    """The sleeps `gather` kept, or None: not traced, or the tracer lost events."""
    mine = seen.mine or {}
    if "iowait_sleeps" not in mine or mine["iowait_lost"]:
        return None
    return mine["iowait_sleeps"]


def on_cpu(seen, cpu: int) -> tuple[float, int] | None:
    """Seconds of the window (both reads' spreads included) in which a task not
    the hold's slept with in_iowait on `cpu`, and in how many spans. None: not
    traced, or the tracer lost events."""
    sleeps = _traced(seen)
    if sleeps is None:
        return None
    w = seen.window
    return offcpu.iowait_on(sleeps, cpu, w.before.t - w.before.spread / 2,
                            w.after.t + w.after.spread / 2, besides=tuple(seen.hold.pids))


def asleep_at(seen, start: float, end: float) -> int | None:
    """How many tasks not the hold's slept with in_iowait at some time in
    [start, end] (a sample's read). None: not traced, or the tracer lost events."""
    sleeps = _traced(seen)
    if sleeps is None:
        return None
    return len({s.pid for s in sleeps if s.pid not in seen.hold.pids
                and s.start <= end and (s.end is None or s.end >= start)})


def untraced(seen) -> str:
    """Why `on_cpu` or `asleep_at` gave None."""
    lost = (seen.mine or {}).get("iowait_lost")
    return f"the tracer lost {lost} events" if lost else "other tasks' iowait sleeps not traced"
