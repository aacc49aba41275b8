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
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS
from suites.waits import DIRECT_WRITE, FSYNC_DIRTY, MSYNC_DIRTY

pytestmark = MARKS


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
