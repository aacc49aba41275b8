"""Each task's delayacct blkio ticks (/proc/<pid>/stat field 42), from the
window's start to the report it prints after waking: the delay of a sleep is
added when it ends (docs/kernel-rules.md §5). On a kernel that may delay a
sleeper's dequeue, which sleeps were left unstamped is traced
(suites/watch/stamps.py)."""

from __future__ import annotations

from dataclasses import dataclass

from suites.watch import stamps
from suites.watch.delays import judge_delay
from suites.watch.witness import Witness

SOURCE = ("kernel/delayacct.c: blkio delay from __schedule() to ttwu while in_iowait; "
          "/proc/pid/stat field 42")


@dataclass(frozen=True)
class Unstamped:
    """What tells the hold's unstamped sleeps (stamps.watch): None where the kernel
    leaves none, the tracer, or why that cannot be known."""

    by: stamps.StampTracer | str | None


class DelayAcct(Witness):
    name = "delayacct"
    title = "delayacct blkio (/proc/pid/stat field 42)"
    order = 70
    kind = "proc"
    kconfig = ("CONFIG_TASK_DELAY_ACCT",)

    def start(self, run) -> None:
        run.state(self.name, lambda: Unstamped(stamps.watch(run.guest)))

    def stop(self, run):
        """The stamp events of the hold's tasks (and every stamp: they place the
        clock), None where no sleep is left unstamped, or why that is not known."""
        got = run.state_of(self.name, Unstamped)
        w = got.by if got else None
        if w is None or isinstance(w, str):
            return w
        return [e for e in w.events() if e.what == "stamp" or e.tid in run.pids]

    def judge(self, ev, seen) -> None:
        h, mine = seen.hold, seen.mine
        counted = None
        if isinstance(mine, list):
            got = {pid: stamps.counted_from(mine, pid, *h.slept[pid]) for pid in h.pids if pid in h.slept}
            counted = {pid: c for pid, c in got.items() if c is not None}
        judge_delay(ev, seen, f"{seen.prefix}delayacct blkio", {pid: h.blkio_ticks(pid) for pid in h.pids}, SOURCE,
                    sign="+", counted=counted, unknown=mine if isinstance(mine, str) else "")


WITNESS = DelayAcct()
