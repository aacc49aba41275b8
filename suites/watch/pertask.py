"""What a per-task tool must show of each of the hold's tasks: that it lists
every one in every report while they wait, and each task's block I/O delay in
each of its intervals.

A task's delay (delayacct blkio: /proc/<pid>/stat field 42 in USER_HZ ticks,
taskstats blkio_delay_total in ns; kernel/delayacct.c) is added when a sleep in
in_iowait ends (docs/kernel-rules.md §5), so over a hold it is a step function
the hold observes at each step:
  G   while the task is stopped at the gate (read just before it went: HoldRun.go)
  <=A between going and the window opening (its own page-ins as it starts: A is
      the window's first sample)
  A   all through the window (its first sample's value), and at most B after it
      until it woke
  B   from its wake on (what it reported: it lingers in an interruptible sleep)
so the change a tool shows between two of its reads of the task, at instants the
kernel gave (suites/watch/reads.py), lies between two sums of those steps. Before
the task stopped at the gate it was still starting (paging itself in), so a
read then saw anything from nothing to G.
"""

from __future__ import annotations

from dataclasses import dataclass

from suites.watch import bracket
from suites.watch.bracket import Bounds
from suites.watch.reads import Instant

NS_PER_TICK = 10_000_000  # USER_HZ = 100 (include/uapi/asm-generic/param.h)


@dataclass(frozen=True)
class DelaySteps:
    go: float  # guest monotonic: the task went from the gate
    opened: float  # the window's first sample
    closed: float  # its last: every task still waited
    woke: float  # the delay was added at or before this (the wake-up's end, or the task's WOKE stamp)
    G: int
    A: int
    B: int
    woke_lo: float = 0.0  # ... and at or after this (the wake-up's start; else the window's end)
    gated: float = 0.0  # by this every task was stopped at the gate (0: not known, taken as `go`)

    def at(self, t: Instant) -> Bounds:
        """Field 42 at a read somewhere in [t.lo, t.hi]."""
        lo = self._at(t.lo)
        hi = self._at(t.hi)
        return Bounds(lo.lo, hi.hi)

    def _at(self, t: float) -> Bounds:
        if t < (self.gated or self.go):
            return Bounds(0, self.G)
        if t <= self.go:
            return Bounds(self.G, self.G)
        if t < self.opened:
            return Bounds(self.G, self.A)
        if t <= max(self.closed, self.woke_lo):
            return Bounds(self.A, self.A)
        if t < self.woke:
            # The delay is added at the wake-up, before the task runs and stamps WOKE.
            return Bounds(self.A, self.B)
        return Bounds(self.B, self.B)

    def change(self, start: Instant | None, end: Instant) -> Bounds:
        """Ticks added between a read at `start` (None: since the task's birth) and one at `end`."""
        e = self.at(end)
        if start is None:
            return Bounds(e.lo, e.hi)
        s = self.at(start)
        return Bounds(max(0, e.lo - s.hi), max(0, e.hi - s.lo))


def steps(seen, pid: int) -> DelaySteps:
    """The task's steps in this hold: its wake-ups between the window's end and its
    WOKE stamp as the kernel traced them where the tool's reads came with them
    (suites/watch/reads.py), else that whole stretch."""
    from suites.watch import reads
    h = seen.hold
    go, first, last = h.run.go, h.window.before, h.window.after
    closed = last.t - last.spread / 2
    wake = reads.woken(list(getattr(seen.mine, "reads", ())), pid, closed, h.slept[pid][1])
    woke_lo, woke = (wake.lo, wake.hi) if wake else (closed, h.slept[pid][1])
    return DelaySteps(go.t + go.spread / 2, first.t - first.spread / 2, closed, woke, go.tasks[pid].blkio_ticks,
                      first.tasks[pid].blkio_ticks, h.reports[pid].blkio_ticks, woke_lo, h.run.gated)


def listed(ev, seen, tool: str, readings: dict[int, list[Instant]], reports: list, source: str,
           pids=None) -> None:
    """Every read the tool made of each of the hold's tasks (or `pids`) inside the
    window has its report: each task was there, waiting, all through it."""
    samples = seen.window.samples
    pids = list(pids or seen.hold.pids)
    reported = {(r.pid, r.end) for r in reports}
    total, missing = 0, []
    for pid in pids:
        for x in readings.get(pid, []):
            if bracket.inside(samples, x):
                total += 1
                if (pid, x) not in reported:
                    missing.append(f"{pid} at {x.lo - seen.window.before.t:+.1f} s")
    ev.check(f"{seen.prefix}{tool} lists every task", total > 0 and not missing,
             f"a report for each read of each of {pids} inside the window",
             (f"{total} reads; not reported: " + ", ".join(missing)) if missing else
             (f"all {total} reads reported" if total else "no read of them inside the window"), source)


