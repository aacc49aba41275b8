"""Debian's Python iotop (`iotop-py -b -t -P -d 1 -p PID...`, the hold's tasks;
iotop 0.6): per process its
IO% each second, from taskstats' blkio_delay_total: the delta over the interval,
at most 99.99 (iotop/ui.py delay2percent()). It decides whether delay accounting
is on by a guess: once any task's blkio_delay_total is non-zero (iotop/data.py
Stats.has_blkio_delay_total), unless kernel.task_delayacct reads 0; until then it
prints "?unavailable?" for every task (iotop/ui.py).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5), so a task
shows IO% 0 while it waits and its whole delay in the interval it wakes in; and
with tasks forked after delayacct was switched on only, no task may have a delay
before the hold's tasks wake."""

from __future__ import annotations

import math
import re
import weakref

from suites.watch.tools import ToolWitness, epoch_of_clock

SOURCE = ("iotop 0.6 iotop/ui.py delay2percent(): min(99.99, delta / interval); "
          "iotop/data.py: delayacct on once any blkio_delay_total != 0")
_ROW = re.compile(r"^(\d\d:\d\d:\d\d)\s+(\d+)\s+\S+\s+\S+\s+([\d.]+)\s+\S+\s+([\d.]+)\s+\S+\s+"
                  r"(?:\?unavailable\?|([\d.]+) %\s+([\d.]+) %)")
_FRAME = re.compile(r"^(\d\d:\d\d:\d\d) Total DISK READ")


def first_frame(text: str, near: float) -> float:
    """When its first frame was stamped (inf: it printed none in the hold)."""
    for line in text.splitlines():
        m = _FRAME.match(line)
        if m:
            return epoch_of_clock(m[1], near)
    return math.inf


def parse(text: str, near: float) -> list[tuple[float, int, float, float, float | None]]:
    """(time, pid, read, write, IO% or None for ?unavailable?) per task line."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            io = float(m[6]) if m[6] is not None else None
            rows.append((epoch_of_clock(m[1], near), int(m[2]), float(m[3]), float(m[4]), io))
    return rows


class IotopPy(ToolWitness):
    name = "iotop-py"
    title = "iotop 0.6, Python (IO% per task)"
    order = 265
    package = "iotop"
    programs = ("iotop-py",)
    follows_pids = True  # -p: its Python reads only these tasks, not the ~100 of the guest

    _proven: weakref.WeakSet = weakref.WeakSet()

    def setup(self, guest) -> None:
        """Its first start in a guest reads Python and its modules over 9p: 6-7 s
        under TCG, measured, most of a timed workload's wait. Paid once per guest
        here, before any task waits; later starts take ~0.3 s (2 s on a slow host,
        ~10 s beside a CPU hog)."""
        from suites.witnesses.iotop_c import check_it_prints
        check_it_prints(self, guest, "Total DISK READ")

    def command(self, run) -> str:
        return f"{self.program} -b -t -P -d 1 " + " ".join(f"-p {pid}" for pid in run.pids)

    def parse(self, result, run):
        near = run.wall(run.window_open or 0)
        return first_frame(result.stdout, near), parse(result.stdout, near)

    def judge(self, ev, seen) -> None:
        from suites.witnesses.iotop_c import judge_io_percent
        began, mine = seen.mine
        rows = [(t, pid, r, w, 0.0 if io is None else io) for t, pid, r, w, io in mine]
        late = judge_io_percent(ev, seen, "iotop-py", rows, 99.99, SOURCE, began=began)
        pids = set(seen.hold.pids)
        unavailable = {pid for _, pid, _, _, io in mine if io is None and pid in pids}
        shown = {pid for _, pid, _, _, io in mine if io is not None and io > 0 and pid in pids}
        if seen.hold.delayed and not late:
            # Their own delays, once added at the wake, turn iotop's guess on.
            ev.check(f"{seen.p}iotop-py delay accounting guess", shown == pids,
                     "IO% shown (not ?unavailable?) for each task once it has woken", f"IO% > 0 for {sorted(shown)}; "
                     f"?unavailable? at times for {sorted(unavailable)}", SOURCE)


WITNESS = IotopPy()
