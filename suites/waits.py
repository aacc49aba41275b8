"""The ways the scenarios' tasks wait, as the kernel defines them: the rows of
docs/kernel-rules.md §6, and the rows of the tools' agreement matrix.

Each wait says what the kernel's rules make of it: the state letter /proc
shows, whether the task sleeps with in_iowait (iowait, procs_blocked, PSI io,
delayacct), whether loadavg counts it, the raw task_struct.__state it sleeps in
(what a tracer reading `prev->__state` at the switch sees), and where it sleeps
(the function /proc/pid/wchan names).
"""

from __future__ import annotations

from dataclasses import dataclass

# include/linux/sched.h, the same in 6.1 and 6.12
TASK_INTERRUPTIBLE = 0x1
TASK_UNINTERRUPTIBLE = 0x2
TASK_WAKEKILL = 0x100
TASK_NOLOAD = 0x400
TASK_FREEZABLE = 0x2000
TASK_KILLABLE = TASK_WAKEKILL | TASK_UNINTERRUPTIBLE

RULES = "docs/kernel-rules.md §6"


@dataclass(frozen=True)
class Wait:
    name: str  # a row of the agreement matrix
    state: str  # 'D' or 'S'
    iowait: bool  # in_iowait set while asleep
    loadavg: bool  # TASK_UNINTERRUPTIBLE without NOLOAD: counted in loadavg
    task_state: int  # task_struct.__state while asleep
    sleeps_in: str  # the kernel function that sleeps, with its file
    wchans: frozenset[str]  # what /proc/pid/wchan may name (get_wchan() skips scheduler functions)


def _wait(name, state, iowait, loadavg, task_state, sleeps_in, *wchans) -> Wait:
    return Wait(name, state, iowait, loadavg, task_state, sleeps_in, frozenset(wchans))


DIRECT_READ = _wait("O_DIRECT read", "D", True, True, TASK_UNINTERRUPTIBLE,
                    "block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait()",
                    "submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO")
DIRECT_WRITE = _wait("O_DIRECT write", "D", True, True, TASK_UNINTERRUPTIBLE,
                     "block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait()",
                     "submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO", "blkdev_direct_write")
# fsync of a page the task dirtied: it writes the page back and waits, with every
# other page of the file under writeback, on PG_writeback, uninterruptible, in
# io_schedule() (mm/filemap.c folio_wait_bit_common()).
FSYNC_DIRTY = _wait("fsync of a dirty page", "D", True, True, TASK_UNINTERRUPTIBLE,
                    "mm/filemap.c file_write_and_wait_range() -> folio_wait_writeback() -> io_schedule()",
                    "folio_wait_bit_common", "folio_wait_writeback", "__filemap_fdatawait_range",
                    "filemap_fdatawait_range", "file_write_and_wait_range", "blkdev_fsync", "vfs_fsync_range",
                    "do_fsync", "__x64_sys_fsync")
# A read through the page cache that misses: read-ahead locks the new pages and
# submits their read; the reader (and any other reader of those pages) waits on
# the page lock until the I/O completes, killable, with in_iowait (io_schedule()).
BUFFERED_READ = _wait("buffered read, page-cache miss", "D", True, True, TASK_KILLABLE,
                      "mm/filemap.c filemap_update_page() -> folio_put_wait_locked() -> io_schedule()",
                      "folio_wait_bit_common", "folio_put_wait_locked", "filemap_update_page",
                      "filemap_get_pages", "filemap_read", "blkdev_read_iter")
# The same miss taken as a page fault on a file mapping: filemap_fault() starts the
# read-around, drops the mmap (or VMA) lock and waits for the page lock, killable,
# in io_schedule(), then has the fault retried.
FAULT_READ = _wait("major fault on a file mapping", "D", True, True, TASK_KILLABLE,
                   "mm/filemap.c filemap_fault() -> __folio_lock_killable() -> io_schedule()",
                   "folio_wait_bit_common", "__folio_lock_killable", "filemap_fault", "__do_fault",
                   "do_read_fault", "do_fault", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
                   "exc_page_fault")
MSLEEP = _wait("module msleep", "D", False, True, TASK_UNINTERRUPTIBLE,
               "kernel/time/timer.c msleep() -> schedule_timeout_uninterruptible()", "msleep")
MSLEEP_IOWAIT = _wait("module msleep, in_iowait = 1", "D", True, True, TASK_UNINTERRUPTIBLE,
                      "kernel/time/timer.c msleep(), with current->in_iowait set by the module", "msleep")
VFORK_PARENT = _wait("vfork parent", "D", False, True, TASK_KILLABLE | TASK_FREEZABLE,
                     "kernel/fork.c wait_for_vfork_done() -> wait_for_completion_state()",
                     "wait_for_vfork_done", "kernel_clone")
IO_DESTROY = _wait("io_destroy, read in flight", "D", False, True, TASK_UNINTERRUPTIBLE,
                   "fs/aio.c io_destroy() -> wait_for_completion()",
                   "__x64_sys_io_destroy", "__se_sys_io_destroy", "__do_sys_io_destroy")
FROZEN_WRITER = _wait("writer on a frozen ext4", "D", False, True, TASK_UNINTERRUPTIBLE,
                      "kernel/locking/percpu-rwsem.c percpu_rwsem_wait() (sb_start_write())",
                      "percpu_rwsem_wait", "__percpu_down_read", "percpu_down_read", "mnt_want_write",
                      "path_openat")
_URING = ("io_cqring_wait", "__io_cqring_wait_schedule", "io_cqring_wait_schedule", "__do_sys_io_uring_enter",
          "__x64_sys_io_uring_enter")
URING_READ = _wait("io_uring read in flight", "S", True, False, TASK_INTERRUPTIBLE,
                   "io_uring/io_uring.c io_cqring_wait() -> io_schedule() (8a796565cec3, v6.5 / 6.1.39)", *_URING)
# Before 8a796565cec3 the same wait sleeps in plain schedule_hrtimeout().
URING_READ_SCHEDULE = _wait("io_uring read in flight, before io_schedule", "S", False, False, TASK_INTERRUPTIBLE,
                            "io_uring/io_uring.c io_cqring_wait() -> schedule_hrtimeout(), before 8a796565cec3",
                            *_URING)
# With nothing in flight the wait is I/O wait or not as the kernel's state at the
# wait decides (docs/kernel-rules.md §4; suites/watch/uring_state.py predicts it).
URING_IDLE_IOWAIT = _wait("io_uring idle wait", "S", True, False, TASK_INTERRUPTIBLE,
                          "io_uring/io_uring.c io_cqring_wait(), current_pending_io() true", *_URING)
URING_IDLE = _wait("io_uring idle wait", "S", False, False, TASK_INTERRUPTIBLE,
                   "io_uring/io_uring.c io_cqring_wait(), nothing pending", *_URING)
AIO_GETEVENTS = _wait("libaio io_getevents", "S", False, False, TASK_INTERRUPTIBLE,
                      "fs/aio.c read_events() -> wait_event_interruptible_hrtimeout()",
                      "read_events", "do_io_getevents", "__do_sys_io_getevents", "__x64_sys_io_getevents")

BUSY_CPU = ", hog on its CPU"  # a hold's wait with a CPU hog on the tasks' CPU is its own matrix row
NO_DELAYACCT = ", no delay accounting at fork"  # and so is one whose tasks have no delay record
