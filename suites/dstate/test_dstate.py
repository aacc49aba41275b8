"""D state without iowait (docs/kernel-rules.md §4-§7, §6's table): a module that msleep()s shows
no iowait, the same module with current->in_iowait = 1 does.

Four ways to sleep in D that are not I/O wait. In each test N tasks wait the
same way pinned to one CPU, and every witness is read over a window in which all
of them are blocked; then, in the same test, a positive control that is real I/O
wait (an O_DIRECT read from a slow null_blk device, or the module with
in_iowait = 1) must move the very witnesses that stayed still, so a dead witness
cannot pass.
"""

from __future__ import annotations

import pytest

from suites.holds import (
    BASELINE_S,
    HOLD_S,
    MARKS,
    TASKS,
    WCHAN_FROZEN,
    WCHAN_IO_DESTROY,
    WCHAN_MSLEEP,
    WCHAN_VFORK,
    WINDOW_S,
    direct_read_control,
    task_cpu,
)
from suites.witnesses.expect import D_IOWAIT, D_NOT_IOWAIT, check_hold
from suites.witnesses.observe import hold, quote, watch

pytestmark = MARKS


@pytest.mark.behaviour("dstate-vfork")
def test_vfork_parent(guest, block_once, slow_nullb, hz, offcpu, evidence):
    """A vfork parent waits in D (wait_for_vfork_done, killable
    completion) until its child exits; the child sleeps in S."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "vfork", int(HOLD_S * 1000))] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_VFORK, "vfork parent")
    direct_read_control(guest, evidence, block_once, dev, base, hz, offcpu)
    evidence.require()


@pytest.mark.behaviour("dstate-module-msleep")
def test_module_msleep(guest, block_once, dsleep, hz, offcpu, evidence):
    """The classic experiment: a module msleep()s (TASK_UNINTERRUPTIBLE)
    in the writer's context; with in_iowait = 1 the same sleep is I/O wait to
    every witness (the positive control)."""
    cpu = task_cpu(guest)
    ms = int(HOLD_S * 1000)
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "dsleep", ms, 0)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_MSLEEP, "msleep")
    h = hold(guest, [quote(block_once, "dsleep", ms, 1)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_IOWAIT, hz, WCHAN_MSLEEP, "control: msleep with in_iowait = 1")
    evidence.require()


@pytest.mark.behaviour("dstate-io-destroy")
@pytest.mark.kconfig("CONFIG_AIO")
def test_io_destroy_with_read_in_flight(guest, block_once, slow_nullb, hz, offcpu, evidence):
    """io_destroy() waits (wait_for_completion, D) until the O_DIRECT
    read it submitted to the slow device completes; the wait is not I/O wait
    (fs/aio.c io_destroy), though the read it waits for is real I/O."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    h = hold(guest, [quote(block_once, "aio-destroy", dev)] * TASKS, cpu, WINDOW_S, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_IO_DESTROY, "io_destroy")
    direct_read_control(guest, evidence, block_once, dev, base, hz, offcpu)
    evidence.require()


@pytest.mark.behaviour("dstate-frozen-fs")
@pytest.mark.modules("loop")
@pytest.mark.kconfig("CONFIG_EXT4_FS")
def test_writer_on_frozen_fs(guest, block_once, slow_nullb, frozen_ext4, hz, offcpu, evidence):
    """A writer on a frozen ext4 waits in sb_start_write()
    (percpu_rwsem, TASK_UNINTERRUPTIBLE) until the fs is thawed: D, not I/O."""
    cpu = task_cpu(guest)
    dev = slow_nullb.device()
    base = watch(guest, BASELINE_S)
    frozen_ext4.freeze()
    h = hold(guest, [quote(block_once, "append", frozen_ext4.path)] * TASKS, cpu, WINDOW_S,
             release=frozen_ext4.thaw, tracer=offcpu)
    check_hold(evidence, h, base, D_NOT_IOWAIT, hz, WCHAN_FROZEN, "writer on frozen ext4")
    direct_read_control(guest, evidence, block_once, dev, base, hz, offcpu)
    evidence.require()
