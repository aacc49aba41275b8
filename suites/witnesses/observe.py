"""Watch tasks hold a wait: counters before, during and after, read in the guest.

A hold is N tasks started pinned to one CPU that each block once the same way.
Once all of them are in the expected state, the window opens (snapshot
`before`); the system counters and the tasks are sampled until the window
closes (snapshot `after`), while every task is still blocked — so each counter's
change covers only time in which all N tasks were waiting. Each task then
reports its own /proc/self/stat after waking (delayacct includes a sleep only
once it has ended).
"""

from __future__ import annotations

import itertools
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.faults import FAIL, IowitnessError
from suites.witnesses.offcpu import OffCpuTracer, Sleep
from suites.witnesses.procfs import (
    CpuTimes,
    LoadAvg,
    Pressure,
    Stat,
    TaskStat,
    parse_loadavg,
    parse_pressure,
    parse_stat,
    parse_task_stat,
)
from vm.guest import Guest

SAMPLE_EVERY_S = 0.25
# Each hold's tasks get a cgroup of their own: its io.pressure counts only their
# stalls, where /proc/pressure/io also counts every other task's I/O waits.
CGROUP_ROOT = "/sys/fs/cgroup"
_hold_ids = itertools.count(1)


@dataclass(frozen=True)
class Snapshot:
    t: float  # guest CLOCK_MONOTONIC (seconds), middle of the reads
    stat: Stat
    pressure: Pressure
    load: LoadAvg
    tasks: dict[int, TaskStat]  # tasks that have exited are absent
    wchan: dict[int, str]
    group: Pressure | None = None  # io.pressure of the hold's cgroup, if it has one


def snapshot(guest: Guest, pids: list[int] = (), cgroup: str | None = None) -> Snapshot:
    paths = ["/proc/stat", "/proc/pressure/io", "/proc/loadavg"]
    paths += [f"/proc/{p}/{f}" for p in pids for f in ("stat", "wchan")]
    if cgroup:
        paths.append(f"{cgroup}/io.pressure")
    t0, t1, texts = guest.read_files(paths)
    group = texts.get(f"{cgroup}/io.pressure") if cgroup else None
    return Snapshot(
        (t0 + t1) / 2,
        parse_stat(texts["/proc/stat"]),
        parse_pressure(texts["/proc/pressure/io"]),
        parse_loadavg(texts["/proc/loadavg"]),
        {p: parse_task_stat(texts[f"/proc/{p}/stat"]) for p in pids if texts[f"/proc/{p}/stat"]},
        {p: texts[f"/proc/{p}/wchan"] or "" for p in pids if texts[f"/proc/{p}/wchan"] is not None},
        parse_pressure(group) if group else None,
    )


@dataclass(frozen=True)
class Span:
    """What changed between two snapshots."""

    before: Snapshot
    after: Snapshot
    samples: list[Snapshot]  # from before to after, both included

    @property
    def seconds(self) -> float:
        return self.after.t - self.before.t

    def cpu(self, n: int) -> CpuTimes:
        return self.after.stat.cpus[n] - self.before.stat.cpus[n]

    @property
    def cpus(self) -> list[int]:
        return sorted(self.after.stat.cpus)

    @property
    def some_us(self) -> int:
        return self.after.pressure.some_us - self.before.pressure.some_us

    @property
    def full_us(self) -> int:
        return self.after.pressure.full_us - self.before.pressure.full_us

    @property
    def group_some_us(self) -> int | None:
        """PSI io some of the hold's cgroup over the span (None: no cgroup)."""
        a, b = self.before.group, self.after.group
        return b.some_us - a.some_us if a and b else None

    @property
    def group_full_us(self) -> int | None:
        a, b = self.before.group, self.after.group
        return b.full_us - a.full_us if a and b else None

    @property
    def blocked(self) -> list[int]:
        return [s.stat.procs_blocked for s in self.samples]


def watch(guest: Guest, seconds: float, pids: list[int] = (), cgroup: str | None = None) -> Span:
    """Sample for `seconds` (guest time): the idle baseline, or a hold's window."""
    first = snapshot(guest, pids, cgroup)
    samples = [first]
    while samples[-1].t < first.t + seconds:
        time.sleep(SAMPLE_EVERY_S)
        samples.append(snapshot(guest, pids, cgroup))
    return Span(first, samples[-1], samples)


