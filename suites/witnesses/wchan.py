"""Where the tasks sleep, as /proc/<pid>/wchan names it (get_wchan() skips
scheduler functions): the wait's own kernel function."""

from __future__ import annotations

from suites.watch.witness import Witness


class Wchan(Witness):
    name = "wchan"
    title = "wchan (/proc/pid/wchan)"
    order = 20
    kind = "proc"

    def files(self, pids, cgroup):
        return [f"/proc/{p}/wchan" for p in pids]

    def judge(self, ev, seen) -> None:
        seen_wchans = seen.hold.wchans()
        expected = seen.wait.wchans
        ev.check(f"{seen.prefix}wchan", bool(seen_wchans) and seen_wchans <= expected, f"one of {sorted(expected)}",
                 ", ".join(sorted(seen_wchans)) or "(none)", f"/proc/pid/wchan (get_wchan); {seen.wait.sleeps_in}")


WITNESS = Wchan()
