"""sysstat `sar -q 1`: each second its `blocked` (procs_blocked of /proc/stat)
and ldavg-1/5/15 (/proc/loadavg), as read by the sadc it starts (sysstat 12.6.1
rd_stats.c read_loadavg(); pr_stats.c print_queue_stats()). Its own printed
lines are judged, the record time to the second (S_TIME_FORMAT=ISO). Stopped
with SIGINT it prints the averages and exits 0 (sar.c int_handler())."""

from __future__ import annotations

from suites.watch import cpushare, loadavg, reads
from suites.watch.tools import ToolWitness, epoch_of_clock, timed

SOURCE = "sysstat 12.6.1 rd_stats.c read_loadavg(): blocked = procs_blocked of /proc/stat; ldavg from /proc/loadavg"


def parse(text: str, near: float) -> list[tuple[float, dict]]:
    """(epoch, {column: value}) per report line."""
    names, rows = None, []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1] == "runq-sz":
            names = parts[1:]
        elif names and len(parts) == len(names) + 1 and parts[0][:2].isdigit() and ":" in parts[0]:
            rows.append((epoch_of_clock(parts[0], near), dict(zip(names, map(float, parts[1:]), strict=True))))
    return rows


class Sar(ToolWitness):
    name = "sar"
    title = "sysstat sar -q (blocked, ldavg)"
    order = 240
    package = "sysstat"
    programs = ("sar",)
    reads_what = ("stat", "loadavg")
    exit_source = "sysstat 12.6.1 sar.c int_handler(): averages, exit 0"
    stamp_lag = reads.BEFORE

    def command(self, run) -> str:
        return f"{self.program} -q 1"

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or run.started))

    def judge_output(self, ev, seen, ts) -> None:
        rows = ts.parsed
        blocked = timed(seen, [(t, int(r["blocked"])) for t, r in rows])
        cpushare.blocked(ev, seen, "sar -q blocked", [(r.end, r.says) for r in blocked], SOURCE)
        loads = timed(seen, [(t, (r["ldavg-1"], r["ldavg-5"], r["ldavg-15"])) for t, r in rows], what="loadavg")
        loadavg.judge_tool(ev, seen, "sar -q ldavg", [(r.end, r.says) for r in loads], SOURCE)


WITNESS = Sar()
