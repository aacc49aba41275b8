"""What a tool must have read, from the hold's own samples around its reads.

A tool computes each report from counters it read at two instants (the kernel
saw when: suites/watch/reads.py). The hold samples the same files every ~0.3 s.
A counter that never goes down was, at an instant, between the last sample
read wholly before it and the first read wholly after it; over a tool's interval
its change lies between its change over the inner bracket (first sample after
the interval's start, last sample before its end) and over the outer one (last
before the start, first after the end). Every bound below is one of those: no
allowance but the tool's own rounding.

Under NO_HZ, idle and iowait are not quite monotonic: a read during an idle
period counts the period so far as iowait if the CPU's nr_iowait is non-zero
then, and classifies it again when it ends (kernel/time/tick-sched.c
get_cpu_iowait_time_us(), tick_nohz_stop_idle(); Documentation/filesystems/
proc.rst: iowait "can decrease"), so a waiter woken from another CPU could turn
iowait a tool read back into idle between two samples. Only a CPU where other
tasks wait on I/O is exposed (not the tasks' own while they wait in in_iowait:
its nr_iowait stays >= n). Measured: no such case in 20 captured holds of every
tool; it would show as a disagreement of that CPU's idle or iowait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from suites.watch.procfs import CPU_FIELDS, CpuTimes
from suites.watch.reads import Instant


@dataclass(frozen=True)
class Bounds:
    lo: float
    hi: float

    def holds(self, value: float, slack: float = 0.0) -> bool:
        return self.lo - slack <= value <= self.hi + slack

    def __add__(self, other: Bounds) -> Bounds:
        return Bounds(self.lo + other.lo, self.hi + other.hi)

    def text(self, digits: int = 2) -> str:
        return f"[{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def around(samples, at: Instant):
    """(the last sample read wholly before `at`, the first read wholly after it);
    None where the samples do not reach."""
    before = [s for s in samples if s.t + s.spread / 2 <= at.lo]
    after = [s for s in samples if s.t - s.spread / 2 >= at.hi]
    return (before[-1] if before else None), (after[0] if after else None)


def inside(samples, at: Instant) -> bool:
    a, b = around(samples, at)
    return a is not None and b is not None


def change(samples, start: Instant, end: Instant, value: Callable) -> Bounds | None:
    """Bounds on the change of a never-decreasing counter (`value` of a sample)
    between a tool's reads at `start` and `end`; None if the samples do not
    bracket both."""
    a0, a1 = around(samples, start)
    b0, b1 = around(samples, end)
    if a0 is None or b1 is None:
        return None
    hi = value(b1) - value(a0)
    lo = value(b0) - value(a1) if a1 is not None and b0 is not None and a1.t <= b0.t else 0
    return Bounds(max(0, lo), max(0, hi))


def level(samples, at: Instant, value: Callable) -> Bounds | None:
    """Bounds on a never-decreasing counter read at `at`."""
    a, b = around(samples, at)
    if a is None or b is None:
        return None
    return Bounds(value(a), value(b))


def cpu_fields(samples, start: Instant, end: Instant, cpu: int | str | None) -> dict[str, Bounds] | None:
    """Each /proc/stat field's change on `cpu` (None: the aggregate "cpu" line;
    "sum": the cpuN lines added up, as mpstat does on SMP) over a tool's interval,
    in ticks."""
    def field_of(name):
        def value(s):
            if cpu == "sum":
                return sum(getattr(t, name) for t in s.stat.cpus.values())
            times: CpuTimes = s.stat.total if cpu is None else s.stat.cpus[cpu]
            return getattr(times, name)
        return value
    out = {}
    for name in CPU_FIELDS:
        b = change(samples, start, end, field_of(name))
        if b is None:
            return None
        out[name] = b
    return out


def share(part: tuple[str, ...], whole: tuple[str, ...], fields: dict[str, Bounds]) -> Bounds:
    """Bounds on 100 * sum(part) / sum(whole), each field within its bounds: the
    share grows with the part and falls with the rest."""
    p = sum((fields[f] for f in part), Bounds(0, 0))
    rest = sum((fields[f] for f in whole if f not in part), Bounds(0, 0))
    lo = 100 * p.lo / (p.lo + rest.hi) if p.lo + rest.hi > 0 else 0.0
    hi = 100 * p.hi / (p.hi + rest.lo) if p.hi + rest.lo > 0 else 100.0
    return Bounds(lo, hi)
