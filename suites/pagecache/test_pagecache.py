"""Waits through the page cache (docs/kernel-rules.md §6's table): the ordinary
I/O waits people meet, not a device opened O_DIRECT.

A buffered read that misses the cache: read-ahead locks the new pages and
submits their read to the slow null_blk device, and each reader waits on the
page lock (mm/filemap.c filemap_update_page() -> folio_put_wait_locked(),
TASK_KILLABLE) in io_schedule(), so in_iowait is set: D, iowait, procs_blocked,
PSI io, the load average and delay accounting's blkio all count it, as they
count an O_DIRECT read. The same miss taken as a major fault on a mapping of the
device waits the same way in filemap_fault() (__folio_lock_killable()), in a
page fault rather than a system call.

A fault on an anonymous page that was swapped out waits the same way for the
read of its swap slot (mm/memory.c do_swap_page() -> folio_lock_or_retry()), on
swap whose reads take the slow device's delay (device-mapper's delay target).
Delay accounting charges that wait to blkio, not swapin: swapin is only the
read's submission (mm/page_io.c). A kernel whose read_swap_cache_async() still
takes do_poll waits for a one-page swap-in inside swap_readpage() instead,
uninterruptible: I/O wait all the same, and swapin delay as well as blkio.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS, swap_in_class
from suites.waits import BUFFERED_READ, FAULT_READ

pytestmark = MARKS


@pytest.mark.behaviour("page-cache-miss-iowait")
def test_buffered_read_that_misses_the_cache(scene):
    """Each task drops the device's cached pages, then reads its first 4 KiB
    through the page cache; the tasks that find the page already locked by
    another's read-ahead wait for that same I/O, in the same way."""
    scene.setup(BUFFERED_READ)
    scene.baseline()
    scene.hold(BUFFERED_READ)
    scene.evidence.require()


@pytest.mark.behaviour("page-cache-miss-iowait")
def test_major_fault_on_a_mapping_of_the_device(scene):
    """Each task drops the device's cached pages, maps its first page and reads a
    byte of it: the fault's read-around goes to the slow device and the task
    waits for the page lock (filemap_fault(), TASK_KILLABLE, in_iowait)."""
    scene.setup(FAULT_READ)
    scene.baseline()
    scene.hold(FAULT_READ)
    scene.evidence.require()


@pytest.mark.behaviour("swap-in-iowait")
def test_major_fault_on_a_swapped_out_page(scene):
    """Each task dirties an anonymous page of its own, pushes it out to swap and
    out of the swap cache (MADV_PAGEOUT until mincore() says so), then touches
    it: the fault reads it from the slow swap and waits for the page lock."""
    wait = swap_in_class(scene.guest)
    scene.setup(wait)
    scene.baseline()
    scene.hold(wait)
    scene.evidence.require()
