"""A busy CPU masks iowait, and iowait without D state (docs/kernel-rules.md §4-§7).

Two classic claims put to the test: a task in I/O delay does not make a busy
CPU iowait (the msleep-module experiment with a CPU hog), and the AIX text that
charges iowait to every idle CPU, where Linux charges only the runqueue the task
blocked on.

Each phase is a hold (suites/witnesses/observe.py): tasks pinned to CPU k wait
the same way over a window of WINDOW_S while every witness is sampled; phases
with a hog run a user-space spinner pinned to CPU k for the whole window. The
per-CPU picture of all phases goes to results/<run>/plots/.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS, TASKS, Scene, control, uring_idle_class
from suites.waits import AIO_GETEVENTS, DIRECT_READ, MSLEEP_IOWAIT, URING_IDLE_IOWAIT, URING_READ
from suites.watch.plot import cpu_time_plot
from suites.watch.procfs import parse_local_timer_interrupts
from vm import probes

pytestmark = MARKS


def _timer_note(scene: Scene) -> None:
    """What nohz=off changes: an idle CPU takes every tick (HZ per second) instead
    of hardly any, and idle/iowait become tick-sampled. Counted over the baseline."""
    guest, cpu = scene.guest, scene.cpu
    t0, _, before = guest.read_files(["/proc/interrupts"])
    scene.baseline()
    t1, _, after = guest.read_files(["/proc/interrupts"])
    ticks = (parse_local_timer_interrupts(after["/proc/interrupts"])[cpu]
             - parse_local_timer_interrupts(before["/proc/interrupts"])[cpu])
    scene.evidence.note(f"idle CPU {cpu}: {ticks / (t1 - t0):.0f} local timer interrupts/s (HZ={scene.hz}); "
                        f"booted with nohz=off: {'nohz=off' in guest.read_text('/proc/cmdline').split()}")


@pytest.mark.behaviour("busy-cpu-masks-iowait")
# Not the io_uring tests for no-iowait-mark: 6.1's io_cqring_wait_schedule() sets
# in_iowait itself (io_uring/io_uring.c), not through io_schedule_prepare().
@pytest.mark.catches("source-6.1-mut-no-iowait-mark", "source-6.1-mut-aix-iowait", "source-6.1-mut-psi-io-some-busy")
def test_busy_cpu_masks_iowait(scene, plot_path):
    """Phases 1-3: the same real I/O wait (O_DIRECT reads of the slow null_blk
    device), then the module's sleep with in_iowait = 1, each once on an
    idle CPU k and once with a hog on CPU k. With the hog, CPU k's iowait and
    PSI io full stay at the idle baseline while procs_blocked, PSI io some,
    blkio delay and the tracer still show the wait."""
    scene.setup(DIRECT_READ, MSLEEP_IOWAIT)
    _timer_note(scene)
    try:
        scene.hold(DIRECT_READ, label="1 O_DIRECT read, CPU idle")
        scene.hold(DIRECT_READ, label="2 O_DIRECT read, hog on CPU", hog=True)
        scene.hold(MSLEEP_IOWAIT, label="3a msleep in_iowait=1, CPU idle")
        scene.hold(MSLEEP_IOWAIT, label="3b msleep in_iowait=1, hog on CPU", hog=True)
    finally:
        cpu_time_plot(plot_path, f"{scene.guest.kernel.name}: {TASKS} tasks waiting on CPU {scene.cpu}",
                      scene.phases)
    scene.evidence.note(f"plot: {plot_path}")
    scene.evidence.require()


@pytest.mark.behaviour("io-uring-iowait-without-d", "iowait-without-a-task-in-d")
@pytest.mark.kconfig("CONFIG_IO_URING")
@pytest.mark.usefixtures("io_uring_iowait")
def test_io_uring_wait_with_read_in_flight(scene, plot_path):
    """Iowait without D: io_uring_enter waiting for an O_DIRECT read in flight
    sleeps in S with in_iowait set (7b72d661f1f2 gates it on pending requests):
    iowait, procs_blocked, PSI io and blkio delay grow; loadavg does not count it."""
    scene.setup(URING_READ)
    scene.baseline()
    h = scene.hold(URING_READ)
    cpu_time_plot(plot_path, f"{scene.guest.kernel.name}: {h.n} io_uring waiters on CPU {scene.cpu}", scene.phases)
    scene.evidence.require()


# Whether io_uring_enter waiting with nothing in flight, after one request was
# submitted and reaped, is I/O wait: io_cqring_wait() sets in_iowait while
# current_pending_io() (7b72d661f1f2), and tctx->inflight also holds the task's
# cached request references (io_task_refs_refill() adds IO_TCTX_REFS_CACHE_NR),
# so it stays true after any submission (docs/kernel-rules.md §4). Reported on
# io-uring@ in April 2026; a kernel with the fix fails the row below, which then
# needs the fix's versions.
IDLE_WAIT_RULE = ("io_uring/io_uring.c io_cqring_wait(): in_iowait while current_pending_io(), "
                  "which counts cached request refs (docs/kernel-rules.md §4)")


@pytest.mark.behaviour("io-uring-iowait-without-d")
@pytest.mark.kconfig("CONFIG_IO_URING")
@pytest.mark.usefixtures("io_uring_iowait")
def test_io_uring_wait_with_nothing_in_flight(scene):
    """A wait in io_uring_enter with nothing in flight, after one NOP was
    submitted and reaped: S, and I/O wait by the rule above; every witness is
    judged by what this kernel's procs_blocked shows, so a kernel that differs
    fails the rule's row alone."""
    scene.baseline()
    label = "io_uring wait, nothing in flight"
    h = scene.hold(URING_IDLE_IOWAIT, label=label, decide=uring_idle_class)
    blocked = h.window.blocked
    version = ".".join(map(str, probes.kernel_version(scene.guest)))
    scene.evidence.note(f"{label}: observed {'I/O wait' if h.wait is URING_IDLE_IOWAIT else 'not I/O wait'} on "
                        f"{version} (procs_blocked {min(blocked)}..{max(blocked)})")
    scene.evidence.check(f"{label}: behaviour of this kernel", h.wait is URING_IDLE_IOWAIT, "I/O wait",
                         "I/O wait" if h.wait is URING_IDLE_IOWAIT else "not I/O wait", IDLE_WAIT_RULE)
    scene.evidence.require()


@pytest.mark.behaviour("libaio-getevents-not-iowait")
@pytest.mark.catches("source-6.1-mut-no-iowait-mark")
@pytest.mark.kconfig("CONFIG_AIO")
def test_libaio_getevents_is_not_iowait(scene):
    """io_getevents waiting for the same slow read sleeps in S without in_iowait
    (fs/aio.c read_events(): wait_event_interruptible_hrtimeout): no witness
    moves. Control: the same read waited for by pread() moves all of them."""
    scene.setup(AIO_GETEVENTS, DIRECT_READ)
    scene.baseline()
    scene.hold(AIO_GETEVENTS)
    control(scene)
    scene.evidence.require()
