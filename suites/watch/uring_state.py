"""Whether an io_uring wait is I/O wait, predicted from the state the kernel
decides it on, read in the guest as each wait begins
(fixtures/tracers/uring_wait_state.bt): io_cqring_wait_schedule() sets in_iowait
while current_pending_io(), the shared count of the task's tctx->inflight, which
also holds its cached request references (docs/kernel-rules.md §4).

The reader is a bpftrace program attached once per guest and kept for its life.
Where it cannot attach (no tracepoint, no BTF and no usable headers), the
prediction falls back to the code's rule for a task that has submitted before:
its cached references stay in the count until it exits.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass

from core.faults import IowitnessError
from fixtures import TRACERS
from suites.watch.kept import spawn_kept_bpftrace
from vm.guest import Guest

PROGRAM = TRACERS / "uring_wait_state.bt"
RULE = ("io_uring/io_uring.c io_cqring_wait_schedule(): in_iowait while current_pending_io(), "
        "percpu_counter_read_positive(&tctx->inflight) > 0")
FALLBACK = ("io_uring/io_uring.c io_task_refs_refill(): a submission caches IO_TCTX_REFS_CACHE_NR "
            "request refs, counted in tctx->inflight until the task exits")

_LINE = re.compile(r"^uring_wait pid=(\d+) inflight=(-?\d+) cached_refs=(-?\d+)$")


@dataclass(frozen=True)
class WaitState:
    inflight: int  # tctx->inflight.count, what percpu_counter_read_positive() reads
    cached_refs: int

    @property
    def pending(self) -> bool:
        return self.inflight > 0

    def __str__(self) -> str:
        return f"inflight count {self.inflight} ({self.cached_refs} cached refs)"


def parse(text: str) -> dict[int, WaitState]:
    """Each pid's state at its last wait; complete lines only."""
    out = {}
    for line in text[:text.rfind("\n") + 1].splitlines():
        m = _LINE.match(line)
        if m:
            out[int(m[1])] = WaitState(int(m[2]), int(m[3]))
    return out


class Reader:
    def __init__(self, guest: Guest, attach_timeout: float = 300):
        self.guest = guest
        self.proc = spawn_kept_bpftrace(guest, PROGRAM, ("linux/sched.h", "linux/io_uring_types.h"),
                                        attach_timeout=attach_timeout)

    def alive(self) -> bool:
        return self.guest.usable() and self.guest.running(self.proc)

    def states_of(self, pids, timeout: float = 10) -> dict[int, WaitState]:
        deadline = time.monotonic() + timeout
        while True:
            got = parse(self.guest.poll(self.proc).stdout)
            if all(p in got for p in pids) or time.monotonic() > deadline:
                return {p: got[p] for p in pids if p in got}
            time.sleep(0.2)


_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reader(guest: Guest) -> Reader | str:
    """This guest's reader, attached on first use; or why it cannot attach."""
    r = _readers.get(guest)
    if isinstance(r, str) or (r is not None and r.alive()):
        return r
    try:
        r = Reader(guest)
    except IowitnessError as e:
        r = f"the wait's state could not be read ({str(e).splitlines()[0]})"
    _readers[guest] = r
    return r


def predict(r: Reader | str, pids) -> tuple[bool, str]:
    """(in_iowait predicted for every task, why) for tasks that submitted before waiting."""
    if isinstance(r, str):
        return True, f"{r}: by the code, {FALLBACK}"
    states = r.states_of(list(pids))
    missing = [p for p in pids if p not in states]
    if missing:
        return True, f"no io_uring_cqring_wait seen for {missing}: by the code, {FALLBACK}"
    pending = {p: s.pending for p, s in states.items()}
    if len(set(pending.values())) != 1:
        raise IowitnessError(f"the tasks' io_uring states differ: {states}")
    shown = "; ".join(f"{p}: {s}" for p, s in states.items())
    return next(iter(pending.values())), f"{RULE}; read at the wait: {shown}"
