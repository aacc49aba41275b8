"""sysstat `pidstat -d -H -p PIDS 1`: each task's `iodelay` per second, the delta
of its /proc/<pid>/stat field 42 (delayacct_blkio_ticks) between two reads of it
(sysstat 12.6.1 pidstat.c: pstc->blkio_swapin_delays - pstp->blkio_swapin_delays,
printed as is), with the time in seconds since the epoch (-H). Stopped with
SIGINT it prints the averages and exits 0 (int_handler()).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5): while the
tasks wait, every interval shows 0; the interval in which a task wakes shows its
whole delay (suites/watch/pertask.py). The tasks linger after waking
(suites/watch/hold.py LINGER_MS) so pidstat reads them once more."""

from __future__ import annotations

from suites.watch import pertask, reads
from suites.watch.tools import ToolWitness

SOURCE = "sysstat 12.6.1 pidstat.c: iodelay = delta of /proc/pid/stat field 42; kernel/delayacct.c (added at wake)"


def parse(text: str) -> list[tuple[float, int, int]]:
    """(epoch, pid, iodelay) per task line."""
    names, rows = None, []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0].startswith("#") or "iodelay" in parts:
            names = [p for p in parts if p != "#"]
            continue
        if names and parts[0].isdigit() and len(parts) >= len(names):
            row = dict(zip(names, parts, strict=False))
            rows.append((float(parts[0]), int(row["PID"]), int(row["iodelay"])))
    return rows


class Pidstat(ToolWitness):
    name = "pidstat"
    title = "sysstat pidstat -d (iodelay per task)"
    order = 250
    package = "sysstat"
    programs = ("pidstat",)
    follows_pids = True
    reads_what = ("pstat",)
    exit_source = "sysstat 12.6.1 pidstat.c int_handler(): averages, exit 0"
    stamp_lag = reads.BEFORE

    def command(self, run) -> str:
        return f"{self.program} -d -H -p {','.join(map(str, run.pids))} 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge_output(self, ev, seen, ts) -> None:
        lines = {pid: [(t, d) for t, q, d in ts.parsed if q == pid] for pid in seen.hold.pids}
        by_pid, readings = pertask.task_reports(seen, lines, "pstat")
        reports = pertask.flat(by_pid)
        pertask.listed(ev, seen, "pidstat", readings, reports, SOURCE)
        pertask.delays(ev, seen, "pidstat", "iodelay", reports, readings,
                       lambda st, a, b: st.change(a, b), SOURCE, unit=" ticks")


WITNESS = Pidstat()
