"""What the dstate and busy_cpu scenarios share: how long a hold waits and is
watched, how many tasks wait, on which CPU, where each wait sleeps (wchan), and
the positive control that every "nothing moves" test runs in the same test.

A hold (suites/witnesses/observe.py) is N tasks pinned to one CPU waiting the
same way, with every witness read over a window in which all of them wait.
"""

from __future__ import annotations

import pytest

from suites.devices import NULLB_DELAY_S
from suites.witnesses.expect import D_IOWAIT, check_hold
from suites.witnesses.observe import hold, quote
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
# Tasks in S are not in loadavg: counted, six of them would raise load1 by
# >= 6 x 8% of one sample; the reading must stay below that (witnesses/expect.py).
S_TASKS = 6

# Every hold test reads PSI and delay accounting, with block-device polling quiet.
MARKS = [
    pytest.mark.kconfig("CONFIG_PSI", "CONFIG_TASK_DELAY_ACCT"),
    pytest.mark.usefixtures("psi", "delayacct", "quiet_block_polling"),
]

# Where each wait sleeps, as /proc/pid/wchan names it (get_wchan() skips
# scheduler functions): the function of the kernel's source that sleeps.
WCHAN_MSLEEP = {"msleep"}  # kernel/time/timer.c msleep() -> schedule_timeout
WCHAN_VFORK = {"wait_for_vfork_done", "kernel_clone"}  # kernel/fork.c
# block/fops.c __blkdev_direct_IO_simple(): submit_bio_wait() for one bio
WCHAN_DIRECT_READ = {"submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO"}
WCHAN_IO_DESTROY = {"__x64_sys_io_destroy", "__se_sys_io_destroy", "__do_sys_io_destroy"}  # fs/aio.c
WCHAN_FROZEN = {"percpu_rwsem_wait", "__percpu_down_read", "percpu_down_read",
                "mnt_want_write", "path_openat"}  # kernel/locking/percpu-rwsem.c, fs/namespace.c
WCHAN_IO_URING = {"io_cqring_wait", "__io_cqring_wait_schedule", "io_cqring_wait_schedule",
                  "__do_sys_io_uring_enter", "__x64_sys_io_uring_enter"}  # io_uring/io_uring.c
WCHAN_AIO = {"read_events", "do_io_getevents", "__do_sys_io_getevents",
             "__x64_sys_io_getevents"}  # fs/aio.c


def task_cpu(guest) -> int:
    """The CPU the tasks are pinned to: the last one, so CPU 0 stays for others."""
    return probes.online_cpus(guest) - 1


def direct_read_control(guest, evidence, block_once: str, device: str, base, hz: int, tracer) -> None:
    """The positive control: the same tasks waiting for O_DIRECT reads of the slow
    device, real I/O wait, must move every witness a "nothing moves" hold left still."""
    h = hold(guest, [quote(block_once, "pread-direct", device)] * TASKS, task_cpu(guest), WINDOW_S, tracer=tracer)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_DIRECT_READ, "control: O_DIRECT read, slow null_blk")
