"""Writes that wait for the device (docs/kernel-rules.md §6's table).

An O_DIRECT write of the slow null_blk device waits for its bio as the O_DIRECT
read does (block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait(),
TASK_UNINTERRUPTIBLE, in io_schedule()): D, I/O wait, procs_blocked, PSI io,
the load average and delayacct blkio. null_blk without memory_backed keeps no
data: nothing is written anywhere.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS
from suites.waits import DIRECT_WRITE

pytestmark = MARKS


@pytest.mark.behaviour("direct-write-iowait")
def test_direct_write(scene):
    """Each task writes 4 KiB of zeros at the device's start, O_DIRECT."""
    scene.setup(DIRECT_WRITE)
    scene.baseline()
    scene.hold(DIRECT_WRITE)
    scene.evidence.require()
