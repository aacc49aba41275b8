"""PSI io of the hold's own cgroup (io.pressure): only its tasks' stalls count
there (docs/kernel-rules.md §7), so a wait that is not I/O leaves it at exactly +0."""

from __future__ import annotations

from suites.watch.witness import Witness
from suites.witnesses.psi import aggregation_slack

SOURCE = ("kernel/sched/psi.c: psi_task_change() updates the task's cgroup and each ancestor "
          "(iterate_groups() in 6.1, group->parent since); "
          "a group's io some/full needs one of its own tasks in TSK_IOWAIT (test_state())")


class PsiGroup(Witness):
    name = "psi_group"
    title = "PSI io of the tasks' cgroup (io.pressure)"
    order = 61
    kind = "proc"

    def files(self, pids, cgroup):
        return [f"{cgroup}/io.pressure"] if cgroup else []

    def check(self, guest) -> str | None:
        from suites.witnesses.psi import psi_unavailable
        return psi_unavailable(guest)

    def judge(self, ev, seen) -> None:
        w, p = seen.window, seen.prefix
        if w.group_some_us is None:
            ev.not_run("no cgroup v2 group with io.pressure for the hold")
            return
        if seen.wait.iowait:
            # The cgroup's own tasks stall it: the same witness that must stay +0
            # for waits that are not I/O moves here. Its only non-idle CPU is the
            # tasks' (collect_percpu_times() weights each CPU by the group's own
            # non-idle time there), so the whole window counts, less the read edges
            # and the aggregations' whole-jiffy weighting (psi.py).
            least = int((seen.window_s - w.edges - aggregation_slack(w, seen.hz)) * 1e6)
            ev.check(f"{p}PSI io some (the tasks' cgroup)", w.group_some_us >= least,
                     f">= {least} us (its tasks stalled all W on CPU {seen.cpu}, the group's only non-idle CPU; "
                     f"less {w.edges * 1e3:.1f} ms read edges and {len(w.samples) + 1} jiffies)",
                     f"+{w.group_some_us} us", SOURCE)
        else:
            ev.check(f"{p}PSI io some (the tasks' cgroup)", w.group_some_us == 0, "+0 us (no task in in_iowait)",
                     f"+{w.group_some_us} us", SOURCE)
            ev.check(f"{p}PSI io full (the tasks' cgroup)", w.group_full_us == 0, "+0 us (no task in in_iowait)",
                     f"+{w.group_full_us} us", SOURCE)


WITNESS = PsiGroup()
