"""An asynchronous read in flight when its process exits, execs, closes the file,
cancels it or forks, and glibc's limit on POSIX AIO helper threads: the Linux
analogues of what IBM's AIX documentation says of its AIO ("Subroutines Affected
by Asynchronous I/O": outstanding requests are canceled at close, _exit and exec,
and when they cannot be the process blocks until they finish; AIO is not
inherited across fork; AIO servers up to maxservers). docs/aix-and-linux.md puts
each claim beside what these tests show.

Each mode is one O_DIRECT read of the slow null_blk device (fixtures/workloads/
aio_lifecycle.c), completing NULLB_DELAY_S after its submission.
"""

from __future__ import annotations

import re
import time

import pytest

from fixtures import WORKLOADS
from fixtures.build import build_c
from suites.aio.holders import aio_nr, thread_stats
from suites.devices import NULLB_DELAY_S
from suites.watch.procfs import parse_task_stat

pytestmark = pytest.mark.behaviour("aio-in-flight-lifecycle")

SIZE = 4096
EXIT_AIO = ("fs/aio.c exit_aio(): from __mmput() (exit_mm at exit, exec_mmap at exec), kill_ioctx() each "
            "context, then wait_for_completion() until all its I/O is done: no block request is cancelled")
CLOSE = ("fs/aio.c io_submit_one(): the request holds its own reference to the file (fget), so close() "
         "drops only the descriptor and the read goes on")
CANCEL = ("fs/aio.c io_cancel(): only a request with a cancel method (kiocb_set_cancel_fn(), USB gadget) is on "
          "ctx->active_reqs; any other is -EINVAL and completes as it would have")
KFORK = ("kernel/fork.c mm_init(): a child's mm starts with no ioctx_table, so fs/aio.c lookup_ioctx() finds "
         "none of the parent's contexts: -EINVAL")
GLIBC_CANCEL = ("glibc rt/aio_cancel.c: a request a helper thread is already running is AIO_NOTCANCELED (1); "
                "it completes")
FORK = ("POSIX fork(): asynchronous I/O is not inherited; glibc's helper thread is not in the child, so the "
        "child's copy of the aiocb stays EINPROGRESS (sysdeps/pthread/aio_misc.c)")
THREADS = ("glibc sysdeps/pthread/aio_misc.c __aio_enqueue_request(): a new helper thread only while fewer "
           "than aio_init()'s aio_threads run (default 20); requests on other descriptors wait their turn")
# The request completes NULLB_DELAY_S after submission; READY is printed after it was submitted.
EXIT_REST_S = 1.0  # what is left of exit or exec once the last request completed (generous under TCG)
EINVAL, EINPROGRESS = 22, 115  # include/uapi/asm-generic/errno-base.h, errno.h


@pytest.fixture(scope="session")
def lifecycle_bin():
    return build_c(WORKLOADS / "aio_lifecycle.c", "-lrt")


def _start(guest, binary, args: str):
    t0 = guest.read_files([])[0]
    proc = guest.spawn(f"exec {binary} {args}")
    guest.wait_for_output(proc, "READY ", timeout=30)
    return proc, t0, guest.read_files([])[0]


def _blocked(guest, pid: int) -> tuple[str, list[str]]:
    """The task's state and kernel stack as the kernel's own list of blocked tasks
    shows them (SysRq w: kernel/sched/core.c show_state_filter(), into the log).
    Not /proc/<pid>: during an exec its reads wait until the exec is done (seen on
    6.1: they came back with the task already a zombie)."""
    mark = int(guest.sh("dmesg | wc -l").strip() or 0)
    guest.run("echo w > /proc/sysrq-trigger")
    lines = guest.sh(f"dmesg | tail -n +{mark + 1}").splitlines()
    state, frames, mine = "", [], False
    for ln in lines:
        m = re.search(r"task:\S+\s+state:(\S+).*\bpid:\s*(\d+)", ln)
        if m:
            mine = int(m.group(2)) == pid
            if mine:
                state = m.group(1)
            continue
        f = re.search(r"\]\s+(?:\? )?([A-Za-z_][\w.]*)\+0x", ln)
        if mine and f:
            frames.append(f.group(1))
    return state, frames


def _threads(guest, pid: int) -> dict[int, str]:
    """tid -> state letter of every thread of the process."""
    return {tid: parse_task_stat(st).state for tid, st in thread_stats(guest, pid).items()}


