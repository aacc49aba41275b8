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

from contextlib import nullcontext

import pytest

from suites.holds import (
    BASELINE_S,
    HOLD_S,
    MARKS,
    S_TASKS,
    TASKS,
    WCHAN_AIO,
    WCHAN_DIRECT_READ,
    WCHAN_IO_URING,
    WCHAN_MSLEEP,
    WINDOW_S,
    direct_read_control,
    task_cpu,
)
from suites.witnesses.expect import D_IOWAIT, S_IOWAIT, S_NOT_IOWAIT, check_hold
from suites.witnesses.observe import hold, quote, watch
from suites.witnesses.plot import cpu_time_plot
from suites.witnesses.procfs import parse_local_timer_interrupts
from vm import probes

pytestmark = MARKS


@pytest.mark.behaviour("busy-cpu-masks-iowait")
# Not the io_uring tests for no-iowait-mark: 6.1's io_cqring_wait_schedule() sets
# in_iowait itself (io_uring/io_uring.c), not through io_schedule_prepare().
@pytest.mark.catches("source-6.1-mut-no-iowait-mark", "source-6.1-mut-aix-iowait", "source-6.1-mut-psi-io-some-busy")
def test_busy_cpu_masks_iowait(guest, block_once, slow_nullb, dsleep, cpu_hog, hz, offcpu,
                               evidence, plot_path):
    """Phases 1-3: the same real I/O wait (O_DIRECT reads of the slow null_blk
    device), then the module's sleep with in_iowait = 1, each once on an
    idle CPU k and once with a hog on CPU k. With the hog, CPU k's iowait and
    PSI io full stay at the idle baseline while procs_blocked, PSI io some,
    blkio delay and the tracer still show the wait."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    read = [quote(block_once, "pread-direct", dev)] * TASKS
    sleep = [quote(block_once, "dsleep", int(HOLD_S * 1000), 1)] * TASKS
    t0, _, before = guest.read_files(["/proc/interrupts"])
    base = watch(guest, BASELINE_S)
    t1, _, after = guest.read_files(["/proc/interrupts"])
    ticks = (parse_local_timer_interrupts(after["/proc/interrupts"])[cpu]
             - parse_local_timer_interrupts(before["/proc/interrupts"])[cpu])
    # What nohz=off changes: an idle CPU takes every tick (HZ per second)
    # instead of hardly any, and idle/iowait become tick-sampled.
    evidence.note(f"idle CPU {cpu}: {ticks / (t1 - t0):.0f} local timer interrupts/s (HZ={hz}); "
                  f"booted with nohz=off: {'nohz=off' in guest.read_text('/proc/cmdline').split()}")
    phases = [("idle baseline", base)]

    def phase(label, commands, wchans, hog):
        with cpu_hog.on(cpu) if hog else nullcontext():
            h = hold(guest, commands, cpu, WINDOW_S, tracer=offcpu)
        check_hold(evidence, h, base, D_IOWAIT, hz, wchans, label, hog=hog)
        phases.append((label, h.window))

    try:
        phase("1 O_DIRECT read, CPU idle", read, WCHAN_DIRECT_READ, hog=False)
        phase("2 O_DIRECT read, hog on CPU", read, WCHAN_DIRECT_READ, hog=True)
        phase("3a msleep in_iowait=1, CPU idle", sleep, WCHAN_MSLEEP, hog=False)
        phase("3b msleep in_iowait=1, hog on CPU", sleep, WCHAN_MSLEEP, hog=True)
    finally:
        cpu_time_plot(plot_path, f"{guest.kernel.name}: {TASKS} tasks waiting on CPU {cpu}", phases)
    evidence.note(f"plot: {plot_path}")
    evidence.require()


@pytest.fixture
def io_uring_iowait(guest) -> None:
    """8a796565cec3 ("io_uring: Use io_schedule* in cqring wait"): mainline 6.5,
    stable 6.1.39; earlier kernels wait in plain schedule()."""
    v = probes.kernel_version(guest)
    if not (v >= (6, 5) or (6, 1, 39) <= v < (6, 2)):
        pytest.skip(f"{guest.kernel.name}: io_uring waits are not I/O wait before 8a796565cec3 (6.5, 6.1.39)")


@pytest.mark.behaviour("io-uring-iowait-without-d")
@pytest.mark.kconfig("CONFIG_IO_URING")
@pytest.mark.usefixtures("io_uring_iowait")
def test_io_uring_wait_with_read_in_flight(guest, block_once, slow_nullb, hz, offcpu, evidence, plot_path):
    """Iowait without D: io_uring_enter waiting for an O_DIRECT read in flight
    sleeps in S with in_iowait set (7b72d661f1f2 gates it on pending requests):
    iowait, procs_blocked, PSI io and blkio delay grow; loadavg does not count it."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "uring-read", dev)] * S_TASKS, cpu, WINDOW_S, state="S", tracer=offcpu)
    check_hold(evidence, h, base, S_IOWAIT, hz, WCHAN_IO_URING, "io_uring read in flight")
    cpu_time_plot(plot_path, f"{guest.kernel.name}: {S_TASKS} io_uring waiters on CPU {cpu}",
                  [("idle baseline", base), ("io_uring read in flight", h.window)])
    evidence.require()


