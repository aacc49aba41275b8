"""iotop-c `iotop-c -b -t -P -d 1 -p PID` (the hold's first task: -p takes one,
iotop-c 1.23 src/main.c `params.pid=atoi(optarg)`; reading all the guest's tasks
each second costs a sixth of a CPU under TCG): per process its IO% each frame,
from taskstats' blkio_delay_total (ns): the delta over the time between its
frames, capped at 100, 0 in a task's first frame (iotop-c 1.23 src/views.c
create_diff(); src/view_batch.c: the frame's time, monotime(), taken after its
scan of every task); the frame's wall time after `|` (-t). Stopped with SIGINT
it exits 0 (src/main.c: its signal handler ends the loop).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5): a task
shows IO% 0 while it waits, and its whole delay (capped) in the frame it wakes
in; delay accounting must be on (kernel.task_delayacct, set by the tests'
`delayacct` fixture) or every IO% is 0."""

from __future__ import annotations

import re

from suites.watch import pertask, reads
from suites.watch.tools import ToolWitness, epoch_of_datetime

SOURCE = ("iotop-c 1.23 src/views.c create_diff(): IO% = blkio_delay_total delta / (time_s * 1e7), at most 100, "
          "0 for a new task")
_FRAME = re.compile(r"^Total DISK READ.*\|\s*\w{3} (\w{3})\s+(\d+) (\d\d:\d\d:\d\d) (\d{4})")
_ROW = re.compile(r"^\s*(\d+)\s+\S+\s+\S+\s+([\d.]+)\s+\S+\s+([\d.]+)\s+\S+\s+([\d.?]+)\s+%\s+([\d.]+)\s+%")
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
# Where in its scan of every task iotop-c took each frame's time (after it): the
# scan of ~100 tasks' taskstats took up to ~0.2 s under TCG.
SCAN_S = 0.25


def _frame_time(f: re.Match) -> float:
    month = _MONTHS.index(f[1]) + 1
    return epoch_of_datetime(f"{f[4]}-{month:02d}-{int(f[2]):02d} {f[3]}")


def parse(text: str) -> list[tuple[float, int, float, float, float, int]]:
    """(frame time, pid, read, write, IO%, frame number) per listed task."""
    t, frame, rows = None, -1, []
    for line in text.splitlines():
        f = _FRAME.match(line.strip())
        if f:
            t, frame = _frame_time(f), frame + 1
            continue
        m = _ROW.match(line)
        if m and t is not None:
            rows.append((t, int(m[1]), float(m[2]), float(m[3]), float(m[5]), frame))
    return rows


def judge_io(ev, seen, tool: str, rows, cap: float, rounding: float, source: str,
             pids, primes_within: float = 0.0) -> list[pertask.TaskReport]:
    """The rows of an iotop: every task it follows listed while they wait, its IO%
    in each frame as its delay steps give (suites/watch/pertask.py). Each frame
    reads every task it follows, then takes its time: a task's n-th line is its
    n-th read however late the frame's stamp came (Python's, under TCG, up to a
    second). `primes_within`: as pertask.sampled_reports(). Returns its reports,
    placed on their reads."""
    lines = {pid: [(frame, t, io) for t, q, _r, _w, io, frame in rows if q == pid] for pid in pids}
    by_pid, readings = pertask.sampled_reports(seen, lines, "taskstats", stamp_first=False,
                                               primes_within=primes_within)
    reports = pertask.flat(by_pid)
    pertask.listed(ev, seen, tool, readings, reports, source, pids=pids)
    pertask.delays(ev, seen, tool, "IO%", reports, readings, pertask.io_percent(cap, rounding, SCAN_S), source,
                   unit=" %", pids=pids)
    return reports


class IotopC(ToolWitness):
    name = "iotop-c"
    title = "iotop-c -b (IO% per task)"
    order = 260
    package = "iotop-c"
    programs = ("iotop-c",)
    follows_pids = True
    reads_what = ("taskstats",)
    exit_source = "iotop-c 1.23 src/main.c: SIGINT ends its loop, exit 0"
    stamp_lag = reads.AFTER

    def followed(self, run):
        return run.pids[:1]

    def command(self, run) -> str:
        return f"{self.program} -b -t -P -d 1 -p {run.pids[0]}"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge_output(self, ev, seen, ts) -> None:
        judge_io(ev, seen, "iotop-c", ts.parsed, 100, 0.005, SOURCE, seen.hold.pids[:1])


WITNESS = IotopC()
