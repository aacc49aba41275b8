"""Watch tasks hold a wait, with every registered witness (suites/witnesses/).

A hold is N tasks started pinned to one CPU that each block once the same way.
Each witness may start a process before the tasks start (a tracer, a tool that
samples), may read files at every sample, and may act when the tasks are ready
and when the window opens and closes. The tasks stop at a gate as they start
(block_once's IOWITNESS_GATE); the tools that follow their pids start then, and
only once every tool shows it is watching (it has read what it reports: the
kernel saw it, suites/watch/reads.py) are the tasks let go, so no tool starts
late. Once all tasks are in the wait's state the window opens (snapshot
`before`); files are sampled until it closes (snapshot `after`) while every
task still waits, so each counter's change covers only time in which all N
tasks were waiting. Then the tasks finish, each reports its own
/proc/self/stat after waking (delayacct includes a sleep only once it has
ended) and when it began and ended its sleep, and each witness collects what it
saw. Judging is separate (suites/watch/judge.py).
"""

from __future__ import annotations

import itertools
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

from core import budget
from core.faults import FAIL, IowitnessError
from suites.waits import Wait
from suites.watch.procfs import (
    CpuRun,
    CpuTimes,
    LoadAvg,
    Pressure,
    Stat,
    TaskStat,
    parse_loadavg,
    parse_local_timer_interrupts,
    parse_pressure,
    parse_schedstat,
    parse_stat,
    parse_task_stat,
)
from vm.errors import GuestError, OutputNotSeen
from vm.guest import Guest

SAMPLE_EVERY_S = 0.25
# Each hold's tasks get a cgroup of their own: its io.pressure counts only their
# stalls, where /proc/pressure/io also counts every other task's I/O waits.
CGROUP_ROOT = "/sys/fs/cgroup"
_hold_ids = itertools.count(1)
# What every sample reads whatever the witnesses want: the CPU times (plots), what
# ran on each CPU (the time bounds) and, per task, its state (the hold checks that
# every task still waits).
CORE_FILES = ("/proc/stat", "/proc/schedstat")
# Each task sleeps this long after reporting, before it exits (block_once's
# IOWITNESS_LINGER_MS): tools that sample per second and follow tasks (pidstat,
# iotop) see it once more after its delay was added at its wake.
LINGER_MS = 3000
# How long the tools may take to show they watch, once started (iotop-py's first
# start in a guest beside a CPU hog took ~10 s under TCG on a slow host).
WATCHING_TIMEOUT_S = 120


class HoldError(IowitnessError):
    """The hold itself went wrong: a workload failed, did not reach the wait, or
    woke too early. A finding to look at: the kernel did not let the tasks wait as
    the scenario needs."""

    fault = "hold failed"
    status = FAIL


@dataclass(frozen=True)
class Snapshot:
    t: float  # guest CLOCK_MONOTONIC (seconds), middle of the reads
    files: dict[str, str | None]  # path -> text (None: could not be read, e.g. a task that exited)
    pids: tuple[int, ...] = ()
    cgroup: str | None = None
    spread: float = 0.0  # seconds the reads took: each file was read within t +- spread/2

    def text(self, path: str) -> str | None:
        return self.files.get(path)

    def read(self, path: str) -> str:
        """A file this snapshot must have read (ValueError: it could not)."""
        text = self.files.get(path)
        if text is None:
            raise ValueError(f"{path} was not read in this snapshot")
        return text

    @cached_property
    def stat(self) -> Stat:
        return parse_stat(self.read("/proc/stat"))

    @cached_property
    def schedstat(self) -> dict[int, CpuRun] | None:
        text = self.files.get("/proc/schedstat")
        return parse_schedstat(text) if text else None

    @cached_property
    def local_timer(self) -> list[int] | None:
        text = self.files.get("/proc/interrupts")
        try:
            return parse_local_timer_interrupts(text) if text else None
        except ValueError:  # no LOC row (not x86)
            return None

    @cached_property
    def pressure(self) -> Pressure:
        return parse_pressure(self.read("/proc/pressure/io"))

    @cached_property
    def load(self) -> LoadAvg:
        return parse_loadavg(self.read("/proc/loadavg"))

    @cached_property
    def tasks(self) -> dict[int, TaskStat]:
        """Tasks that have exited are absent."""
        return {p: parse_task_stat(text) for p in self.pids if (text := self.files.get(f"/proc/{p}/stat"))}

    @cached_property
    def wchan(self) -> dict[int, str]:
        return {p: self.files[f"/proc/{p}/wchan"] or "" for p in self.pids
                if self.files.get(f"/proc/{p}/wchan") is not None}

    @cached_property
    def group(self) -> Pressure | None:
        """io.pressure of the hold's cgroup, if it has one."""
        text = self.files.get(f"{self.cgroup}/io.pressure") if self.cgroup else None
        return parse_pressure(text) if text else None


