"""Writes that wait for the device (docs/kernel-rules.md §6's table).

An O_DIRECT write of the slow null_blk device waits for its bio as the O_DIRECT
read does (block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait(),
TASK_UNINTERRUPTIBLE, in io_schedule()): D, I/O wait, procs_blocked, PSI io,
the load average and delayacct blkio. null_blk without memory_backed keeps no
data: nothing is written anywhere.

fsync of a page dirtied through the page cache waits for its writeback
(mm/filemap.c file_write_and_wait_range() -> folio_wait_writeback(): PG_writeback,
TASK_UNINTERRUPTIBLE, io_schedule()): I/O wait too. null_blk has no volatile
cache, so the flush that follows completes at once (block/blk-core.c
submit_bio_noacct()).

msync(MS_SYNC) of a page dirtied through a shared mapping syncs the file's range
(mm/msync.c -> vfs_fsync_range()) and waits the same way: I/O wait to every
witness, from a mapping rather than a file descriptor.

fsync of an ext4 file whose inode alone changed has no page to write: it waits
for the journal thread to commit the change (fs/jbd2/journal.c
jbd2_log_wait_commit(), wait_event(): TASK_UNINTERRUPTIBLE without in_iowait).
D and the load average, but not I/O wait: the I/O wait is the journal thread's,
which waits for the commit's writes in io_schedule() meanwhile. The ext4 sits on
device-mapper's delay target, each write taking half the slow device's delay.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS, control
from suites.waits import DIRECT_READ, DIRECT_WRITE, FSYNC_DIRTY, JOURNAL_COMMIT, MSYNC_DIRTY
from suites.watch import offcpu, stray_iowait

pytestmark = MARKS
# The journal thread's run between the commit's two writes (it submits the commit
# record): milliseconds measured under TCG; 0.2 s leaves room for a slow host.
JOURNAL_RUN_S = 0.2


@pytest.mark.behaviour("direct-write-iowait")
def test_direct_write(scene):
    """Each task writes 4 KiB of zeros at the device's start, O_DIRECT."""
    scene.setup(DIRECT_WRITE)
    scene.baseline()
    scene.hold(DIRECT_WRITE)
    scene.evidence.require()


@pytest.mark.behaviour("fsync-writeback-iowait")
def test_fsync_of_a_dirty_page(scene):
    """Each task writes a page of the device through the page cache (a whole page:
    nothing is read first), then fsyncs it and waits for its writeback."""
    scene.setup(FSYNC_DIRTY)
    scene.baseline()
    scene.hold(FSYNC_DIRTY)
    scene.evidence.require()


@pytest.mark.behaviour("msync-writeback-iowait")
def test_msync_of_a_dirty_shared_mapping(scene):
    """Each task dirties a page of the device through a shared mapping (written
    first, so the fault reads nothing), then msyncs it (MS_SYNC) and waits for its
    writeback."""
    scene.setup(MSYNC_DIRTY)
    scene.baseline()
    scene.hold(MSYNC_DIRTY)
    scene.evidence.require()


@pytest.mark.behaviour("fsync-journal-commit-not-iowait")
@pytest.mark.catches("source-6.1-mut-jbd2-commit-record-not-iowait")
def test_fsync_waiting_for_the_journal_commit(scene):
    """Each task fsyncs one file whose times were just changed (nothing else in
    the transaction); the journal thread's commit takes two slow writes. The
    control (O_DIRECT reads) moves the I/O-wait witnesses this hold must not."""
    scene.setup(JOURNAL_COMMIT, DIRECT_READ)
    scene.baseline()
    h = scene.hold(JOURNAL_COMMIT)
    journal_thread_waits(scene, h)
    control(scene)
    scene.evidence.require()


def journal_thread_waits(scene, h) -> None:
    """The journal thread's own wait beside the tasks': for the commit's writes, in
    io_schedule() (fs/jbd2/commit.c: wait_on_buffer() on each block, then on the
    commit record), so with in_iowait through the window but for its runs between
    the two writes."""
    fs, ev = scene.fixture("slow_journal_ext4"), scene.evidence
    start, end = h.window.before.t, h.window.after.t
    pid, tracer = fs.journal_thread(), offcpu.attached(scene.guest)
    name = f"{JOURNAL_COMMIT.name}: the journal thread ({pid}) sleeps with in_iowait"
    if tracer is None:
        ev.check(name, False, "traced", "no off-CPU tracer attached", stray_iowait.SOURCE)
        return
    sleeps = [s for s in tracer.iowait_sleeps()[0] if s.pid == pid]
    spans = [offcpu.iowait_on(sleeps, c, start, end) for c in {s.cpu for s in sleeps}]
    asleep, pieces = sum(t for t, _ in spans), sum(n for _, n in spans)
    # Between the two writes it only submits the commit record: well under a tick.
    least = end - start - JOURNAL_RUN_S
    ev.check(name, least <= asleep <= end - start + 1e-6 and 1 <= pieces <= 2,
             f"{least:.2f}..{end - start:.2f} s of the {end - start:.2f} s window, in 1-2 spans",
             f"{asleep:.2f} s in {pieces} span(s)",
             f"fs/jbd2/commit.c jbd2_journal_commit_transaction(); {stray_iowait.SOURCE}")