@pytest.mark.parametrize("mode", ["exit", "exec"])
def test_kernel_aio_in_flight_at_exit_and_exec(guest, lifecycle_bin, slow_nullb, evidence, mode):
    """_exit or exec with a read in flight: the task waits in D in exit_aio until the
    read completes; the context's aio-nr is given back as the wait begins."""
    dev = slow_nullb.device()
    base = aio_nr(guest)
    proc, t0, t_ready = _start(guest, lifecycle_bin, f"{mode} {dev} {SIZE}")
    pid = proc.pid
    state, frames = "", []
    deadline = time.monotonic() + NULLB_DELAY_S / 2
    while time.monotonic() < deadline:
        state, frames = _blocked(guest, pid)
        if "exit_aio" in frames:
            break
        time.sleep(0.5)
    held = aio_nr(guest)
    r = guest.wait(proc, timeout=NULLB_DELAY_S * 3)
    t_end = guest.read_files([])[0]
    evidence.check(f"{mode} with the read in flight: state", state == "D", "D", state, EXIT_AIO)
    evidence.check(f"{mode} with the read in flight: sleeps in", "exit_aio" in frames,
                   "exit_aio (SysRq w's stack)", " < ".join(frames[:6]) or "not listed as blocked", EXIT_AIO)
    evidence.check(f"{mode}: aio-nr while it waits", held == base, f"{base} (given back already)", str(held),
                   "fs/aio.c kill_ioctx(): aio_nr_sub() before exit_aio() waits for the requests")
    lo, hi = t0 + NULLB_DELAY_S, t_ready + NULLB_DELAY_S + EXIT_REST_S
    evidence.check(f"{mode}: when the process ended", lo <= t_end and (t_end - t0) <= hi - t0,
                   f"{lo - t0:.1f} .. {hi - t0:.1f} s after its start (the read's completion, then what is left "
                   f"of {mode}: {EXIT_REST_S:g} s)", f"{t_end - t0:.2f} s", EXIT_AIO)
    evidence.check(f"{mode}: exit status", r.rc == 0, "0" + (" (/bin/true)" if mode == "exec" else ""), str(r.rc),
                   "fixtures/workloads/aio_lifecycle.c")
    after = aio_nr(guest)
    evidence.check(f"{mode}: aio-nr after", after == base, str(base), str(after),
                   "fs/aio.c free_ioctx_users(): aio_nr_sub() once its requests are done")
    evidence.require()


def test_kernel_aio_close_cancel_and_fork_with_the_read_in_flight(guest, lifecycle_bin, slow_nullb, evidence):
    """close() of the descriptor returns at once and the read completes; io_cancel()
    of a block read fails with EINVAL and the read completes; a forked child has
    none of the parent's contexts, and the parent's read completes."""
    dev = slow_nullb.device()
    for mode in ("close", "cancel", "fork"):
        proc, t0, _ = _start(guest, lifecycle_bin, f"{mode} {dev} {SIZE}")
        r = guest.wait(proc, timeout=NULLB_DELAY_S * 3)
        t_end = guest.read_files([])[0]
        out = r.stdout
        done = re.search(r"^DONE \d+ (-?\d+)$", out, re.M)
        res = int(done.group(1)) if done else None
        if mode == "close":
            m = re.search(r"^CLOSED (\d+)$", out, re.M)
            ms = int(m.group(1)) if m else None
            evidence.check("close() with the read in flight: how long it took", ms is not None and
                           ms < NULLB_DELAY_S * 1000 / 2, f"< {NULLB_DELAY_S * 500:.0f} ms (it does not wait for "
                           f"the {NULLB_DELAY_S:g} s read)", f"{ms} ms", CLOSE)
        elif mode == "cancel":
            m = re.search(r"^CANCEL (-?\d+) (\d+)$", out, re.M)
            got = (int(m.group(1)), int(m.group(2))) if m else None
            evidence.check("io_cancel() of the read in flight", got == (-1, EINVAL), "-1, errno EINVAL",
                           f"{got[0]}, errno {got[1]}" if got else "no CANCEL line", CANCEL)
        else:
            m = re.search(r"^CHILD \d+ (-?\d+) (\d+)$", out, re.M)
            got = (int(m.group(1)), int(m.group(2))) if m else None
            evidence.check("a forked child's io_getevents() on the parent's context", got == (-1, EINVAL),
                           "-1, errno EINVAL", f"{got[0]}, errno {got[1]}" if got else "no CHILD line", KFORK)
        evidence.check(f"{mode}: the read's result", res == SIZE, f"{SIZE} (completed)", str(res),
                       {"close": CLOSE, "cancel": CANCEL, "fork": KFORK}[mode])
        evidence.check(f"{mode}: the read was in flight throughout", t_end - t0 >= NULLB_DELAY_S,
                       f">= {NULLB_DELAY_S:g} s from start to exit", f"{t_end - t0:.2f} s",
                       "drivers/block/null_blk: completion_nsec after submission")
    evidence.require()