def snapshot(guest: Guest, files: list[str], pids=(), cgroup: str | None = None) -> Snapshot:
    paths = list(dict.fromkeys([*CORE_FILES, *(f"/proc/{p}/stat" for p in pids), *files]))
    t0, t1, texts = guest.read_files(paths)
    return Snapshot((t0 + t1) / 2, texts, tuple(pids), cgroup, spread=t1 - t0)


@dataclass(frozen=True)
class Span:
    """What changed between two snapshots."""

    before: Snapshot
    after: Snapshot
    samples: list[Snapshot]  # from before to after, both included

    @property
    def seconds(self) -> float:
        return self.after.t - self.before.t

    @property
    def edges(self) -> float:
        """How much shorter than `seconds` the span between two reads of one file
        can be: each end was read somewhere within its snapshot's reads."""
        return (self.before.spread + self.after.spread) / 2

    def cpu(self, n: int) -> CpuTimes:
        return self.after.stat.cpus[n] - self.before.stat.cpus[n]

    def local_timer(self, n: int) -> int | None:
        """LOC (local timer) interrupts CPU n took over the span (None: not read)."""
        a, b = self.before.local_timer, self.after.local_timer
        return b[n] - a[n] if a and b and n < min(len(a), len(b)) else None

    def ran(self, n: int) -> CpuRun | None:
        """What ran on CPU n over the span, exactly (None: no /proc/schedstat)."""
        a, b = self.before.schedstat, self.after.schedstat
        return b[n] - a[n] if a and b else None

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


def watch(guest: Guest, seconds: float, pids=(), cgroup: str | None = None, files: list[str] | None = None) -> Span:
    """Sample for `seconds` (guest time): the idle baseline, or a hold's window.
    Without `files`, what every registered witness reads (after each has been set
    up on this guest: a baseline sees what the holds will run beside)."""
    if files is None:
        from suites.witnesses import registered
        setup_witnesses(guest)
        files = [f for w in registered() for f in w.files(tuple(pids), cgroup)]
    with budget.spend(budget.WINDOW):
        first = snapshot(guest, files, pids, cgroup)
        samples = [first]
        while samples[-1].t < first.t + seconds:
            time.sleep(SAMPLE_EVERY_S)
            samples.append(snapshot(guest, files, pids, cgroup))
    return Span(first, samples[-1], samples)


def setup_witnesses(guest: Guest) -> dict[str, str]:
    """Each registered witness that can run here, set up once on this guest (a
    tracer attached, a daemon started); returns those whose set-up failed, why."""
    from suites.witnesses import registered
    failed = {}
    for w in registered():
        if w.unavailable(guest):
            continue
        try:
            w.setup(guest)
        except GuestError:
            raise
        except IowitnessError as e:
            failed[w.name] = f"setup: {str(e).strip()[:600]}"
    return failed


State = TypeVar("State")


