"""System-wide PSI io (/proc/pressure/io) over the window (docs/kernel-rules.md §7)."""

from __future__ import annotations

import math

from suites.watch import stray_iowait
from suites.watch.stray_iowait import StraySleeps
from suites.watch.witness import Witness, baseline_ceiling

SOURCE = ("kernel/sched/psi.c: TSK_IOWAIT from in_iowait; system total = per-CPU state time "
          "weighted by each CPU's non-idle time (get_recent_times)")


def psi_unavailable(guest) -> str | None:
    """PSI compiled in is not enough: psi=0 at boot or CONFIG_PSI_DEFAULT_DISABLED hide it."""
    if guest.run("test -r /proc/pressure/io").ok:
        return None
    return "PSI not available: /proc/pressure/io absent (CONFIG_PSI unset, psi=0, or disabled by default)"


def aggregation_slack(w, hz: int) -> float:
    """Seconds of stall an aggregation of the window may leave out. Every read of a
    pressure file aggregates the per-CPU times, weighting each CPU by its non-idle
    time in whole jiffies (collect_percpu_times(): nsecs_to_jiffies); an interval
    with less than a jiffy non-idle weighs nothing. Such short intervals end at a
    read next to another reader's (a tool's, the averaging worker's): a jiffy per
    sample of ours, plus one, bounds them."""
    return (len(w.samples) + 1) / hz


def stray_ceiling(seen, base_us: int, cpus) -> tuple[int, str]:
    """The most stall time tasks other than the hold's may add in the window: the
    idle baseline's rate, plus the time some other task slept with in_iowait on one
    of `cpus`. The file's total is each CPU's stall time weighted by its share of
    non-idle time (collect_percpu_times()), so no more than the sum over CPUs; a CPU
    is in io some or full only while a task of its own is in TSK_IOWAIT. A jiffy per
    span for the edges between PSI's state change and the tracepoints around it."""
    ceiling = baseline_ceiling(base_us, seen.base, seen.window_s)
    spent, spans = 0.0, 0
    for cpu in cpus:
        got = stray_iowait.on_cpu(seen.mine, seen, cpu)
        if got is None:
            return ceiling, "idle baseline; " + stray_iowait.untraced(seen.mine)
        spent, spans = spent + got[0], spans + got[1]
    extra = math.ceil(round(spent * 1e6, 3)) + spans * math.ceil(1e6 / seen.hz)
    where = ", ".join(str(c) for c in cpus)
    return ceiling + extra, (f"idle baseline + {extra}: {spent * 1e3:.1f} ms in {spans} span(s) other tasks "
                             f"slept with in_iowait on CPU {where}, a jiffy each for edges")


class PsiSystem(Witness[StraySleeps]):
    name = "psi"
    title = "PSI io (/proc/pressure/io)"
    order = 60
    kind = "proc"

    def files(self, pids, cgroup):
        return ["/proc/pressure/io"]

    def check(self, guest) -> str | None:
        return psi_unavailable(guest)

    def start(self, run) -> None:
        stray_iowait.mark(run)

    def stop(self, run) -> StraySleeps:
        return stray_iowait.gather(run)

    def judge(self, ev, seen) -> None:
        window, window_s, prefix, base = seen.window, seen.window_s, seen.prefix, seen.base
        cpus = list(window.cpus)
        if seen.wait.iowait:
            # The file is read somewhere inside each snapshot: W less its edges,
            # and less a jiffy per aggregation (whole-jiffy weights: below).
            slack = aggregation_slack(window, seen.hz)
            least = int((window_s - window.edges - slack) * 1e6 / seen.ncpu)
            ev.check(f"{prefix}PSI io some", window.some_us >= least,
                     f">= {least} us ((W - {window.edges * 1e3:.1f} ms read edges - {len(window.samples) + 1} jiffies)"
                     f"/{seen.ncpu}: CPU {seen.cpu} stalled all W, weighted by non-idle time)",
                     f"+{window.some_us} us", SOURCE)
            if seen.hog:
                # full needs no runnable task on a CPU with an iowait task (psi.c
                # test_state(): PSI_IO_FULL = tasks[NR_IOWAIT] && !tasks[NR_RUNNING]).
                # Other tasks' waits elsewhere can still make their own CPU full.
                ceiling, how = stray_ceiling(seen, base.full_us, [c for c in cpus if c != seen.cpu])
                ev.check(f"{prefix}PSI io full (masked by the hog)", window.full_us <= ceiling,
                         f"+<= {ceiling} us ({how})", f"+{window.full_us} us",
                         f"{SOURCE}; {stray_iowait.SOURCE}")
            else:
                # Not full while a task is runnable on CPU k: while one runs there
                # or waits to (/proc/schedstat, exact; interrupts do not change PSI's
                # state); with the other CPUs busy (the tools run there) the weighting
                # leaves no more room than that. Each aggregation (every read of a
                # pressure file, ours and the tools') weights by whole jiffies of
                # non-idle time (collect_percpu_times(): nsecs_to_jiffies), so one
                # whose interval has less than a jiffy non-idle adds nothing: a jiffy
                # per sample is allowed for.
                ran = window.ran(seen.cpu)
                if ran is None:
                    # Tick samples miss short runs: without exact run time no bound is right.
                    ev.note(f"{seen.label or 'hold'}: PSI io full +{window.full_us} us: no lower bound "
                            f"without /proc/schedstat (CONFIG_SCHED_INFO)")
                    return
                jiffies = aggregation_slack(window, seen.hz)
                not_full = (ran.run_ns + ran.queued_ns) / 1e9 + jiffies
                why = f"{ran.run_ns / 1e6:.1f} ms run + {ran.queued_ns / 1e6:.1f} ms queued on CPU {seen.cpu}"
                least_full = int((window_s - window.edges - not_full) * 1e6 / seen.ncpu)
                ev.check(f"{prefix}PSI io full", window.full_us >= least_full,
                         f">= {least_full} us ((W - read edges - {why} - {len(window.samples) + 1} jiffies)"
                         f"/{seen.ncpu})",
                         f"+{window.full_us} us", SOURCE)
        elif window.group_some_us is not None:
            # Judged on the tasks' own cgroup (psi_group.py): the system-wide file
            # also counts any other task's brief I/O wait (a soak run saw +132 us
            # against an idle baseline of 0): shown, not judged.
            some_ceiling, how = stray_ceiling(seen, base.some_us, cpus)
            ev.note(f"{seen.label or 'hold'}: system-wide PSI io some +{window.some_us} us, full +{window.full_us} us "
                    f"(at most {some_ceiling} us from {how})")
        else:
            for kind, got, base_us in (("some", window.some_us, base.some_us), ("full", window.full_us, base.full_us)):
                ceiling, how = stray_ceiling(seen, base_us, cpus)
                ev.check(f"{prefix}PSI io {kind}", got <= ceiling, f"+<= {ceiling} us ({how})", f"+{got} us",
                         f"{SOURCE}; {stray_iowait.SOURCE}")


WITNESS = PsiSystem()
