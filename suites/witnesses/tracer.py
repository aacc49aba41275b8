"""iowitness's own off-CPU tracer (fixtures/tracers/offcpu_iowait.bt, bpftrace):
each D sleep, or S sleep with in_iowait, of the hold's tasks, with its state and
in_iowait at sched_switch and its length. Attached once per guest (~20 s under
TCG) and kept for the guest's life."""

from __future__ import annotations

from suites.watch import offcpu
from suites.watch.witness import Witness

SOURCE = "fixtures/tracers/offcpu_iowait.bt: sched_switch prev_state + curtask->in_iowait"


def _sleeps_text(h, sleeps) -> str:
    return "; ".join(f"{pid}: " + (", ".join(f"{s.state}/iowait={int(s.iowait)}/{s.us / 1e6:.2f}s"
                                             for s in sleeps.get(pid, [])) or "none")
                     for pid in h.pids)


class Tracer(Witness):
    name = "tracer"
    title = "iowitness off-CPU tracer (bpftrace)"
    order = 80
    package = "bpftrace"
    kind = "tracer"
    programs = ("bpftrace",)

    def setup(self, guest) -> None:
        offcpu.tracer(guest)

    def stop(self, run):
        t = offcpu.tracer(run.guest)
        reports = run.wait.state == "D" or run.wait.iowait  # what the tracer reports; a short wait if not
        sleeps = t.sleeps_of(list(run.pids), timeout=30 if reports else 3)
        lost = t.iowait_sleeps()[1]
        log = "\n".join([f"sleep pid={s.pid} comm={s.comm} state={s.state} iowait={int(s.iowait)} us={s.us}"
                         for got in sleeps.values() for s in got] + ([f"Lost {lost} events"] if lost else []))
        return sleeps, log

    def judge(self, ev, seen) -> None:
        sleeps, log = seen.mine
        h, wait, p = seen.hold, seen.wait, seen.prefix
        if not (wait.state == "D" or wait.iowait):
            # The tracer reports D sleeps and sleeps with in_iowait only.
            ev.check(f"{p}tracer", not any(sleeps.values()), "no D or in_iowait sleep of these tasks",
                     _sleeps_text(h, sleeps), SOURCE)
            return
        least_us = int((seen.window_s - seen.window.edges) * 1e6)  # in the wait at both ends' reads
        good = {pid: [s for s in sleeps.get(pid, []) if s.state == wait.state
                      and s.iowait == wait.iowait and s.us >= least_us] for pid in h.pids}
        if not all(good.values()):
            ev.note(f"{seen.label or 'hold'}: tracer output: " + " / ".join(log.splitlines()))
        ev.check(f"{p}tracer", all(good.values()),
                 f"each: a {wait.state} sleep >= {least_us / 1e6:.2f} s, in_iowait={int(wait.iowait)}",
                 _sleeps_text(h, sleeps), SOURCE)


WITNESS = Tracer()