@dataclass
class HoldRun:
    """What a witness sees of a hold while it runs; `state()` is each witness's own."""

    guest: Guest
    wait: Wait
    cpu: int
    window_s: float
    pids: tuple[int, ...] = ()
    cgroup: str | None = None
    window_open: float | None = None  # guest monotonic
    window_close: float | None = None
    states: dict[str, object] = field(default_factory=dict)  # by key: what state() made
    outputs: Path | None = None  # where tools' raw output is kept (results/<run>/tools/<test>/)
    label: str = ""
    delayacct: bool = True  # kernel.task_delayacct when the tasks forked: they have a delay record
    seconds: dict[str, float] = field(default_factory=dict)  # host time spent in each witness's steps
    phases: dict[str, float] = field(default_factory=dict)  # host time of each phase of the hold
    go: Snapshot | None = None  # the tasks at the gate, just before they were let go (every tool watching)
    started: float = 0.0  # guest monotonic as the hold began: what witnesses read before is not theirs
    gated: float = 0.0  # guest monotonic by which every task was stopped at the gate (0: not known)

    def state(self, key: str, make: Callable[[], State]) -> State:
        """What `key` (a witness's name, or a reading several witnesses share)
        keeps through this hold: made by `make` on first use, the same after."""
        if key not in self.states:
            self.states[key] = make()
        return cast(State, self.states[key])

    def state_of(self, key: str, kind: type[State]) -> State | None:
        """The state `key` made in this hold, or None if it made none (a hold that
        failed before that witness's step)."""
        got = self.states.get(key)
        return got if isinstance(got, kind) else None

    def keep(self, witness: str, text: str) -> None:
        """A tool's raw output, beside the evidence that judged it. An extra: on a
        full results disk it is dropped (the test's evidence table fails the test)."""
        from harness import results, results_space
        if self.outputs is None or results_space.full(self.outputs.parents[1]):
            return
        path = self.outputs / f"{results.safe_name(self.label or self.wait.name)}.{witness}.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError:
            pass

    @cached_property
    def wall_offset(self) -> float:
        """Guest wall-clock time minus CLOCK_MONOTONIC: places tools' timestamps
        (wall clock) in the window (monotonic). The guest runs no NTP."""
        mono, real = self.guest.clock()
        return real - mono

    def wall(self, monotonic: float) -> float:
        return monotonic + self.wall_offset

    @property
    def other_cpus(self) -> str:
        """Where tools run: every online CPU but the tasks' (taskset -c list), so
        they do not take the tasks' CPU out of idle."""
        from suites.watch.cpus import tool_cpus
        return tool_cpus(self.guest)


@dataclass
class Hold:
    wait: Wait
    cpu: int
    pids: list[int]
    window: Span
    reports: dict[int, TaskStat]  # /proc/self/stat each task printed after waking
    cgroup: str | None = None
    slept: dict[int, tuple[float, float]] = field(default_factory=dict)  # per task: READY, WOKE (monotonic)
    collected: dict[str, Any] = field(default_factory=dict)  # per witness: what it saw
    unavailable: dict[str, str] = field(default_factory=dict)  # per witness: why it could not run here
    failed: dict[str, str] = field(default_factory=dict)  # per witness: how its own process failed
    run: HoldRun | None = None
    exited: dict[str, int] = field(default_factory=dict)  # per failed witness: the status it ended with on its own

    @property
    def delayed(self) -> bool:
        """Whether the tasks' I/O wait shows as delay: it is I/O wait, and delay
        accounting was on when they forked (kernel/delayacct.c delayacct_tsk_init():
        a task gets its record at fork, docs/kernel-rules.md §5)."""
        return self.wait.iowait and (self.run is None or self.run.delayacct)

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


def _wait_line(guest: Guest, procs, word: str, timeout: float) -> list[list[str]]:
    """Each workload's first line starting with `word` (GATE, READY), split."""
    deadline = time.monotonic() + timeout
    found: dict[int, list[str]] = {}
    while len(found) < len(procs):
        for i, p in enumerate(procs):
            if i in found:
                continue
            r = guest.poll(p)
            lines = [ln.split() for ln in r.stdout.splitlines() if ln.startswith(word + " ")]
            if lines:
                found[i] = lines[0]
            elif r.rc is not None:
                raise HoldError(f"`{p.cmd}` exited {r.rc} before printing {word}:\n{r.stdout}{r.stderr}")
        if time.monotonic() > deadline:
            raise HoldError(f"workloads did not print {word} within {timeout}s")
        time.sleep(0.05)
    return [found[i] for i in range(len(procs))]


