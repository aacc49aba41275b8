"""The ways the scenarios' tasks wait, each declared once: how the kernel
defines it (a row of docs/kernel-rules.md §6), how the scenarios make it, and its
rows in the tools' agreement matrix (suites/agreement.py).

A Wait says what the kernel's rules make of it: the state letter /proc shows,
whether the task sleeps with in_iowait (iowait, procs_blocked, PSI io,
delayacct), whether loadavg counts it, the raw task_struct.__state it sleeps in
(what a tracer reading `prev->__state` at the switch sees), and where it sleeps
(the function /proc/pid/wchan names). `declare()` adds how it is made: block_once's
arguments (fixtures/workloads/block_once.c), how many tasks, the fixture it needs,
and whether it is a row of the matrix, with and without a CPU hog. A new wait is
one `declare()` here, a block_once mode, and the test that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

# include/linux/sched.h, the same in 6.1 and 6.12
TASK_INTERRUPTIBLE = 0x1
TASK_UNINTERRUPTIBLE = 0x2
TASK_WAKEKILL = 0x100
TASK_NOLOAD = 0x400
TASK_FREEZABLE = 0x2000
TASK_KILLABLE = TASK_WAKEKILL | TASK_UNINTERRUPTIBLE
TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD

RULES = "docs/kernel-rules.md §6"


@dataclass(frozen=True)
class Wait:
    name: str  # a row of the agreement matrix
    state: str  # 'D', 'S' or 'I'
    iowait: bool  # in_iowait set while asleep
    loadavg: bool  # TASK_UNINTERRUPTIBLE without NOLOAD: counted in loadavg
    task_state: int  # task_struct.__state while asleep
    sleeps_in: str  # the kernel function that sleeps, with its file
    wchans: frozenset[str]  # what /proc/pid/wchan may name (get_wchan() skips scheduler functions)


def _wait(name, state, iowait, loadavg, task_state, sleeps_in, *wchans) -> Wait:
    return Wait(name, state, iowait, loadavg, task_state, sleeps_in, frozenset(wchans))



# How many tasks a workload runs. Three make loadavg's rise (>= 3 x 8% of a
# sample) stand out against the guest's own tasks, but not against the tools
# under test: those wake together each second on the other CPUs, and the full
# planted-bug run saw ~3 others active at one calc_load() instant (load1 1.28 ->
# 1.41 with the vfork parents not counted by the loadavg-state-equality mutant,
# where 3 counted tasks predict >= 1.41). The vfork hold, the one whose state
# (TASK_KILLABLE) only loadavg's rule tells apart, uses LOAD_TASKS: counted, they
# raise load1 by >= 8 x 8 % of a sample, far beyond what the others reach.
TASKS = 3
LOAD_TASKS = 8
# Tasks in S are not in loadavg: counted, they would raise load1 by >= 8 % of
# one update each; the reading must stay below that (witnesses/loadavg.py). Six
# did not stand out of the tools either: the full planted-bug run read load1
# 2.25 -> 2.68 beside six S tasks that the kernel did not count (the least with
# them counted, one update: 2.55), ~7.6 others active at one update or ~5 at two.
S_TASKS = LOAD_TASKS

# What a workload's arguments stand for, filled in by the scene (suites/holds.py).
DEVICE = "{device}"  # the slow null_blk device (suites/devices.py)
MS = "{ms}"  # the hold's length, in ms
FILE = "{file}"  # the path of the fixture it needs (the frozen ext4's file)
# The fixtures a workload may need in place before the baseline (suites/conftest.py).
SLOW_DEVICE, MODULE, FROZEN_FS = "slow_nullb", "dsleep", "frozen_ext4"
SLOW_JOURNAL, SLOW_SWAP = "slow_journal_ext4", "slow_swap"
IDLE, HOG = False, True  # a matrix row with the tasks' CPU idle, or with a CPU hog on it
_AIO = (pytest.mark.kconfig("CONFIG_AIO"),)
_IO_URING = (pytest.mark.kconfig("CONFIG_IO_URING"),)
_STATE_FILTER = ("offcputime-state-filter",)  # the documented behaviour its tools rows show (suites/catalog.py)


@dataclass(frozen=True)
class Declared:
    """A wait with how the scenarios make it and where it is a matrix row."""

    wait: Wait
    make: tuple = ()  # block_once's arguments (DEVICE, MS, FILE filled in); none: another declaration's
    tasks: int = TASKS
    needs: str | None = None  # the fixture set up before the baseline
    prepare: str | None = None  # a method of that fixture called just before the hold (a freeze)
    release: str | None = None  # one that ends the wait when the workload cannot (a thaw)
    rows: tuple[bool, ...] = ()  # its rows in the agreement matrix: IDLE, HOG
    marks: tuple = ()  # what the kernel must have for it (harness/requirements.py)
    behaviours: tuple[str, ...] = ()  # documented behaviours its tools tests show (suites/catalog.py)


DECLARED: list[Declared] = []


def declare(wait: Wait, **how) -> Wait:
    DECLARED.append(Declared(wait, **how))
    return wait


def workload(wait: Wait) -> Declared | None:
    """How the scenarios make `wait` (by its name: a wait whose class the kernel
    decides shares its workload with the other class)."""
    return next((d for d in DECLARED if d.wait.name == wait.name and d.make), None)


# In the matrix's order: the D waits that are not I/O wait, the I/O waits (with
# the CPU idle, and with a hog where that shows something), the waits in S.
VFORK_PARENT = declare(
    _wait("vfork parent", "D", False, True, TASK_KILLABLE | TASK_FREEZABLE,
          "kernel/fork.c wait_for_vfork_done() -> wait_for_completion_state()",
          "wait_for_vfork_done", "kernel_clone"),
    make=("vfork", MS), tasks=LOAD_TASKS, rows=(IDLE,), behaviours=_STATE_FILTER)
MSLEEP = declare(
    _wait("module msleep", "D", False, True, TASK_UNINTERRUPTIBLE,
          "kernel/time/timer.c msleep() -> schedule_timeout_uninterruptible()", "msleep"),
    make=("dsleep", MS, 0), needs=MODULE, rows=(IDLE,))
# How idle kernel threads wait (kthread_worker, rcu, workqueue rescuers): shown
# as I (task_state_index(): TASK_REPORT_IDLE), kept out of loadavg by
# TASK_NOLOAD; the module's writer sleeps so (schedule_timeout_idle() is
# __sched, so wchan names the module's function).
MSLEEP_IDLE = declare(
    _wait("module sleep in TASK_IDLE", "I", False, False, TASK_IDLE,
          "kernel/time/timer.c schedule_timeout_idle()", "dsleep_write"),
    make=("dsleep", MS, 0, "idle"), tasks=S_TASKS, needs=MODULE, rows=(IDLE,), behaviours=_STATE_FILTER)
IO_DESTROY = declare(
    _wait("io_destroy, read in flight", "D", False, True, TASK_UNINTERRUPTIBLE,
          "fs/aio.c io_destroy() -> wait_for_completion()",
          "__x64_sys_io_destroy", "__se_sys_io_destroy", "__do_sys_io_destroy"),
    make=("aio-destroy", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,), marks=_AIO)
FROZEN_WRITER = declare(
    _wait("writer on a frozen ext4", "D", False, True, TASK_UNINTERRUPTIBLE,
          "kernel/locking/percpu-rwsem.c percpu_rwsem_wait() (sb_start_write())",
          "percpu_rwsem_wait", "__percpu_down_read", "percpu_down_read", "mnt_want_write", "path_openat"),
    make=("append", FILE), needs=FROZEN_FS, prepare="freeze", release="thaw", rows=(IDLE,),
    marks=(pytest.mark.modules("loop"), pytest.mark.kconfig("CONFIG_EXT4_FS"),
           pytest.mark.needs_cmds("fsfreeze", "mkfs.ext4", "losetup")))
# A second writer to a file whose write_iter holds the inode's i_rwsem: the
# holder sleeps in a userfaultfd fault (S) with the lock held, the writer waits
# for it in down_write(), uninterruptible, not as I/O (block_once inode-lock).
# With PREEMPT_RT an rwsem is an rt_mutex (kernel/locking/rwbase_rt.c), and
# rt_mutex_schedule(), not __sched, is what wchan names.
INODE_LOCK = declare(
    _wait("writer waiting on a held inode lock", "D", False, True, TASK_UNINTERRUPTIBLE,
          "kernel/locking/rwsem.c rwsem_down_write_slowpath() (inode_lock() in shmem's write_iter); "
          "PREEMPT_RT: kernel/locking/rwbase_rt.c rwbase_write_lock()",
          "shmem_file_write_iter", "generic_file_write_iter", "rt_mutex_schedule"),
    make=("inode-lock", MS), rows=(IDLE,), marks=(pytest.mark.kconfig("CONFIG_USERFAULTFD"),
                                                   pytest.mark.kconfig("CONFIG_MEMFD_CREATE")))
# fsync of a file whose inode alone changed, on an ext4 whose writes are slow:
# nothing to write back, so ext4_sync_file() waits for the journal thread to
# commit the transaction the change is in, in wait_event() (uninterruptible,
# not as I/O). The journal thread (jbd2/<dev>) meanwhile waits for the commit's
# writes in io_schedule(): the I/O wait is its, not the tasks'.
JOURNAL_COMMIT = declare(
    _wait("fsync waiting for the jbd2 commit", "D", False, True, TASK_UNINTERRUPTIBLE,
          "fs/jbd2/journal.c jbd2_log_wait_commit() -> wait_event() (ext4_sync_file() -> jbd2_complete_transaction())",
          "jbd2_log_wait_commit", "jbd2_complete_transaction", "ext4_sync_file"),
    make=("fsync-journal", FILE), needs=SLOW_JOURNAL, prepare="dirty", rows=(IDLE,),
    marks=(pytest.mark.modules("loop", "dm-delay"), pytest.mark.kconfig("CONFIG_EXT4_FS"),
           pytest.mark.needs_cmds("dmsetup", "mkfs.ext4", "losetup")))
DIRECT_READ = declare(
    _wait("O_DIRECT read", "D", True, True, TASK_UNINTERRUPTIBLE,
          "block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait()",
          "submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO"),
    make=("pread-direct", DEVICE), needs=SLOW_DEVICE, rows=(IDLE, HOG))
DIRECT_WRITE = declare(
    _wait("O_DIRECT write", "D", True, True, TASK_UNINTERRUPTIBLE,
          "block/fops.c __blkdev_direct_IO_simple() -> submit_bio_wait()",
          "submit_bio_wait", "__blkdev_direct_IO_simple", "blkdev_direct_IO", "blkdev_direct_write"),
    make=("pwrite-direct", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,))
# fsync of a page the task dirtied: it writes the page back and waits, with every
# other page of the file under writeback, on PG_writeback, uninterruptible, in
# io_schedule() (mm/filemap.c folio_wait_bit_common()).
FSYNC_DIRTY = declare(
    _wait("fsync of a dirty page", "D", True, True, TASK_UNINTERRUPTIBLE,
          "mm/filemap.c file_write_and_wait_range() -> folio_wait_writeback() -> io_schedule()",
          "folio_wait_bit_common", "folio_wait_writeback", "__filemap_fdatawait_range", "filemap_fdatawait_range",
          "file_write_and_wait_range", "blkdev_fsync", "vfs_fsync_range", "do_fsync", "__x64_sys_fsync"),
    make=("fsync-dirty", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,))
# The same wait reached from a shared mapping: msync(MS_SYNC) of a page dirtied
# through it syncs the file's range (mm/msync.c -> vfs_fsync_range()) and waits
# for the page's writeback as fsync does.
MSYNC_DIRTY = declare(
    _wait("msync of a dirty shared mapping", "D", True, True, TASK_UNINTERRUPTIBLE,
          "mm/msync.c sys_msync() -> vfs_fsync_range() -> file_write_and_wait_range() -> folio_wait_writeback()",
          "folio_wait_bit_common", "folio_wait_writeback", "__filemap_fdatawait_range", "filemap_fdatawait_range",
          "file_write_and_wait_range", "blkdev_fsync", "vfs_fsync_range", "__do_sys_msync", "__se_sys_msync",
          "__x64_sys_msync"),
    make=("msync-dirty", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,))
# A read through the page cache that misses: read-ahead locks the new pages and
# submits their read; the reader (and any other reader of those pages) waits on
# the page lock until the I/O completes, killable, with in_iowait (io_schedule()).
BUFFERED_READ = declare(
    _wait("buffered read, page-cache miss", "D", True, True, TASK_KILLABLE,
          "mm/filemap.c filemap_update_page() -> folio_put_wait_locked() -> io_schedule()",
          "folio_wait_bit_common", "folio_put_wait_locked", "filemap_update_page", "filemap_get_pages",
          "filemap_read", "blkdev_read_iter"),
    make=("pread-buffered", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,), behaviours=_STATE_FILTER)
# The same miss taken as a page fault on a file mapping: filemap_fault() starts the
# read-around, drops the mmap (or VMA) lock and waits for the page lock, killable,
# in io_schedule(), then has the fault retried.
FAULT_READ = declare(
    _wait("major fault on a file mapping", "D", True, True, TASK_KILLABLE,
          "mm/filemap.c filemap_fault() -> __folio_lock_killable() -> io_schedule()",
          "folio_wait_bit_common", "__folio_lock_killable", "filemap_fault", "__do_fault", "do_read_fault",
          "do_fault", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault", "exc_page_fault"),
    make=("fault-mapped", DEVICE), needs=SLOW_DEVICE, rows=(IDLE,), behaviours=_STATE_FILTER)
# A fault on an anonymous page that was swapped out and left the swap cache:
# do_swap_page() submits the read of its slot and waits for the page lock the
# read holds, killable, in io_schedule(). Delay accounting charges that wait to
# blkio (kernel/delayacct.c __delayacct_blkio_end() charges blkio whatever the
# sleep is for); its swapin delay is only the submission, which
# delayacct_swapin_start()/_end() wrap (mm/page_io.c swap_read_folio()).
_SWAP_FAULT = ("do_swap_page", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault", "exc_page_fault")
_SWAP = {"make": ("swap-in",), "needs": SLOW_SWAP, "rows": (IDLE,),
         "marks": (pytest.mark.modules("loop", "dm-delay"), pytest.mark.kconfig("CONFIG_SWAP"),
                   pytest.mark.needs_cmds("dmsetup", "mkswap", "swapon", "losetup", "pfunct"))}
SWAP_IN = declare(
    _wait("swap-in of an anonymous page", "D", True, True, TASK_KILLABLE,
          "mm/memory.c do_swap_page() -> folio_lock_or_retry() -> __folio_lock_or_retry() -> io_schedule()",
          "folio_wait_bit_common", "__folio_lock_or_retry", *_SWAP_FAULT), **_SWAP)
# Until "swap: remove remnants of polling from read_swap_cache_async" (2023), a
# swap-in whose readahead window is one page (mm/swap_state.c swapin_nr_pages():
# a fault with no neighbour read just before, or vm.page-cluster 0) reads with
# do_poll and waits inside swap_readpage(), uninterruptible, in
# blk_io_schedule(): delayacct_swapin_start()/_end() wrap that wait, so the
# whole wait is swapin delay as well as blkio delay. Which one a kernel does is
# read from its BTF (suites/holds.py swap_read_polls()).
SWAP_IN_POLLED = declare(
    _wait("swap-in of an anonymous page, polled read", "D", True, True, TASK_UNINTERRUPTIBLE,
          "mm/page_io.c swap_readpage(synchronous) -> blk_io_schedule()",
          "swap_readpage", "read_swap_cache_async", "swap_vma_readahead", "swap_cluster_readahead",
          "swapin_readahead", *_SWAP_FAULT), **_SWAP)
MSLEEP_IOWAIT = declare(
    _wait("module msleep, in_iowait = 1", "D", True, True, TASK_UNINTERRUPTIBLE,
          "kernel/time/timer.c msleep(), with current->in_iowait set by the module", "msleep"),
    make=("dsleep", MS, 1), needs=MODULE, rows=(IDLE, HOG))
_URING = ("io_cqring_wait", "__io_cqring_wait_schedule", "io_cqring_wait_schedule", "__do_sys_io_uring_enter",
          "__x64_sys_io_uring_enter")
_URING_READ = {"make": ("uring-read", DEVICE), "tasks": S_TASKS, "needs": SLOW_DEVICE}
URING_READ = declare(
    _wait("io_uring read in flight", "S", True, False, TASK_INTERRUPTIBLE,
          "io_uring/io_uring.c io_cqring_wait() -> io_schedule() (8a796565cec3, v6.5 / 6.1.39)", *_URING),
    **_URING_READ, rows=(IDLE,), marks=_IO_URING, behaviours=_STATE_FILTER)
# Before 8a796565cec3 the same wait sleeps in plain schedule_hrtimeout().
URING_READ_SCHEDULE = declare(
    _wait("io_uring read in flight, before io_schedule", "S", False, False, TASK_INTERRUPTIBLE,
          "io_uring/io_uring.c io_cqring_wait() -> schedule_hrtimeout(), before 8a796565cec3", *_URING),
    **_URING_READ)
# With nothing in flight the wait is I/O wait or not as the kernel's state at the
# wait decides (docs/kernel-rules.md §4; suites/watch/uring_state.py predicts it):
# one workload, and the matrix row is the class the kernel decided.
URING_IDLE_IOWAIT = declare(
    _wait("io_uring idle wait", "S", True, False, TASK_INTERRUPTIBLE,
          "io_uring/io_uring.c io_cqring_wait(), current_pending_io() true", *_URING),
    rows=(IDLE,), marks=_IO_URING)
URING_IDLE = declare(
    _wait("io_uring idle wait", "S", False, False, TASK_INTERRUPTIBLE,
          "io_uring/io_uring.c io_cqring_wait(), nothing pending", *_URING),
    make=("uring-idle", MS), tasks=S_TASKS)
AIO_GETEVENTS = declare(
    _wait("libaio io_getevents", "S", False, False, TASK_INTERRUPTIBLE,
          "fs/aio.c read_events() -> wait_event_interruptible_hrtimeout()",
          "read_events", "do_io_getevents", "__do_sys_io_getevents", "__x64_sys_io_getevents"),
    make=("aio-getevents", DEVICE), tasks=S_TASKS, needs=SLOW_DEVICE, rows=(IDLE,), marks=_AIO)

BUSY_CPU = ", hog on its CPU"  # a hold's wait with a CPU hog on the tasks' CPU is its own matrix row
NO_DELAYACCT = ", no delay accounting at fork"  # and so is one whose tasks have no delay record
