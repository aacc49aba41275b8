"""POSIX AIO is not the kernel's AIO: glibc's aio_read() holds no aio capacity.

glibc implements POSIX AIO in user space (sysdeps/pthread/aio_misc.c:
handle_fildes_io() does an ordinary pread() in a helper thread). It never calls
io_setup, so aio-nr does not move and no aio-holders method may attribute
capacity to the process; the read itself is a plain blocking read, so the helper
thread (its own TID) waits in D with in_iowait and accrues blkio delay, while the
thread that asked waits in S in aio_suspend(). The control in the same test: the
same O_DIRECT read through the kernel's AIO (io_setup(1), io_submit, io_getevents)
moves aio-nr by 1, shows a ring and a traced context, and its waiter sleeps in S
with no blkio delay (docs/kernel-rules.md §1, §5, §6).
"""

from __future__ import annotations

import math
import re
import time

import pytest

from fixtures import WORKLOADS
from fixtures.build import build_c
from suites.aio.holders import aio_maps, aio_nr, maps_report, start_tracer, stop_tracer, thread_stats
from suites.devices import NULLB_DELAY_S
from suites.watch import stamps
from suites.watch.delays import UNSTAMPED, counted_bounds
from suites.watch.procfs import USER_HZ, parse_task_stat

pytestmark = pytest.mark.behaviour("posix-aio-is-not-kernel-aio")

SIZE = 4096
GLIBC = "glibc sysdeps/pthread/aio_misc.c handle_fildes_io(): pread() in a helper thread, no io_setup"
ACCOUNT = "fs/aio.c ioctx_alloc: aio_nr += max_reqs (n = 1)"
IOWAIT = ("block/bio.c submit_bio_wait(): wait_for_completion_io(), an io_schedule sleep with in_iowait "
          "(docs/kernel-rules.md §4, §6); its blkio delay below is the proof")
BLKIO = "kernel/delayacct.c: blkio delay is the in_iowait sleep, added when it ends (docs/kernel-rules.md §5)"
GETEVENTS = "fs/aio.c read_events(): wait_event_interruptible_hrtimeout, S (docs/kernel-rules.md §1)"
# The read's request completes NULLB_DELAY_S after submission (null_blk's timer);
# the thread sleeps right after submitting: allow half a second between the two.
SUBMIT_TO_SLEEP_S = 0.5


@pytest.fixture(scope="session")
def aio_read_bin():
    return build_c(WORKLOADS / "aio_read_once.c")


def _start(guest, binary, mode: str, dev: str):
    proc = guest.spawn(f"exec {binary} {mode} {dev} {SIZE}")
    guest.wait_for_output(proc, "READY ", timeout=30)
    return proc


def _wait_for(guest, pid: int, settled, timeout: float = 10) -> dict[int, str]:
    """The process's threads once `settled({tid: state})` holds (or the last
    reading, if it does not in time)."""
    deadline = time.monotonic() + timeout
    while True:
        threads = thread_stats(guest, pid)
        if settled({tid: parse_task_stat(st).state for tid, st in threads.items()}):
            return threads
        if time.monotonic() > deadline:
            return threads
        time.sleep(0.1)


def _done(guest, proc) -> int:
    out = guest.wait_for_output(proc, "DONE ", timeout=NULLB_DELAY_S * 3).stdout
    m = re.search(r"^DONE \d+ (-?\d+)$", out, re.M)
    return int(m.group(1)) if m else -1


def _blkio_rows(evidence, watch, pid: int, helper: int, during: dict, after: dict, t0: float, t_done: float):
    """The helper's delay from its birth (its record is zeroed at fork) and the asking
    thread's over the read, both bounded: the read ends at least NULLB_DELAY_S after
    t0 and before t_done; a sleep left unstamped counts from its stale stamp."""
    events = watch.events() if watch is not None and not isinstance(watch, str) else None
    ticks = parse_task_stat(after[helper]).blkio_ticks
    counted = stamps.counted_from(events, helper, t0, t_done) if events is not None else None
    if counted is not None:
        lo, hi, text = counted_bounds(counted, t0 + NULLB_DELAY_S, t_done)
        source = f"{BLKIO}; {UNSTAMPED}"
    else:
        lo = int((NULLB_DELAY_S - SUBMIT_TO_SLEEP_S) * USER_HZ)
        hi = math.ceil((t_done - t0) * USER_HZ) + 1
        text = (f"{lo} .. {hi} ticks ({NULLB_DELAY_S:g} s request less {SUBMIT_TO_SLEEP_S} s, at most from the "
                "start to DONE)")
        source = BLKIO
        if isinstance(watch, str):
            hi, text, source = math.inf, f">= {lo} ({watch})", f"{BLKIO}; {UNSTAMPED}"
    evidence.check(f"POSIX: helper thread {helper} blkio delay", lo <= ticks <= hi, text, str(ticks), source)
    moved = parse_task_stat(after[pid]).blkio_ticks - parse_task_stat(during[pid]).blkio_ticks
    evidence.check(f"POSIX: the asking thread {pid} blkio delay over the read", moved == 0,
                   "+0 (it waits in S in aio_suspend)", f"+{moved}", BLKIO)