def _wait_state(guest: Guest, pids: list[int], state: str, timeout: float) -> float:
    """Until every task is in `state`; returns a guest monotonic instant by which all were."""
    deadline = time.monotonic() + timeout
    while True:
        snap = snapshot(guest, [], pids)
        if all(p in snap.tasks and snap.tasks[p].state == state for p in pids):
            return snap.t + snap.spread / 2
        if time.monotonic() > deadline:
            now = {p: (snap.tasks[p].state if p in snap.tasks else "gone") for p in pids}
            raise HoldError(f"tasks not all in state {state} after {timeout}s: {now}")
        time.sleep(0.05)


class _Witnesses:
    """The registered witnesses of one hold, each step called on every one that
    runs. One that cannot run on this guest (not installed, a kernel option
    missing) is left out with the reason; one whose own process fails is out of
    the rest of the hold, and its judgement says how it failed. The hold goes on
    either way; a lost guest ends it."""

    def __init__(self, run: HoldRun):
        from suites.witnesses import registered
        self.run = run
        self.all = registered()
        self.unavailable: dict[str, str] = {}
        for w in self.all:
            why = w.unavailable(run.guest)
            if why:
                self.unavailable[w.name] = why
        self.failed: dict[str, str] = setup_witnesses(run.guest)
        self.exited: dict[str, int] = {}

    def fail(self, w, why: str, e: Exception | None = None) -> None:
        """`w` is out of the hold, failed with why (and the status its process
        ended with on its own, if the error carries one)."""
        self.failed[w.name] = why
        if isinstance(e, OutputNotSeen) and e.rc is not None:
            self.exited[w.name] = e.rc
        w.abandon(self.run)

    def active(self):
        return [w for w in self.all if w.name not in self.unavailable and w.name not in self.failed]

    def call(self, step: str) -> dict[str, Any]:
        out = {}
        for w in self.active():
            t0 = time.monotonic()
            try:
                out[w.name] = getattr(w, step)(self.run)
            except GuestError:
                raise
            except IowitnessError as e:
                self.fail(w, f"{step}: {str(e).strip()[:600]}", e)
            finally:
                self.run.seconds[w.name] = self.run.seconds.get(w.name, 0.0) + time.monotonic() - t0
        return out

    def files(self) -> list[str]:
        return [f for w in self.active() for f in w.files(self.run.pids, self.run.cgroup)]

    def until_watching(self, timeout: float) -> None:
        """Until every witness says it watches (a tool has read what it reports);
        one that does not by the timeout is out of the hold, failed with why."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = {}
            for w in self.active():
                try:
                    why = w.watching(self.run)
                except GuestError:
                    raise
                except IowitnessError as e:
                    self.fail(w, f"watching: {str(e).strip()[:600]}", e)
                    continue
                if why:
                    waiting[w] = why
            if not waiting:
                return
            if time.monotonic() > deadline:
                for w, why in waiting.items():
                    self.fail(w, f"watching: not within {timeout:.0f} s of its start ({why})")
                return
            time.sleep(0.2)


def hold(guest: Guest, commands: list[str], cpu: int, window_s: float, wait: Wait,
         release: Callable[[], None] | None = None, end_timeout: float = 120, label: str = "",
         outputs: Path | None = None, on_ready: Callable[[], None] | None = None) -> Hold:
    """Run `commands` (each a block_once-style workload) pinned to `cpu`, watch
    the window while all are in the wait's state, then let them finish (`release`,
    if the test ends the wait itself) and collect their reports and what every
    witness saw (tools' raw output kept in `outputs`). `on_ready`: called once the
    tasks are about to wait (e.g. a sysctl changed after they forked)."""
    run = HoldRun(guest, wait, cpu, window_s, cgroup=_make_cgroup(guest), outputs=outputs, label=label)
    t0 = time.monotonic()
    witnesses = _Witnesses(run)
    _ = run.wall_offset  # read once, before anything runs
    run.started = guest.read_files([])[0]
    run.phases["set-up"] = time.monotonic() - t0
    try:
        t0 = time.monotonic()
        witnesses.call("start")
        run.delayacct = guest.run("cat /proc/sys/kernel/task_delayacct").stdout.strip() == "1"
        join = f"echo $$ > {run.cgroup}/cgroup.procs && " if run.cgroup else ""
        procs = [guest.spawn(f"{join}IOWITNESS_GATE=1 IOWITNESS_LINGER_MS={LINGER_MS} exec taskset -c {cpu} {cmd}")
                 for cmd in commands]
        with budget.spend(budget.HOLD_EDGES):
            pids = [int(f[1]) for f in _wait_line(guest, procs, "GATE", timeout=60)]
            run.gated = _wait_state(guest, pids, "T", timeout=60)  # stopped at the gate
        run.pids = tuple(pids)
        witnesses.call("tasks_ready")
        with budget.spend(budget.HOLD_EDGES):
            witnesses.until_watching(WATCHING_TIMEOUT_S)
            run.go = snapshot(guest, [], pids)
            for proc in procs:
                guest.signal(proc, signal.SIGCONT, group=False)
            ready = {int(f[1]): float(f[2]) for f in _wait_line(guest, procs, "READY", timeout=60)}
        if on_ready:
            on_ready()
        with budget.spend(budget.HOLD_EDGES):
            _wait_state(guest, pids, wait.state, timeout=60)
        run.phases["until the wait"] = time.monotonic() - t0
        t0 = time.monotonic()
        run.window_open = guest.read_files([])[0]
        witnesses.call("at_window_open")
        window = watch(guest, window_s, pids, run.cgroup, witnesses.files())
        witnesses.call("at_window_close")
        run.window_close = window.after.t
        run.phases["window"] = time.monotonic() - t0
        t0 = time.monotonic()
        left = {p for s in window.samples for p in pids
                if p not in s.tasks or s.tasks[p].state != wait.state}
        if release:
            release()
        reports, slept = {}, {}
        for proc, pid in zip(procs, pids, strict=True):
            with budget.spend(budget.HOLD_EDGES):
                r = guest.wait(proc, timeout=end_timeout)
            stat = [ln[5:] for ln in r.stdout.splitlines() if ln.startswith("STAT ")]
            woke = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("WOKE ")]
            if r.rc != 0 or not stat or not woke:
                raise HoldError(f"`{proc.cmd}` failed (rc {r.rc}):\n{r.stdout}{r.stderr}")
            reports[pid] = parse_task_stat(stat[0])
            slept[pid] = (ready[pid], float(woke[0]))
        run.phases["until the tasks exit"] = time.monotonic() - t0
        t0 = time.monotonic()
        collected = witnesses.call("stop")
        run.phases["collecting"] = time.monotonic() - t0
    except BaseException:
        if guest.usable():
            for w in witnesses.active():
                w.abandon(run)
        raise
    if run.cgroup:
        guest.run(f"rmdir {run.cgroup}")  # empty now: every task has been waited for
    if left:
        raise HoldError(f"tasks {sorted(left)} left state {wait.state} inside the {window_s}s window: "
                        "the workload's hold is too short for the window")
    return Hold(wait, cpu, pids, window, reports, run.cgroup, slept, collected, dict(witnesses.unavailable),
                dict(witnesses.failed), run, dict(witnesses.exited))


def _make_cgroup(guest: Guest) -> str | None:
    """A new cgroup v2 group for one hold's tasks; None without cgroup2 or PSI there."""
    path = f"{CGROUP_ROOT}/iowitness-hold-{next(_hold_ids)}"
    if guest.run(f"mkdir {path} && test -r {path}/io.pressure").rc == 0:
        return path
    guest.run(f"rmdir {path}")
    return None


def quote(*argv) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)
