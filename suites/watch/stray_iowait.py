"""Sleeps with in_iowait of tasks other than a hold's, as the off-CPU tracer
(suites/watch/offcpu.py) saw them during the hold: what lets a counter of I/O
wait move where the hold's own tasks are not (a tool paging itself in over
virtio-fs sleeps in io_schedule() on the tools' CPU). Witnesses that bound such
a counter mark the tracer as the hold starts and gather at its end; where no
tracer is attached, or it lost events, they bound without it and say so. The
sleeps are gathered once per hold and shared by those witnesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from suites.watch import offcpu
from suites.watch.hold import HoldRun

SOURCE = "fixtures/tracers/offcpu_iowait.bt: every task's sleeps with in_iowait, their CPU and span"
_MARK, _GATHERED = "stray_iowait-mark", "stray_iowait"


@dataclass(frozen=True)
class StraySleeps:
    """Every task's in_iowait sleeps that reach into a hold, or why they are not
    known (`why`: not traced, or the tracer lost events)."""

    sleeps: tuple[offcpu.IowaitSleep, ...] | None
    why: str = ""


@dataclass(frozen=True)
class _Mark:
    lost: int  # events the tracer had lost as the hold started


def mark(run: HoldRun) -> None:
    """Note how many events the tracer had lost as the hold starts."""
    t = offcpu.attached(run.guest)
    if t is not None:
        run.state(_MARK, lambda: _Mark(t.iowait_sleeps()[1]))


def gather(run: HoldRun) -> StraySleeps:
    """The in_iowait sleeps that reach into the hold (once per hold)."""
    return run.state(_GATHERED, lambda: _gather(run))


def _gather(run: HoldRun) -> StraySleeps:
    t = offcpu.attached(run.guest)
    start = run.state_of(_MARK, _Mark)
    if t is None or start is None:
        return StraySleeps(None, "other tasks' iowait sleeps not traced")
    sleeps, lost = t.iowait_sleeps()
    if lost > start.lost:
        return StraySleeps(None, f"the tracer lost {lost - start.lost} events")
    return StraySleeps(tuple(s for s in sleeps if s.end is None or s.end >= run.started))


def on_cpu(stray: StraySleeps | None, seen, cpu: int) -> tuple[float, int] | None:
    """Seconds of the window (both reads' spreads included) in which a task not
    the hold's slept with in_iowait on `cpu`, and in how many spans. None: not
    traced, or the tracer lost events."""
    if stray is None or stray.sleeps is None:
        return None
    w = seen.window
    return offcpu.iowait_on(list(stray.sleeps), cpu, w.before.t - w.before.spread / 2,
                            w.after.t + w.after.spread / 2, besides=tuple(seen.hold.pids))


def asleep_at(stray: StraySleeps | None, seen, start: float, end: float) -> int | None:
    """How many tasks not the hold's slept with in_iowait at some time in
    [start, end] (a sample's read). None: not traced, or the tracer lost events."""
    if stray is None or stray.sleeps is None:
        return None
    return len({s.pid for s in stray.sleeps if s.pid not in seen.hold.pids
                and s.start <= end and (s.end is None or s.end >= start)})


def untraced(stray: StraySleeps | None) -> str:
    """Why `on_cpu` or `asleep_at` gave None."""
    return stray.why if stray is not None and stray.why else "other tasks' iowait sleeps not traced"
