"""What the dstate and busy_cpu scenarios (and the tools' agreement matrix)
share: how long a hold waits and is watched, how many tasks wait, on which CPU,
the workload that makes each wait of suites/waits.py, and a Scene that runs a
test's holds and judges them.

A hold (suites/watch/hold.py) is N tasks pinned to one CPU waiting the same way,
with every witness read over a window in which all of them wait.

    def test_my_wait(scene):
        scene.baseline()
        scene.hold(MY_WAIT, ["my-mode", "arg"])              # block_once my-mode arg, TASKS times
        scene.hold(DIRECT_READ, label="control: O_DIRECT read, slow null_blk")   # the positive control
        scene.evidence.require()
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import pytest

from suites.devices import NULLB_DELAY_S
from suites.waits import (
    AIO_GETEVENTS,
    BUFFERED_READ,
    DIRECT_READ,
    DIRECT_WRITE,
    FAULT_READ,
    FROZEN_WRITER,
    FSYNC_DIRTY,
    IO_DESTROY,
    MSLEEP,
    MSLEEP_IOWAIT,
    URING_IDLE,
    URING_IDLE_IOWAIT,
    URING_READ,
    URING_READ_SCHEDULE,
    VFORK_PARENT,
    Wait,
)
from suites.watch import uring_state
from suites.watch.cpus import task_cpu
from suites.watch.hold import Hold, Span, hold, quote, watch
from suites.watch.judge import check_hold
from vm import probes

# One load sample (every 5 s + 1 tick, visible 10 ticks later) must fall inside
# the window for loadavg to be asserted: 6 s leaves room at HZ >= 100.
WINDOW_S = 6.0
# The workload's own wait: the window opens ~1 s after the start under TCG. The
# slow device's requests take as long (a read is the positive control).
HOLD_S = NULLB_DELAY_S
assert HOLD_S >= WINDOW_S + 3
BASELINE_S = 3.0  # the idle baseline each test measures before its holds
TASKS = 3  # three tasks make loadavg's rise (>= 3 x 8% of a sample) stand out
# ... against the guest's own tasks, but not against the tools under test: those
# wake together each second on the other CPUs, and the full planted-bug run saw
# ~3 others active at one calc_load() instant (load1 1.28 -> 1.41 with the vfork
# parents not counted by the loadavg-state-equality mutant, where 3 counted
# tasks predict >= 1.41). The vfork hold, the one whose state (TASK_KILLABLE)
# only loadavg's rule tells apart, uses LOAD_TASKS: counted, they raise load1 by
# >= 8 x 8 % of a sample, far beyond what the others reach.
LOAD_TASKS = 8
# Tasks in S are not in loadavg: counted, they would raise load1 by >= 8 % of
# one update each; the reading must stay below that (witnesses/loadavg.py). Six
# did not stand out of the tools either: the full planted-bug run read load1
# 2.25 -> 2.68 beside six S tasks that the kernel did not count (the least with
# them counted, one update: 2.55), ~7.6 others active at one update or ~5 at two.
S_TASKS = LOAD_TASKS

# Every hold test runs with delay accounting on and block-device polling quiet. A
# kernel without PSI or delay accounting still runs them: those witnesses say
# "not run" in the evidence (their check()), the others judge.
HOLD_FIXTURES = ("delayacct", "quiet_block_polling", "irqs_off_task_cpu")
MARKS = [
    pytest.mark.usefixtures(*HOLD_FIXTURES),
    pytest.mark.alone,  # the witnesses count ticks: another guest's load would take them (harness/plugin/parallel.py)
]


def io_uring_not_iowait(guest) -> str | None:
    """Why io_uring waits are not I/O wait on this kernel, or None: 8a796565cec3
    ("io_uring: Use io_schedule* in cqring wait") is in mainline 6.5 and stable
    6.1.39; earlier kernels wait in plain schedule()."""
    v = probes.kernel_version(guest)
    if v >= (6, 5) or (6, 1, 39) <= v < (6, 2):
        return None
    return f"{guest.kernel.name}: io_uring waits are not I/O wait before 8a796565cec3 (6.5, 6.1.39)"


def uring_read_class(guest) -> Wait:
    """io_uring_enter waiting for a read in flight: I/O wait where the kernel waits
    in io_schedule(), S and nothing else before (judged, not skipped)."""
    return URING_READ if io_uring_not_iowait(guest) is None else URING_READ_SCHEDULE


@dataclass(frozen=True)
class Workload:
    """How a wait is made: block_once's arguments (given the scene), how many tasks,
    what must be there before the baseline (`setup`: the slow device, the module,
    the filesystem), what is done just before the hold (`prepare`: a freeze) and
    what ends the wait when the workload cannot (`release`: a thaw)."""

    args: Callable[[Scene], list]
    tasks: int = TASKS
    release: Callable[[Scene], Callable[[], None]] | None = None
    prepare: Callable[[Scene], None] | None = None
    setup: Callable[[Scene], object] | None = None


def _frozen(scene: Scene):
    return scene.fixture("frozen_ext4")


# The workload of each wait of suites/waits.py (fixtures/workloads/block_once.c).
def _device(scene: Scene):
    return scene.device()


def _module(scene: Scene):
    return scene.fixture("dsleep")


_URING_READ = Workload(lambda s: ["uring-read", s.device()], tasks=S_TASKS, setup=_device)
WORKLOADS: dict[str, Workload] = {
    DIRECT_READ.name: Workload(lambda s: ["pread-direct", s.device()], setup=_device),
    DIRECT_WRITE.name: Workload(lambda s: ["pwrite-direct", s.device()], setup=_device),
    FSYNC_DIRTY.name: Workload(lambda s: ["fsync-dirty", s.device()], setup=_device),
    BUFFERED_READ.name: Workload(lambda s: ["pread-buffered", s.device()], setup=_device),
    FAULT_READ.name: Workload(lambda s: ["fault-mapped", s.device()], setup=_device),
    MSLEEP.name: Workload(lambda s: ["dsleep", s.ms, 0], setup=_module),
    MSLEEP_IOWAIT.name: Workload(lambda s: ["dsleep", s.ms, 1], setup=_module),
    VFORK_PARENT.name: Workload(lambda s: ["vfork", s.ms], tasks=LOAD_TASKS),
    IO_DESTROY.name: Workload(lambda s: ["aio-destroy", s.device()], setup=_device),
    FROZEN_WRITER.name: Workload(lambda s: ["append", _frozen(s).path], release=lambda s: _frozen(s).thaw,
                                 prepare=lambda s: _frozen(s).freeze(), setup=_frozen),
    URING_READ.name: _URING_READ,  # the same workload, whichever way the kernel waits
    URING_READ_SCHEDULE.name: _URING_READ,
    URING_IDLE.name: Workload(lambda s: ["uring-idle", s.ms], tasks=S_TASKS),
    AIO_GETEVENTS.name: Workload(lambda s: ["aio-getevents", s.device()], tasks=S_TASKS, setup=_device),
}


class Scene:
    """One test's holds on its guest: the idle baseline, each wait's workload (with
    a CPU hog on the tasks' CPU if asked), and every witness's judgement written to
    the test's evidence table."""

    def __init__(self, request, guest, block_once: str, hz: int, evidence):
        self.request, self.guest, self.block_once, self.hz, self.evidence = request, guest, block_once, hz, evidence
        self.cpu = task_cpu(guest)
        self.ms = int(HOLD_S * 1000)
        self.base: Span | None = None
        self.phases: list[tuple[str, Span]] = []  # for a picture of per-CPU time
        from harness import results
        run_dir = request.getfixturevalue("run_dir")
        self.outputs = results.tools_dir(run_dir, request.node.nodeid)

    def fixture(self, name: str):
        """A fixture the wait needs (the slow device, the module, the frozen fs, the hog),
        set up on first use."""
        return self.request.getfixturevalue(name)

    def device(self) -> str:
        return self.fixture("slow_nullb").device()

    def setup(self, *waits: Wait) -> None:
        """What these waits' workloads need in place before the baseline is measured
        (loading the slow device scans it: I/O wait that is not the test's)."""
        for wait in waits:
            known = WORKLOADS.get(wait.name)
            if known and known.setup:
                known.setup(self)

    def baseline(self) -> Span:
        """The idle baseline the holds' "nothing moves" bounds are scaled from."""
        self.base = watch(self.guest, BASELINE_S)
        self.phases.append(("idle baseline", self.base))
        return self.base

    def hold(self, wait: Wait, args: list | None = None, label: str | None = None, hog: bool = False,
             tasks: int | None = None, decide: Callable[[Hold], Wait] | None = None,
             on_ready: Callable[[], None] | None = None) -> Hold:
        """The tasks wait as `wait` says (its workload, or block_once `args`), every
        witness watches, and their rows go into the evidence table. `decide`: the
        wait's class is read from the hold itself (a behaviour recorded per kernel)."""
        known = WORKLOADS.get(wait.name)
        if args is None and known is None:
            raise ValueError(f"no workload for the wait {wait.name!r}: give block_once's args")
        self.setup(wait)
        if known and known.prepare:
            known.prepare(self)
        argv = args if args is not None else known.args(self)
        n = tasks or (known.tasks if known else TASKS)
        release = known.release(self) if known and known.release else None
        if self.base is None:
            self.baseline()
        label = label or wait.name
        with self.fixture("cpu_hog").on(self.cpu) if hog else nullcontext():
            h = hold(self.guest, [quote(self.block_once, *argv)] * n, self.cpu, WINDOW_S, wait, release=release,
                     label=label, outputs=self.outputs, on_ready=on_ready)
        if decide:
            h.wait = decide(h)
        check_hold(self.evidence, h, self.base, self.hz, label, hog)
        self.phases.append((label, h.window))
        return h


def control(scene: Scene) -> Hold:
    """The positive control: the same tasks waiting for O_DIRECT reads of the slow
    device, real I/O wait, must move every witness a "nothing moves" hold left still."""
    return scene.hold(DIRECT_READ, label="control: O_DIRECT read, slow null_blk")


def uring_idle_class(scene: Scene) -> Callable[[Hold], Wait]:
    """For `decide`: whether an io_uring wait with nothing in flight is I/O wait,
    predicted from the state the kernel decides it on, read as each task begins
    to wait (suites/watch/uring_state.py); every witness is judged against that.
    Call it before the baseline: it attaches the reader."""
    before = io_uring_not_iowait(scene.guest)
    r = None if before else uring_state.reader(scene.guest)

    def decide(h: Hold) -> Wait:
        iowait, why = (False, before) if before else uring_state.predict(r, h.pids)
        scene.evidence.note(f"{h.wait.name}: predicted {'I/O wait' if iowait else 'not I/O wait'}: {why}")
        return URING_IDLE_IOWAIT if iowait else URING_IDLE

    return decide
