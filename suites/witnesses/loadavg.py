"""load1 in /proc/loadavg over the window, against the kernel's load arithmetic
(suites/watch/loadavg.py; docs/kernel-rules.md §9): tasks counted in loadavg
raise it by at least what calc_load() gives; tasks in S or I must leave it below that."""

from __future__ import annotations

from suites.watch import loadavg as model
from suites.watch.witness import Witness

SOURCE = "kernel/sched/loadavg.c calc_load(): active = nr_running + nr_uninterruptible"


class LoadAvgWitness(Witness):
    name = "loadavg"
    title = "load1 (/proc/loadavg)"
    order = 30
    kind = "proc"

    def files(self, pids, cgroup):
        return ["/proc/loadavg"]

    def judge(self, ev, seen) -> None:
        w, n, W, hz, p = seen.window, seen.n, seen.window_s, seen.hz, seen.prefix
        before, after = (model.hundredths(x.load.load1) for x in (w.before, w.after))
        # The samples' readings narrow how many updates fell inside: at least
        # those seen changing the printed values (a 6.27 s window can hold one or
        # two, and from below the tasks' count two raise the least reading a
        # counted set would give by another 8 % of the gap).
        readings = [(s.t - s.spread / 2, (s.load.load1, s.load.load5, s.load.load15)) for s in w.samples]
        changed = model.updates_seen(readings, hz)
        fewest = max(model.samples_within(W, hz), changed)
        most = max(model.samples_at_most(W, hz), changed)
        if seen.wait.loadavg:
            least = model.load1_lower_bound(before, n, fewest, most)
            ev.check(f"{p}loadavg counts it", fewest >= 1 and after >= least,
                     f"load1 >= {least / 100:.2f} ({fewest}-{most} sample(s) of >= {n} active "
                     f"from {before / 100:.2f})", f"{before / 100:.2f} -> {after / 100:.2f}", SOURCE)
            return
        # Tasks in S, or in I (TASK_NOLOAD), are not in nr_uninterruptible. Whether a sleeping task is
        # counted is a test of its own state (kernel/sched/core.c __schedule():
        # sched_contributes_to_load, TASK_UNINTERRUPTIBLE without NOLOAD), so the
        # n tasks, all in the same wait, are counted all or none: the reading must
        # stay below the least load1 the window would show with the n tasks
        # counted. How far the other tasks explain the reading is a note, not a
        # check: samples every ~250 ms cannot see what is active at the instants
        # calc_load() samples (two soak runs: 4 others seen, and 1 seen while 2
        # were active at a sample).
        counted = model.load1_lower_bound(before, n, fewest, most)
        ev.check(f"{p}loadavg does not count it", after < counted,
                 f"load1 < {counted / 100:.2f} (the least with the {n} tasks counted over {fewest}-{most} "
                 f"update(s), from {before / 100:.2f})", f"{before / 100:.2f} -> {after / 100:.2f}", SOURCE)
        others = max(s.stat.procs_running for s in w.samples) + max(seen.base.blocked)
        explained = model.load1_upper_bound(before, others, most)
        ev.note(f"{p}loadavg: the {others} others seen active in samples explain up to {explained / 100:.2f} "
                f"over up to {most} sample(s); read {after / 100:.2f}")


WITNESS = LoadAvgWitness()
