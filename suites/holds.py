"""What the dstate and busy_cpu scenarios (and the tools' agreement matrix)
share: how long a hold waits and is watched, on which CPU, and a Scene that
makes each wait as suites/waits.py declares it, runs a test's holds and judges
them.

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

import pytest

from suites.devices import NULLB_DELAY_S
from suites.waits import (
    DEVICE,
    DIRECT_READ,
    FILE,
    MS,
    SLOW_DEVICE,
    SWAP_IN,
    SWAP_IN_POLLED,
    TASKS,
    URING_IDLE,
    URING_IDLE_IOWAIT,
    URING_READ,
    URING_READ_SCHEDULE,
    Wait,
    workload,
)
from suites.watch import uring_state
from suites.watch.cpus import task_cpu
from suites.watch.hold import Hold, Span, hold, quote, watch
from suites.watch.judge import check_hold
from suites.watch.per_guest import PerGuest
from vm import probes

# One load sample (every 5 s + 1 tick, visible 10 ticks later) must fall inside
# the window for loadavg to be asserted: 6 s leaves room at HZ >= 100.
WINDOW_S = 6.0
# The workload's own wait: the window opens ~1 s after the start under TCG. The
# slow device's requests take as long (a read is the positive control).
HOLD_S = NULLB_DELAY_S
assert HOLD_S >= WINDOW_S + 3
BASELINE_S = 3.0  # the idle baseline each test measures before its holds

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


def _swap_read_polls(guest) -> bool | None:
    if not probes.has_btf(guest):
        return None
    return "do_poll" in guest.run("pfunct -F btf /sys/kernel/btf/vmlinux -f read_swap_cache_async").stdout


_SWAP_READ_POLLS: PerGuest[bool | None] = PerGuest(_swap_read_polls)


def swap_read_polls(guest) -> bool | None:
    """Whether a one-page swap-in polls for its read: read_swap_cache_async()
    takes do_poll until "swap: remove remnants of polling from
    read_swap_cache_async" (2023). Read once per guest from the kernel's BTF
    (pfunct prints the prototype); None: the kernel publishes no BTF."""
    return _SWAP_READ_POLLS.of(guest)


def swap_in_not(guest, wait: Wait) -> str | None:
    """Why `wait` (one of the two swap-in classes) is not how this kernel swaps a
    page in, or None."""
    polls = swap_read_polls(guest)
    if polls is None:
        return f"{guest.kernel.name}: no BTF to read whether a swap-in polls for its read"
    if polls != (wait == SWAP_IN_POLLED):
        return (f"{guest.kernel.name}: read_swap_cache_async() {'takes' if polls else 'has no'} do_poll, "
                f"so a one-page swap-in {'polls' if polls else 'does not poll'} for its read")
    return None


def swap_in_class(guest) -> Wait:
    """The swap-in this kernel does (skips without BTF to read it from)."""
    polls = swap_read_polls(guest)
    if polls is None:
        pytest.skip(swap_in_not(guest, SWAP_IN))
    return SWAP_IN_POLLED if polls else SWAP_IN


def _filled(arg, scene: Scene, fixture) -> object:
    """A workload's argument with its placeholder (suites/waits.py) filled in."""
    if arg == DEVICE:
        return scene.device()
    if arg == MS:
        return scene.ms
    if arg == FILE:
        return fixture.path
    return arg



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
            known = workload(wait)
            if known and known.needs == SLOW_DEVICE:
                self.device()  # waits for the scan to end
            elif known and known.needs:
                self.fixture(known.needs)

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
        known = workload(wait)
        if args is None and known is None:
            raise ValueError(f"no workload for the wait {wait.name!r}: give block_once's args")
        self.setup(wait)
        fixture = self.fixture(known.needs) if known and known.needs else None
        if known and known.prepare:
            getattr(fixture, known.prepare)()
        argv = args if args is not None else [_filled(a, self, fixture) for a in known.make]
        n = tasks or (known.tasks if known else TASKS)
        release = getattr(fixture, known.release) if known and known.release else None
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
