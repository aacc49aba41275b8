"""procs_blocked in /proc/stat in every sample: nr_iowait(), the tasks sleeping
with in_iowait, not the tasks in D (docs/kernel-rules.md §4)."""

from __future__ import annotations

from suites.watch.witness import Witness

SOURCE = "fs/proc/stat.c: procs_blocked = nr_iowait(), the sum of rq->nr_iowait"


class ProcsBlocked(Witness):
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
            ceiling = max(seen.base.blocked)
            ev.check(f"{seen.prefix}procs_blocked", max(blocked) <= ceiling, f"<= {ceiling} (idle baseline max)",
                     f"max {max(blocked)}", SOURCE)


WITNESS = ProcsBlocked()