@dataclass
class Hold:
    cpu: int
    pids: list[int]
    window: Span
    reports: dict[int, TaskStat]  # /proc/self/stat each task printed after waking
    sleeps: dict[int, list[Sleep]] = field(default_factory=dict)  # the tracer's view
    tracer_log: str = ""  # its lines about these tasks, and any lost-event warnings
    traced: bool = False  # a tracer watched this hold

    @property
    def n(self) -> int:
        return len(self.pids)

    def states(self) -> set[str]:
        return {t.state for s in self.window.samples for t in s.tasks.values()}

    def wchans(self) -> set[str]:
        return {w for s in self.window.samples for w in s.wchan.values()}

    def blkio_ticks(self, pid: int) -> int:
        """Blkio delay the task accrued from the window's start to its report."""
        return self.reports[pid].blkio_ticks - self.window.before.tasks[pid].blkio_ticks


class HoldError(IowitnessError):
    """The hold itself went wrong: a workload failed, did not reach the wait, or
    woke too early. A finding to look at: the kernel did not let the tasks wait as
    the scenario needs."""

    fault = "hold failed"
    status = FAIL


def _wait_ready(guest: Guest, procs, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    pids: dict[int, int] = {}
    while len(pids) < len(procs):
        for i, p in enumerate(procs):
            if i in pids:
                continue
            r = guest.poll(p)
            ready = [ln for ln in r.stdout.splitlines() if ln.startswith("READY ")]
            if ready:
                pids[i] = int(ready[0].split()[1])
            elif r.rc is not None:
                raise HoldError(f"`{p.cmd}` exited {r.rc} before blocking:\n{r.stdout}{r.stderr}")
        if time.monotonic() > deadline:
            raise HoldError(f"workloads not ready after {timeout}s")
        time.sleep(0.05)
    return [pids[i] for i in range(len(procs))]


def _wait_state(guest: Guest, pids: list[int], state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        snap = snapshot(guest, pids)
        if all(p in snap.tasks and snap.tasks[p].state == state for p in pids):
            return
        if time.monotonic() > deadline:
            now = {p: (snap.tasks[p].state if p in snap.tasks else "gone") for p in pids}
            raise HoldError(f"tasks not all in state {state} after {timeout}s: {now}")
        time.sleep(0.05)


def hold(guest: Guest, commands: list[str], cpu: int, window_s: float, state: str = "D",
         release: Callable[[], None] | None = None, tracer: OffCpuTracer | None = None,
         end_timeout: float = 120, tracer_lines: bool = True) -> Hold:
    """Run `commands` (each a block_once-style workload) pinned to `cpu`, watch
    the window while all are in `state`, then let them finish (`release`, if the
    test ends the wait itself) and collect their reports. `tracer_lines`: whether
    the tracer is expected to report these sleeps (a short wait if not)."""
    cgroup = _make_cgroup(guest)
    join = f"echo $$ > {cgroup}/cgroup.procs && " if cgroup else ""
    procs = [guest.spawn(f"{join}exec taskset -c {cpu} {cmd}") for cmd in commands]
    pids = _wait_ready(guest, procs, timeout=60)
    _wait_state(guest, pids, state, timeout=60)
    window = watch(guest, window_s, pids, cgroup)
    left = {p for s in window.samples for p in pids
            if p not in s.tasks or s.tasks[p].state != state}
    if release:
        release()
    reports = {}
    for proc, pid in zip(procs, pids, strict=True):
        r = guest.wait(proc, timeout=end_timeout)
        stat = [ln[5:] for ln in r.stdout.splitlines() if ln.startswith("STAT ")]
        if r.rc != 0 or not stat:
            raise HoldError(f"`{proc.cmd}` failed (rc {r.rc}):\n{r.stdout}{r.stderr}")
        reports[pid] = parse_task_stat(stat[0])
    if cgroup:
        guest.run(f"rmdir {cgroup}")  # empty now: every task has been waited for
    if left:
        raise HoldError(f"tasks {sorted(left)} left state {state} inside the {window_s}s window: "
                        "the workload's hold is too short for the window")
    h = Hold(cpu, pids, window, reports)
    if tracer:
        h.traced = True
        h.sleeps = tracer.sleeps_of(pids, timeout=30 if tracer_lines else 3)
        r = guest.poll(tracer.proc)
        h.tracer_log = "\n".join(ln for ln in (r.stdout + r.stderr).splitlines()
                                 if any(f"pid={p} " in ln for p in pids) or "ost" in ln)
    return h


def _make_cgroup(guest: Guest) -> str | None:
    """A new cgroup v2 group for one hold's tasks; None without cgroup2 or PSI there."""
    path = f"{CGROUP_ROOT}/iowitness-hold-{next(_hold_ids)}"
    if guest.run(f"mkdir {path} && test -r {path}/io.pressure").rc == 0:
        return path
    guest.run(f"rmdir {path}")
    return None


def quote(*argv) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)