def test_posix_aio_read_holds_no_aio_capacity(guest, aio_read_bin, slow_nullb, delayacct, evidence):
    dev = slow_nullb.device()
    accounting = guest.run("cat /proc/sys/kernel/task_delayacct").stdout.strip() == "1"
    # Which sleeps the scheduler leaves unstamped, on a kernel that delays dequeues.
    watch = stamps.watch(guest) if accounting else None
    tracer = start_tracer(guest, "bpftrace")
    base = aio_nr(guest)
    posix = kernel = None
    try:
        t0 = guest.read_files([])[0]
        posix = _start(guest, aio_read_bin, "posix", dev)
        pid = posix.pid
        threads = _wait_for(guest, pid, lambda s: any(t != pid and st == "D" for t, st in s.items()))
        helpers = [tid for tid in threads if tid != pid]
        now, rings = aio_nr(guest), len(aio_maps(guest, pid))
        evidence.check("POSIX: aio-nr while its read is in flight", now == base, f"{base} (unchanged)", str(now),
                       GLIBC)
        evidence.check("POSIX: [aio] ring mappings", rings == 0, "0", str(rings), GLIBC)
        evidence.check("POSIX: helper threads (TIDs other than the pid)", len(helpers) == 1, "1",
                       f"{len(helpers)}: {helpers}", "aio_init(aio_threads = 1); glibc aio_misc.c")
        helper = helpers[0] if helpers else None
        main_state = parse_task_stat(threads[pid]).state
        evidence.check(f"POSIX: the asking thread {pid}", main_state == "S", "S (aio_suspend: a futex wait)",
                       main_state, "glibc aio_suspend.c: futex wait, interruptible")
        if helper is not None:
            st = parse_task_stat(threads[helper]).state
            evidence.check(f"POSIX: helper thread {helper} state", st == "D", "D (a blocking O_DIRECT read)", st,
                           "block/fops.c O_DIRECT read (docs/kernel-rules.md §6)")
            stack = guest.sh(f"cat /proc/{pid}/task/{helper}/stack 2>&1 || true")
            frames = [ln.split("]", 1)[-1].strip().split("+")[0] for ln in stack.splitlines()]
            evidence.check(f"POSIX: helper thread {helper} sleeps in", frames[:1] == ["submit_bio_wait"],
                           "submit_bio_wait, under pread64", " < ".join(frames[:5]), IOWAIT)
        r = _done(guest, posix)
        t_done = guest.read_files([])[0]
        evidence.check("POSIX: the read's result", r == SIZE, str(SIZE), str(r), "aio_return()")
        if not accounting:
            evidence.note("delay accounting is not available on this kernel: no blkio rows")
        elif helper is not None:
            after = thread_stats(guest, pid)
            _blkio_rows(evidence, watch, pid, helper, threads, after, t0, t_done)

        # The control: the same read through the kernel's AIO.
        kernel = _start(guest, aio_read_bin, "kernel", dev)
        kpid = kernel.pid
        threads = _wait_for(guest, kpid, lambda s: "R" not in s.values())
        now, rings = aio_nr(guest), len(aio_maps(guest, kpid))
        evidence.check("kernel AIO: aio-nr while its read is in flight", now == base + 1, f"{base + 1}", str(now),
                       ACCOUNT)
        evidence.check("kernel AIO: [aio] ring mappings", rings == 1, "1", str(rings),
                       "fs/aio.c aio_setup_ring: one mapping per context")
        states = {tid: parse_task_stat(st).state for tid, st in threads.items()}
        evidence.check("kernel AIO: its threads", states == {kpid: "S"}, f"{{{kpid}: 'S'}} (io_getevents)",
                       str(states), GETEVENTS)
        maps = {p["pid"]: p for p in maps_report(guest)["processes"]}
        evidence.check("maps: the POSIX process", pid not in maps, "not listed", "listed" if pid in maps else
                       "not listed", GLIBC)
        row = maps.get(kpid)
        evidence.check("maps: the kernel AIO process", row is not None and row["events_min"] <= 1 <= row["events_max"],
                       "listed, its range contains 1", f"{row['events_min']}..{row['events_max']}" if row else
                       "not listed", "fixtures/tools/aio_ring.events_range (docs/kernel-rules.md §1)")
        r = _done(guest, kernel)
        evidence.check("kernel AIO: the read's result", r == SIZE, str(SIZE), str(r), "io_event.res")
        if accounting:
            ticks = parse_task_stat(thread_stats(guest, kpid)[kpid]).blkio_ticks
            evidence.check(f"kernel AIO: its thread {kpid} blkio delay", ticks == 0, "0 (it slept in S)", str(ticks),
                           GETEVENTS)

        report = {p["pid"]: p for p in stop_tracer(guest, tracer)["processes"]}
        tracer = None
        evidence.check("bpftrace: the POSIX process", pid not in report, "not listed",
                       "listed" if pid in report else "not listed", GLIBC)
        krow = report.get(kpid)
        evidence.check("bpftrace: the kernel AIO process", krow is not None and krow["events"] == 1,
                       "1 event, exact (io_setup traced)", str(krow["events"]) if krow else "not listed",
                       "io_setup's argument, traced (docs/kernel-rules.md §8)")
    finally:
        for p in (posix, kernel):
            if p is not None:
                guest.signal(p, 15)
        if tracer is not None:
            stop_tracer(guest, tracer)
    evidence.require()
