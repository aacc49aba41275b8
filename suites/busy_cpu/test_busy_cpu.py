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

from suites.holds import MARKS, TASKS, Scene, control, uring_idle_class, uring_read_class
from suites.waits import AIO_GETEVENTS, DIRECT_READ, MSLEEP_IOWAIT, URING_IDLE_IOWAIT
from suites.watch.plot import cpu_time_plot
from suites.watch.procfs import parse_local_timer_interrupts

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
@pytest.mark.catches("source-6.1-mut-no-iowait-mark", "source-6.1-mut-aix-iowait", "source-6.1-mut-psi-io-some-busy",
                     "source-6.1-mut-iowait-as-system")
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
def test_io_uring_wait_with_read_in_flight(scene, plot_path):
    """Iowait without D: io_uring_enter waiting for an O_DIRECT read in flight
    sleeps in S with in_iowait set (7b72d661f1f2 gates it on pending requests):
    iowait, procs_blocked, PSI io and blkio delay grow; loadavg does not count it.
    A kernel before 8a796565cec3 waits in plain schedule: S, no witness moves,
    and the O_DIRECT read control must move them."""
    wait = uring_read_class(scene.guest)
    scene.setup(wait, DIRECT_READ)
    scene.baseline()
    h = scene.hold(wait)
    if not wait.iowait:
        control(scene)
    cpu_time_plot(plot_path, f"{scene.guest.kernel.name}: {h.n} io_uring waiters on CPU {scene.cpu}", scene.phases)
    scene.evidence.require()


@pytest.mark.behaviour("io-uring-iowait-without-d")
@pytest.mark.kconfig("CONFIG_IO_URING")
def test_io_uring_wait_with_nothing_in_flight(scene):
    """A wait in io_uring_enter with nothing in flight, after one NOP was
    submitted and reaped: S, and I/O wait or not as the kernel's own state at
    the wait says (tctx->inflight, which keeps the task's cached request
    references after any submission: docs/kernel-rules.md §4). Every witness is
    judged against that prediction, so a kernel whose waits depart from the
    state it decides them on fails here, whatever its version."""
    decide = uring_idle_class(scene)
    scene.baseline()
    scene.hold(URING_IDLE_IOWAIT, label="io_uring wait, nothing in flight", decide=decide)
    scene.evidence.require()


@pytest.mark.behaviour("libaio-getevents-not-iowait")
@pytest.mark.catches("source-6.1-mut-no-iowait-mark", "source-6.1-mut-aio-getevents-iowait")
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