@dataclass(frozen=True)
class TaskReport:
    """One report of one task, with the tool's reads of that task around its interval
    (`start` None: the first report counts from the task's birth)."""

    pid: int
    start: Instant | None
    end: Instant
    value: float | None  # None: the tool printed that it cannot say
    # `start` None, but the tool had read the task before, untraced (before its
    # exec, while its comm was not yet the traced one): its change counts from
    # that read, somewhere between the task's birth and `end`.
    after_untraced: bool = False


def predicted(predict, st: DelaySteps, r: TaskReport) -> Bounds:
    """What `predict` allows for report `r`: after an untraced read, anything from
    nothing to all since the task's birth (the counter never goes down)."""
    if r.after_untraced:
        return Bounds(0, predict(st, None, r.end).hi)
    return predict(st, r.start, r.end)


def delays(ev, seen, tool: str, field: str, reports: list[TaskReport], readings: dict[int, list[Instant]],
           predict, source: str, unit: str = "", pids=None) -> None:
    """Each task's delay per interval, as the tool printed it, against `predict(steps,
    start, end) -> Bounds` (the tool's own computation over the task's steps).
    `readings`: every read the tool made of each task, to tell a report it left
    out after the task woke."""
    p = seen.prefix
    pids = list(pids or seen.hold.pids)
    during: list[str] = []
    everywhere: list[str] = []
    woken: dict[int, bool] = {}
    ok_during = ok_all = True
    for r in reports:
        if r.pid not in pids:
            continue
        st = steps(seen, r.pid)
        if r.end.lo >= st.woke:
            woken.setdefault(r.pid, True)
        if r.value is None:  # the tool says it cannot tell (iotop-py's ?unavailable?): judged by its own row
            continue
        b = predicted(predict, st, r)
        good = b.holds(r.value)
        line = f"{r.pid}: {r.value:g}{unit} in {b.text(2)}" + ("" if good else " (NO)")
        in_window = r.start is not None and r.start.lo >= st.opened and r.end.hi <= st.closed
        if in_window:
            during.append(line)
            ok_during &= good
        everywhere.append(line)
        ok_all &= good
    if during:
        ev.check(f"{p}{tool} {field} while they wait", ok_during,
                 "in each interval inside the window: the delay is added when the sleep ends (kernel/delayacct.c)",
                 "; ".join(during), source, blind=seen.hold.delayed)
    ev.check(f"{p}{tool} {field} in each interval", ok_all,
             "from the gate to the task's exit, what its delay steps give between the tool's two reads of it",
             "; ".join(everywhere) or "no value shown", source)
    unseen = [pid for pid in pids if not woken.get(pid)
              and any(x.lo >= steps(seen, pid).woke for x in readings.get(pid, []))]
    ev.check(f"{p}{tool} reports each task after it woke", not unseen,
             "a report computed from each read of it after its wake (it lingers 3 s: the wake's delay shows there)",
             f"read but not reported: {unseen}" if unseen else "all reported", source)


def task_reports(seen, lines: dict[int, list[tuple[float, float | None]]], what: str):
    """Each task's printed lines ((stamp, value) in order) paired with the tool's
    reads of that task (`what`: pstat or taskstats): per task, a TaskReport per
    line in the same order (None where its stamp fits no read), and every reading
    per task. A line placed on the task's first reading counts from its birth
    (atop's first sample of a new task); others from the reading before."""
    from suites.watch import reads
    readings = {pid: reads.rounds(list(seen.mine.reads), what, pid) for pid in seen.hold.pids}
    out: dict[int, list[TaskReport | None]] = {}
    for pid, rows in lines.items():
        rd = readings.get(pid, [])
        where = reads.place([t for t, _ in rows], rd, seen.hold.run.wall_offset, seen.mine.lag)
        out[pid] = [None if j is None else TaskReport(pid, rd[j - 1] if j >= 1 else None, rd[j], value)
                    for (_, value), j in zip(rows, where, strict=True)]
    return out, readings


# The tools that scan every task sample once a second: a read of a scan lies less
# than a second from the middle of the others' reads of it.
SCAN_EDGE_S = 1.0


