"""D state without iowait (KERNEL-FACTS §4-§7; seed: a module that msleep()s shows
no iowait, the same module with current->in_iowait = 1 does).

Four ways to sleep in D that are not I/O wait. In each test N tasks wait the
same way pinned to one CPU, and every witness is read over a window in which all
of them are blocked; then, in the same test, a positive control that is real I/O
wait (an O_DIRECT read from a slow null_blk device, or the module with
in_iowait = 1) must move the very witnesses that stayed still, so a dead witness
cannot pass.
"""

from __future__ import annotations

import pytest

from suites.conftest import NULLB_DELAY_S
from suites.witnesses.expect import D_IOWAIT, D_NOT_IOWAIT, check_hold
from suites.witnesses.observe import hold, quote, watch
from vm import probes

# One load sample (every 5 s + 1 tick, visible 10 ticks later) must fall inside
# the window for loadavg to be asserted: 6 s leaves room at HZ >= 100.
WINDOW_S = 6.0
# The workload's own wait: the window opens ~1 s after the start under TCG. The
# slow device's requests take as long (a read is the positive control).
HOLD_S = NULLB_DELAY_S
assert HOLD_S >= WINDOW_S + 3
BASELINE_S = 3.0
TASKS = 3  # three tasks make loadavg's rise (>= 3 x 8% of a sample) stand out

pytestmark = [
    pytest.mark.kconfig("CONFIG_PSI", "CONFIG_TASK_DELAY_ACCT"),
    pytest.mark.usefixtures("psi", "delayacct", "quiet_block_polling"),
]

# Where each wait sleeps, as /proc/pid/wchan names it (get_wchan() skips
# scheduler functions): the function of the recipe's source that sleeps.
WCHAN_MSLEEP = {"msleep"}  # kernel/time/timer.c msleep() -> schedule_timeout
WCHAN_VFORK = {"wait_for_vfork_done", "kernel_clone"}  # kernel/fork.c
# block/fops.c __blkdev_direct_IO_simple(): submit_bio_wait() for one bio
WCHAN_DIRECT_READ = {"submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO"}
WCHAN_IO_DESTROY = {"__x64_sys_io_destroy", "__se_sys_io_destroy", "__do_sys_io_destroy"}  # fs/aio.c
WCHAN_FROZEN = {"percpu_rwsem_wait", "__percpu_down_read", "percpu_down_read",
                "mnt_want_write", "path_openat"}  # kernel/locking/percpu-rwsem.c, fs/namespace.c


def _cpu(guest) -> int:
    """The CPU the tasks are pinned to: the last one, so CPU 0 stays for others."""
    return probes.online_cpus(guest) - 1


def test_vfork_parent(guest, block_once, slow_nullb, hz, offcpu, evidence):
    """Recipe 1: a vfork parent waits in D (wait_for_vfork_done, killable
    completion) until its child exits; the child sleeps in S."""
    cpu = _cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "vfork", int(HOLD_S * 1000))] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_VFORK, "vfork parent")
    h = hold(guest, [quote(block_once, "pread-direct", dev)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_DIRECT_READ, "control: O_DIRECT read, slow null_blk")
    evidence.require()


def test_module_msleep(guest, block_once, dsleep, hz, offcpu, evidence):
    """Recipe 2, the seed's experiment: a module msleep()s (TASK_UNINTERRUPTIBLE)
    in the writer's context; with in_iowait = 1 the same sleep is I/O wait to
    every witness (the positive control)."""
    cpu = _cpu(guest)
    ms = int(HOLD_S * 1000)
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "dsleep", ms, 0)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_MSLEEP, "msleep")
    h = hold(guest, [quote(block_once, "dsleep", ms, 1)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_MSLEEP, "control: msleep with in_iowait = 1")
    evidence.require()


@pytest.mark.kconfig("CONFIG_AIO")
def test_io_destroy_with_read_in_flight(guest, block_once, slow_nullb, hz, offcpu, evidence):
    """Recipe 3: io_destroy() waits (wait_for_completion, D) until the O_DIRECT
    read it submitted to the slow device completes; the wait is not I/O wait
    (fs/aio.c io_destroy), though the read it waits for is real I/O."""
    cpu = _cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "aio-destroy", dev)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_IO_DESTROY, "io_destroy")
    h = hold(guest, [quote(block_once, "pread-direct", dev)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_DIRECT_READ, "control: O_DIRECT read, slow null_blk")
    evidence.require()


@pytest.fixture
def frozen_ext4(guest):
    """An ext4 filesystem on a loop device (image on the guest's tmpfs), with
    freeze/thaw; thawed and unmounted whatever happens (a frozen fs left behind
    would block the next test's writers)."""
    img, mnt = "/tmp/iowitness-freeze.img", "/tmp/iowitness-freeze"
    # loop-control appears only once the module is in: mount -o loop cannot load it.
    guest.run(f"modprobe loop && rm -f {img} && truncate -s 64M {img} && mkfs.ext4 -q -F {img}",
              check=True, timeout=120)
    loopdev = guest.sh(f"losetup -f --show {img}").strip()
    guest.run(f"mkdir -p {mnt} && mount {loopdev} {mnt} && touch {mnt}/file", check=True, timeout=120)

    class Fs:
        path = f"{mnt}/file"

        def freeze(self):
            guest.run(f"fsfreeze -f {mnt}", check=True)

        def thaw(self):
            guest.run(f"fsfreeze -u {mnt}", check=True)

    yield Fs()
    if guest.usable():
        guest.run(f"fsfreeze -u {mnt}")
        guest.run(f"umount {mnt}; losetup -d {loopdev}; rm -f {img}", timeout=120)


@pytest.mark.modules("loop")
@pytest.mark.kconfig("CONFIG_EXT4_FS")
def test_writer_on_frozen_fs(guest, block_once, slow_nullb, frozen_ext4, hz, offcpu, evidence):
    """Recipe 4: a writer on a frozen ext4 waits in sb_start_write()
    (percpu_rwsem, TASK_UNINTERRUPTIBLE) until the fs is thawed: D, not I/O."""
    cpu = _cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    frozen_ext4.freeze()
    h = hold(guest, [quote(block_once, "append", frozen_ext4.path)] * TASKS, cpu, WINDOW_S,
             release=frozen_ext4.thaw, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_FROZEN, "writer on frozen ext4")
    h = hold(guest, [quote(block_once, "pread-direct", dev)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_DIRECT_READ, "control: O_DIRECT read, slow null_blk")
    evidence.require()
