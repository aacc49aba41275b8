"""D state without iowait (docs/kernel-rules.md §4-§7, §6's table): a module
that msleep()s shows no iowait, the same module with current->in_iowait = 1 does.

Five ways to sleep in D that are not I/O wait. In each test N tasks wait the
same way pinned to one CPU, and every witness is read over a window in which all
of them are blocked; then, in the same test, a positive control that is real I/O
wait (an O_DIRECT read from a slow null_blk device, or the module with
in_iowait = 1) must move the very witnesses that stayed still, so a dead witness
cannot pass.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS, control
from suites.waits import (
    DIRECT_READ,
    FROZEN_WRITER,
    INODE_LOCK,
    IO_DESTROY,
    MSLEEP,
    MSLEEP_IDLE,
    MSLEEP_IOWAIT,
    VFORK_PARENT,
)

pytestmark = MARKS


@pytest.mark.behaviour("dstate-vfork")
@pytest.mark.catches("source-6.1-mut-loadavg-state-equality", "source-6.1-mut-delayacct-any-d",
                     "source-6.1-mut-procs-blocked-counts-d")
def test_vfork_parent(scene):
    """A vfork parent waits in D (wait_for_vfork_done, killable completion)
    until its child exits; the child sleeps in S."""
    scene.setup(VFORK_PARENT, DIRECT_READ)
    scene.baseline()
    scene.hold(VFORK_PARENT)
    control(scene)
    scene.evidence.require()


@pytest.mark.behaviour("dstate-module-msleep")
@pytest.mark.catches("source-6.1-mut-delayacct-any-d", "source-6.1-mut-procs-blocked-counts-d")
def test_module_msleep(scene):
    """The classic experiment: a module msleep()s (TASK_UNINTERRUPTIBLE)
    in the writer's context; with in_iowait = 1 the same sleep is I/O wait to
    every witness (the positive control)."""
    scene.setup(MSLEEP)
    scene.baseline()
    scene.hold(MSLEEP, label="msleep")
    scene.hold(MSLEEP_IOWAIT, label="control: msleep with in_iowait = 1")
    scene.evidence.require()


@pytest.mark.behaviour("dstate-io-destroy")
@pytest.mark.catches("source-6.1-mut-delayacct-any-d", "source-6.1-mut-procs-blocked-counts-d")
@pytest.mark.kconfig("CONFIG_AIO")
def test_io_destroy_with_read_in_flight(scene):
    """io_destroy() waits (wait_for_completion, D) until the O_DIRECT read it
    submitted to the slow device completes; the wait is not I/O wait (fs/aio.c
    io_destroy), though the read it waits for is real I/O."""
    scene.setup(IO_DESTROY, DIRECT_READ)
    scene.baseline()
    scene.hold(IO_DESTROY, label="io_destroy")
    control(scene)
    scene.evidence.require()


@pytest.mark.behaviour("dstate-frozen-fs")
@pytest.mark.catches("source-6.1-mut-delayacct-any-d", "source-6.1-mut-procs-blocked-counts-d")
@pytest.mark.modules("loop")
@pytest.mark.kconfig("CONFIG_EXT4_FS")
@pytest.mark.needs_cmds("fsfreeze", "mkfs.ext4", "losetup")
def test_writer_on_frozen_fs(scene):
    """A writer on a frozen ext4 waits in sb_start_write() (percpu_rwsem,
    TASK_UNINTERRUPTIBLE) until the fs is thawed: D, not I/O."""
    scene.setup(FROZEN_WRITER, DIRECT_READ)
    scene.baseline()
    scene.hold(FROZEN_WRITER, label="writer on frozen ext4")
    control(scene)
    scene.evidence.require()


@pytest.mark.behaviour("dstate-inode-lock")
@pytest.mark.kconfig("CONFIG_USERFAULTFD")
@pytest.mark.kconfig("CONFIG_MEMFD_CREATE")
def test_writer_on_a_held_inode_lock(scene):
    """A second writer to a file waits for the inode's i_rwsem in down_write()
    (TASK_UNINTERRUPTIBLE) while the first write holds it: D, not I/O. The
    holder sleeps in S in a userfaultfd fault, so it adds nothing itself."""
    scene.setup(INODE_LOCK, DIRECT_READ)
    scene.baseline()
    scene.hold(INODE_LOCK, label="writer on a held inode lock")
    control(scene)
    scene.evidence.require()


@pytest.mark.behaviour("task-idle-is-not-d")
def test_module_sleep_in_task_idle(scene):
    """A sleep in TASK_IDLE, as idle kernel threads wait: shown as I, out of
    loadavg (TASK_NOLOAD), not I/O wait; the same module's msleep with
    in_iowait = 1 (the positive control) shows D and moves every witness."""
    scene.setup(MSLEEP_IDLE)
    scene.baseline()
    scene.hold(MSLEEP_IDLE, label="TASK_IDLE")
    scene.hold(MSLEEP_IOWAIT, label="control: msleep with in_iowait = 1")
    scene.evidence.require()