def test_posix_aio_is_not_inherited_across_fork(guest, lifecycle_bin, slow_nullb, evidence):
    """The parent's aio_read completes for the parent; the child's copy of the aiocb
    never does (the positive control is the parent's, in the same run)."""
    dev = slow_nullb.device()
    proc, _, _ = _start(guest, lifecycle_bin, f"posix-fork {dev} {SIZE}")
    out = guest.wait(proc, timeout=NULLB_DELAY_S * 3).stdout
    done = re.search(r"^DONE (\d+) (-?\d+)$", out, re.M)
    child = re.search(r"^CHILD (\d+) (-?\d+)$", out, re.M)
    evidence.check("the parent's read", done is not None and int(done.group(2)) == SIZE, str(SIZE),
                   done.group(2) if done else "no DONE line", "glibc aio_return()")
    evidence.check("the child's aio_error() of its copy, after the parent's completed",
                   child is not None and int(child.group(2)) == EINPROGRESS, f"EINPROGRESS ({EINPROGRESS})",
                   child.group(2) if child else "no CHILD line", FORK)
    evidence.require()


def test_posix_aio_cancel_of_a_running_read(guest, lifecycle_bin, slow_nullb, evidence):
    dev = slow_nullb.device()
    proc, _, _ = _start(guest, lifecycle_bin, f"posix-cancel {dev} {SIZE}")
    out = guest.wait(proc, timeout=NULLB_DELAY_S * 3).stdout
    m = re.search(r"^CANCEL (-?\d+) (\d+)$", out, re.M)
    done = re.search(r"^DONE \d+ (-?\d+)$", out, re.M)
    evidence.check("aio_cancel() of the running read", m is not None and int(m.group(1)) == 1,
                   "AIO_NOTCANCELED (1)", m.group(1) if m else "no CANCEL line", GLIBC_CANCEL)
    evidence.check("the read's result", done is not None and int(done.group(1)) == SIZE, f"{SIZE} (completed)",
                   done.group(1) if done else "no DONE line", GLIBC_CANCEL)
    evidence.require()


def test_posix_aio_helper_threads_up_to_aio_init(guest, lifecycle_bin, slow_nullb, evidence):
    """Two reads on two descriptors: with aio_init(aio_threads = 1) one helper thread
    waits in D and the reads run one after the other; with glibc's default both
    run at once, each in a helper thread of its own (the positive control)."""
    dev = slow_nullb.device()
    for limit, helpers in ((1, 1), (0, 2)):
        name = f"aio_threads = {limit}" if limit else "glibc's default (20)"
        proc, t0, _ = _start(guest, lifecycle_bin, f"posix-threads {limit} 2 {dev} {SIZE}")
        pid = proc.pid
        states = {}
        deadline = time.monotonic() + NULLB_DELAY_S / 2
        while time.monotonic() < deadline:
            states = _threads(guest, pid)
            if sum(st == "D" for st in states.values()) >= helpers:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        states = _threads(guest, pid)
        waiting = sorted(t for t, st in states.items() if t != pid and st == "D")
        evidence.check(f"{name}: helper threads in D with both reads submitted", len(waiting) == helpers,
                       str(helpers), f"{len(waiting)} of {len(states) - 1} threads besides the main one", THREADS)
        out = guest.wait(proc, timeout=NULLB_DELAY_S * 4).stdout
        t_end = guest.read_files([])[0]
        results = [int(x) for x in re.findall(r"^DONE \d+ (-?\d+)$", out, re.M)]
        evidence.check(f"{name}: both reads' results", results == [SIZE, SIZE], f"{SIZE}, {SIZE}",
                       ", ".join(map(str, results)), "glibc aio_return()")
        rounds = 2 // helpers
        evidence.check(f"{name}: how long both took", rounds * NULLB_DELAY_S <= t_end - t0 <
                       (rounds + 1) * NULLB_DELAY_S, f"{rounds * NULLB_DELAY_S:g} .. {(rounds + 1) * NULLB_DELAY_S:g}"
                       f" s ({rounds} read{'s' if rounds > 1 else ''} of {NULLB_DELAY_S:g} s one after the other)",
                       f"{t_end - t0:.2f} s", THREADS)
    evidence.require()
