"""Debian's Python iotop (`iotop-py -b -t -P -d 1 -p PID...`, the hold's tasks;
iotop 0.6): per process its IO% each frame, from taskstats' blkio_delay_total:
the delta over the time between its refreshes, at most 99.99, 0 in a task's
first frame (iotop/ui.py delay2percent(); iotop/data.py update_process_counts()
takes the time before reading the tasks, ProcessInfo.update_stats()). It decides
whether delay accounting is on by a guess: once any task's blkio_delay_total is
non-zero (iotop/data.py Stats.has_blkio_delay_total); until then it prints
"?unavailable?" for every task (iotop/ui.py). Stopped with SIGINT it exits 0
(KeyboardInterrupt, caught).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5), so a task
shows IO% 0 while it waits and its whole delay in the frame it wakes in; and with
tasks forked after delayacct was switched on only, no task may have a delay
before the hold's tasks wake."""

from __future__ import annotations

import re
import weakref

from suites.watch import pertask, reads
from suites.watch.tools import ToolWitness, epoch_of_clock
from suites.witnesses.iotop_c import judge_io

# Its interval (-d): it reads every task once as it starts (iotop/data.py
# ProcessList.__init__, for a first delta) and again at once for the first frame,
# then once per frame after polling this long (iotop/ui.py IOTopUI.run()). Two
# reads of a task closer than that before any frame are that priming read and the
# first frame's, however slow the host made the gap between them.
DELAY_S = 1
SOURCE = ("iotop 0.6 iotop/ui.py delay2percent(): min(99.99, delta / (duration * 1e7)); "
          "iotop/data.py: delayacct on once any blkio_delay_total != 0")
_ROW = re.compile(r"^(\d\d:\d\d:\d\d)\s+(\d+)\s+\S+\s+\S+\s+([\d.]+)\s+\S+\s+([\d.]+)\s+\S+\s+"
                  r"(?:\?unavailable\?|([\d.]+) %\s+([\d.]+) %)")
_FRAME = re.compile(r"^\d\d:\d\d:\d\d Total DISK READ")


def parse(text: str, near: float) -> list[tuple[float, int, float, float, float | None, int]]:
    """(time, pid, read, write, IO% or None for ?unavailable?, frame number) per
    task line; a frame begins with its "Total DISK READ" line."""
    rows, frame = [], -1
    for line in text.splitlines():
        if _FRAME.match(line):
            frame += 1
            continue
        m = _ROW.match(line)
        if m:
            io = float(m[6]) if m[6] is not None else None
            rows.append((epoch_of_clock(m[1], near), int(m[2]), float(m[3]), float(m[4]), io, frame))
    return rows


class IotopPy(ToolWitness):
    name = "iotop-py"
    title = "iotop 0.6, Python (IO% per task)"
    order = 265
    package = "iotop"
    programs = ("iotop-py",)
    follows_pids = True  # -p: its Python reads only these tasks, not the ~100 of the guest
    reads_what = ("taskstats",)
    exit_source = "iotop 0.6 iotop/ui.py main(): KeyboardInterrupt caught, exit 0"
    stamp_lag = reads.AFTER

    _warm: weakref.WeakSet = weakref.WeakSet()

    def setup(self, guest) -> None:
        """Its first start in a guest reads Python and its modules over the host's
        share: 6-7 s under TCG, measured. Paid once per guest here, not at a hold's
        gate; later starts take ~0.3 s (2 s on a slow host)."""
        super().setup(guest)
        if guest not in self._warm:
            guest.run(f"{self.program} -b -n 1 -d 0.1 -p 1", timeout=120)
            self._warm.add(guest)

    def command(self, run) -> str:
        return f"{self.program} -b -t -P -d {DELAY_S} " + " ".join(f"-p {pid}" for pid in run.pids)

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or run.started))

    def judge_output(self, ev, seen, ts) -> None:
        rows = ts.parsed
        reports = judge_io(ev, seen, "iotop-py", rows, 99.99, 0.005, SOURCE, seen.hold.pids,
                           primes_within=DELAY_S)
        # Its guess turns on once a task it read had a delay: at the latest, a read of
        # one whose field 42 was already >= 1 tick (>= 10 ms of blkio_delay_total).
        placed = sorted(reports, key=lambda r: r.end.lo)
        on_since = min((r.end.hi for r in placed if pertask.steps(seen, r.pid).at(r.end).lo >= 1), default=None)
        hidden = [r for r in placed if r.value is None and on_since is not None and r.end.lo > on_since]
        shown = sum(r.value is not None for r in placed)
        ev.check(f"{seen.prefix}iotop-py delay accounting guess", not hidden,
                 "IO% shown (not ?unavailable?) in every frame after it read a task with a delay of >= 1 tick",
                 (f"?unavailable? in {len(hidden)} such frames" if hidden else
                  f"IO% shown in {shown} of {len(placed)} frames" + ("" if on_since else "; no task had a delay")),
                 SOURCE)


WITNESS = IotopPy()