# Whether io_uring_enter waiting with nothing in flight, after one request was
# submitted and reaped, is I/O wait: tctx->inflight also holds the task's cached
# request references (io_task_refs_refill() adds IO_TCTX_REFS_CACHE_NR), so
# current_pending_io() stays true after any submission. Reported on io-uring@
# in April 2026 and fixed upstream after it. Measured per kernel (uname -v
# version); a change is a failure until this table is updated.
IDLE_WAIT_IS_IOWAIT = {
    (6, 1, 192): True,  # debian-6.1 (6.1.0-56), measured 2026-11-22: procs_blocked 6 of 6
    (6, 12, 117): True,  # debian-6.12, measured 2026-11-22: procs_blocked 6 of 6
}


@pytest.mark.behaviour("io-uring-iowait-without-d")
@pytest.mark.kconfig("CONFIG_IO_URING")
@pytest.mark.usefixtures("io_uring_iowait")
def test_io_uring_wait_with_nothing_in_flight(guest, block_once, hz, offcpu, evidence):
    """A wait in io_uring_enter with nothing in flight, after one NOP was
    submitted and reaped: S, and I/O wait or not as IDLE_WAIT_IS_IOWAIT records
    for this kernel; every witness must agree with whichever it is."""
    version = probes.kernel_version(guest)
    expected = IDLE_WAIT_IS_IOWAIT.get(version)
    cpu = task_cpu(guest)
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "uring-idle", int(HOLD_S * 1000))] * S_TASKS, cpu, WINDOW_S,
             state="S", tracer=offcpu, tracer_lines=expected is not False)
    counted = min(h.window.blocked) >= S_TASKS
    label = "io_uring wait, nothing in flight"
    evidence.note(f"{label}: observed {'I/O wait' if counted else 'not I/O wait'} on "
                  f"{'.'.join(map(str, version))} (procs_blocked {min(h.window.blocked)}..{max(h.window.blocked)})")
    check_hold(evidence, h, base, S_IOWAIT if counted else S_NOT_IOWAIT, hz, WCHAN_IO_URING, label)
    if expected is None:
        evidence.require()
        pytest.skip(f"{guest.kernel.name}: no recorded behaviour for {version} in IDLE_WAIT_IS_IOWAIT; "
                    f"observed: {'counted' if counted else 'not counted'} as I/O wait")
    evidence.check(f"{label}: behaviour of this kernel", counted == expected,
                   "I/O wait" if expected else "not I/O wait", "I/O wait" if counted else "not I/O wait",
                   "IDLE_WAIT_IS_IOWAIT in this file (measured)")
    evidence.require()


@pytest.mark.behaviour("libaio-getevents-not-iowait")
@pytest.mark.catches("source-6.1-mut-no-iowait-mark")
@pytest.mark.kconfig("CONFIG_AIO")
def test_libaio_getevents_is_not_iowait(guest, block_once, slow_nullb, hz, offcpu, evidence):
    """io_getevents waiting for the same slow read sleeps in S without in_iowait
    (fs/aio.c read_events(): wait_event_interruptible_hrtimeout): no witness
    moves. Control: the same read waited for by pread() moves all of them."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "aio-getevents", dev)] * S_TASKS, cpu, WINDOW_S, state="S",
             tracer=offcpu, tracer_lines=False)
    check_hold(evidence, h, base, S_NOT_IOWAIT, hz, WCHAN_AIO, "libaio io_getevents")
    direct_read_control(guest, evidence, block_once, dev, base, hz, offcpu)
    evidence.require()