def sampled_reports(seen, lines: dict[int, list[tuple[int, float, float | None]]], what: str,
                    stamp_first: bool = True, primes_within: float = 0.0):
    """task_reports() for a tool that lists every task it follows in every sample,
    read in one scan (atop; the iotops, frame by frame): each task's lines as
    (sample number, stamp, value). The n-th line of a task whose reads were all
    traced is its n-th read, however long the tool took between stamp and read
    (a host that paused mid-scan moved half a scan's reads 0.7 s), if each of
    those reads lies nearer its sample's scan than either neighbouring scan (the
    middle of the hold's tasks' reads, sample by sample): a task that lost a read
    and gained one after its last line is a whole scan out of step. A task not so
    paired (the tracer lost a read: a burst can overflow its buffer) takes, line
    by line, its next read nearest that sample's scan. `stamp_first`: the tool
    takes a sample's time before its reads (atop), else after them (the iotops);
    a pairing with a stamp on the wrong side of its read is not taken.
    `primes_within`: the tool reads each task once to have a delta for its first
    sample, then again for that sample within this long (its interval); the
    priming read is no sample's. Falls back to the stamps where no task gives
    the scans."""
    from statistics import median

    from suites.watch import reads
    readings = {pid: reads.rounds(list(seen.mine.reads), what, pid) for pid in seen.hold.pids}
    for rd in readings.values():
        if primes_within and len(rd) >= 2 and rd[1].lo - rd[0].hi < primes_within:
            del rd[0]
    off = seen.hold.run.wall_offset

    def fits(t: float, x: Instant) -> bool:  # t: the stamp, floored to its second
        return t <= x.hi + off if stamp_first else x.lo + off < t + 1

    def aligned(rows, rd) -> list[Instant] | None:
        """The task's reads its lines came from: its first `len(rows)` readings, all
        stamps fitting. One more reading may follow: the stop's SIGINT came between
        a frame's reads and its lines (Python's iotop, under TCG, took up to a second
        between the two)."""
        if not rows or len(rd) - len(rows) not in (0, 1):
            return None
        got = rd[:len(rows)]
        return got if all(fits(t, x) for (_, t, _), x in zip(rows, got, strict=True)) else None

    by_order = {pid: kept for pid, rows in lines.items() if (kept := aligned(rows, readings.get(pid, [])))}
    middles: dict[int, list[float]] = {}
    for pid, rd in by_order.items():
        for (k, _, _), x in zip(lines[pid], rd, strict=True):
            middles.setdefault(k, []).append(_mid(x))
    scan = {k: median(v) for k, v in middles.items()}
    if not scan:
        return task_reports(seen, {pid: [(t, v) for _, t, v in rows] for pid, rows in lines.items()}, what)
    out: dict[int, list[TaskReport | None]] = {}
    for pid, rows in lines.items():
        ordered = by_order.get(pid)
        got: list[Instant | None]
        if ordered is not None and all(_of_scan(x, k, scan) for (k, _, _), x in zip(rows, ordered, strict=True)):
            got = list(ordered)
        else:
            got = _nearest_scans(rows, readings.get(pid, []), scan)
        out[pid] = [None if x is None else TaskReport(pid, got[i - 1] if i >= 1 else None, x, value)
                    for i, ((_, _, value), x) in enumerate(zip(rows, got, strict=True))]
    return out, readings


def _mid(x: Instant) -> float:
    return (x.lo + x.hi) / 2


def _of_scan(x: Instant, k: int, scan: dict[int, float]) -> bool:
    """Whether a read lies nearer scan k than scans k-1 and k+1 (each: its middle)."""
    d = abs(_mid(x) - scan[k])
    return d < SCAN_EDGE_S and all(d <= abs(_mid(x) - scan[j]) for j in (k - 1, k + 1) if j in scan)


def _nearest_scans(rows, rd: list[Instant], scan: dict[int, float]) -> list[Instant | None]:
    """A task's reads by its lines' samples, in order: for each line, its next read
    if that lies nearer the sample's scan than the neighbouring ones; else its read
    was not traced and lies somewhere between the neighbouring scans."""
    got: list[Instant | None] = []
    i = 0
    for k, _, _ in rows:
        if k not in scan:
            got.append(None)
            continue
        while i < len(rd) and _mid(rd[i]) < scan[k] and not _of_scan(rd[i], k, scan):
            i += 1  # a read of an earlier scan whose line was not printed
        if i < len(rd) and _of_scan(rd[i], k, scan):
            got.append(rd[i])
            i += 1
        else:
            got.append(Instant(scan.get(k - 1, scan[k] - SCAN_EDGE_S), scan.get(k + 1, scan[k] + SCAN_EDGE_S)))
    return got


def flat(by_pid: dict[int, list]) -> list[TaskReport]:
    return [r for rows in by_pid.values() for r in rows if r is not None]


def io_percent(cap: float, rounding: float, slack_s: float):
    """iotop's IO%: the task's blkio_delay_total change (ns) over the tool's own
    measure of the interval, times 100, at most `cap` (iotop-c src/views.c
    create_diff(); iotop 0.6 iotop/ui.py delay2percent()), 0 in a task's first
    report (no earlier reading to take it from). The delay is known to the tick
    (field 42 floors it), the interval to the tool's reads of the task give or take
    `slack_s` (where in its scan of every task it took the time)."""
    def predict(st: DelaySteps, a: Instant | None, b: Instant) -> Bounds:
        if a is None:
            return Bounds(0, rounding)
        d = st.change(a, b)
        ns_lo, ns_hi = max(0, d.lo - 1) * NS_PER_TICK, (d.hi + 1) * NS_PER_TICK
        t_lo, t_hi = max(0.05, b.lo - a.hi - slack_s), b.hi - a.lo + slack_s
        return Bounds(max(0.0, min(cap, ns_lo / (t_hi * 1e7)) - rounding), min(cap, ns_hi / (t_lo * 1e7)) + rounding)
    return predict
