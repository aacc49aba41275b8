"""Where a task's blkio delay is counted from, on a kernel that may delay a
sleeping task's dequeue (fixtures/tracers/blkio_stamps.bt).

kernel/delayacct.c adds `local_clock() - blkio_start` when an in_iowait sleep
ends; the start is stamped as the sleeper leaves its runqueue
(kernel/sched/sched.h __block_task()) by delayacct_blkio_start(), which stamps
*current*. Since 6.12 the fair scheduler may delay that dequeue (sched feature
DELAY_DEQUEUE; kernel/sched/fair.c dequeue_entities()); __block_task() then runs
later, from whichever task picks next, so the sleeper keeps the stamp of its
previous sleep (0 if it never had one: the record is zeroed at fork) and its
delay is counted from there (docs/kernel-rules.md §5). The tracer says which
sleeps were left unstamped and what the stale stamp was; one per guest, kept.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from fixtures import TRACERS
from suites.watch.kept import KeptPerGuest, KeptTracer
from vm.errors import AgentError, OutputNotSeen
from vm.guest import Guest

PROGRAM = TRACERS / "blkio_stamps.bt"
FEATURES = "/sys/kernel/debug/sched/features"


@dataclass(frozen=True)
class Stamp:
    what: str  # stamp, unstamped, end
    tid: int
    t: float  # guest CLOCK_MONOTONIC seconds
    stamp: int  # the task's blkio_start (local_clock ns): written (stamp), counted from (end)


def parse(text: str) -> list[Stamp]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] in ("stamp", "unstamped", "end") and all(x.isdigit() for x in f[1:]):
            out.append(Stamp(f[0], int(f[1]), int(f[2]) / 1e9, int(f[3])))
    return out


_delays: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # guest -> delays_dequeue()


def delays_dequeue(guest: Guest) -> bool | None:
    """Whether the guest's scheduler may delay a sleeper's dequeue (its DELAY_DEQUEUE
    feature is on: a kernel without it lists neither DELAY_DEQUEUE nor NO_DELAY_DEQUEUE);
    None when the feature list cannot be read. Read once per guest (every hold asks)."""
    if guest not in _delays:
        r = guest.run(f"cat {FEATURES}")
        _delays[guest] = None if r.rc != 0 else "DELAY_DEQUEUE" in r.stdout.split()
    return _delays[guest]


def boot_instant(events: list[Stamp]) -> float | None:
    """The CLOCK_MONOTONIC instant at which local_clock() read 0, from the stamps'
    own pairs of the two clocks (the earliest: the least delayed by the probe)."""
    pairs = [e.t - e.stamp / 1e9 for e in events if e.what == "stamp"]
    return min(pairs) if pairs else None


@dataclass(frozen=True)
class Counted:
    """An in_iowait sleep that had no stamp of its own: its delay runs from `since`
    (CLOCK_MONOTONIC), the task's previous stamp or boot."""

    unstamped_at: float
    since: float | None  # None: not known (no stamp pairs to place the clock)
    why: str
    ended: bool  # its end was counted; else it was woken still queued (ttwu_runnable()): nothing added


def counted_from(events: list[Stamp], tid: int, slept: float, woke: float) -> Counted | None:
    """If the task's sleep between `slept` and `woke` was left unstamped: where its
    delay is counted from. None when it had a stamp of its own."""
    gaps = [e for e in events if e.what == "unstamped" and e.tid == tid and slept <= e.t <= woke]
    if not gaps:
        return None
    # By time, not by the order printed: bpftrace reads its per-CPU buffers in turn.
    at = min(e.t for e in gaps)
    ended = any(e.what == "end" and e.tid == tid and e.t >= at for e in events)
    since = max((e.t for e in events if e.what == "stamp" and e.tid == tid and e.t < at), default=None)
    if since is not None:
        return Counted(at, since, f"its previous stamp at {since:.3f} s", ended)
    return Counted(at, boot_instant(events), "boot (no stamp since it forked)", ended)


class StampTracer(KeptTracer[Stamp]):
    def __init__(self, guest: Guest):
        super().__init__(guest, PROGRAM, ("linux/sched.h", "linux/delayacct.h"), parse)

    def events(self) -> list[Stamp]:
        return self.items()


_per_guest = KeptPerGuest(StampTracer, f"the stamp tracer ({PROGRAM.name})")


def tracer(guest: Guest) -> StampTracer:
    """The guest's stamp tracer, attached on first use."""
    return _per_guest.get(guest)


def watch(guest: Guest) -> StampTracer | str | None:
    """What tells this guest's unstamped sleeps: None on a kernel that never leaves
    one (no delayed dequeue), the tracer, or why it cannot be known."""
    delays = delays_dequeue(guest)
    if delays is False:
        return None
    try:
        return tracer(guest)
    except (OutputNotSeen, AgentError) as e:
        why = f"cannot read {FEATURES}" if delays is None else "the scheduler delays dequeues (DELAY_DEQUEUE)"
        return f"{why}, and which sleeps were left unstamped is not known: {e}"
