"""procs_blocked in /proc/stat in every sample: nr_iowait(), the tasks sleeping
with in_iowait, not the tasks in D (docs/kernel-rules.md §4)."""

from __future__ import annotations

from suites.watch import stray_iowait
from suites.watch.stray_iowait import StraySleeps
from suites.watch.witness import Witness

SOURCE = "fs/proc/stat.c: procs_blocked = nr_iowait(), the sum of rq->nr_iowait"


class ProcsBlocked(Witness[StraySleeps]):
    name = "procs_blocked"
    title = "procs_blocked (/proc/stat)"
    order = 40
    kind = "proc"

    def judge(self, ev, seen) -> None:
        blocked = seen.window.blocked
        if seen.wait.iowait:
            ev.check(f"{seen.prefix}procs_blocked", min(blocked) >= seen.n, f">= {seen.n} in every sample",
                     f"min {min(blocked)}, max {max(blocked)}", SOURCE)
        else:
            # Not these tasks: no more than the idle baseline showed, and any other
            # task caught in an in_iowait sleep as the sample was read (a tool
            # paging itself in), as the off-CPU tracer saw it.
            ceiling = max(seen.base.blocked)
            asleep = [stray_iowait.asleep_at(seen.mine, seen, s.t - s.spread / 2, s.t + s.spread / 2)
                      for s in seen.window.samples]
            others = [n for n in asleep if n is not None]
            if len(others) < len(asleep):
                how = f"<= {ceiling} (idle baseline max; {stray_iowait.untraced(seen.mine)})"
                ok = max(blocked) <= ceiling
            else:
                how = (f"<= {ceiling} (idle baseline max) + the other tasks in an in_iowait sleep as each "
                       f"sample was read: {max(others)} at most")
                ok = all(b <= ceiling + n for b, n in zip(blocked, others, strict=True))
            ev.check(f"{seen.prefix}procs_blocked", ok, how, f"max {max(blocked)}",
                     f"{SOURCE}; {stray_iowait.SOURCE}")

    def start(self, run) -> None:
        stray_iowait.mark(run)

    def stop(self, run) -> StraySleeps:
        return stray_iowait.gather(run)


WITNESS = ProcsBlocked()
