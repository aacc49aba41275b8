"""sysstat `pidstat -d -H -p PIDS 1`: each task's `iodelay` per second, the delta of
its /proc/<pid>/stat field 42 (delayacct_blkio_ticks) over the interval
(sysstat 12.6.1 pidstat.c: pstc->blkio_swapin_delays - pstp->blkio_swapin_delays),
with the time in seconds since the epoch (-H).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5): while the
tasks wait, every interval shows 0; the interval in which a task wakes shows its
whole delay. The tasks linger after waking (suites/watch/hold.py LINGER_MS) so
pidstat reads them once more."""

from __future__ import annotations

from suites.watch.delays import judge_delay
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

    def command(self, run) -> str:
        return f"{self.program} -d -H -p {','.join(map(str, run.pids))} 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        rows, p = seen.mine, seen.p
        _, end = seen.wall_window
        # Intervals that ended before the window closed: every task still waited then.
        first = {pid: min((t for t, q, _ in rows if q == pid), default=None) for pid in seen.hold.pids}
        during = [d for t, pid, d in rows if pid in seen.hold.pids and t > first[pid] and t + 1 <= end]
        if during:
            ev.check(f"{p}pidstat iodelay while they wait", all(d == 0 for d in during),
                     "0 in each interval that ended inside the window (the delay is added when the sleep ends)",
                     ", ".join(map(str, during)), SOURCE, blind=seen.hold.delayed)
        else:
            ev.note(f"{p}pidstat: no interval ended while the tasks waited (it started late)")
        totals = {pid: sum(d for _, q, d in rows if q == pid) for pid in seen.hold.pids}
        # a task pidstat first sees is compared with nothing: that line is its delay since birth
        earlier = {pid: seen.hold.window.before.tasks[pid].blkio_ticks for pid in seen.hold.pids}
        judge_delay(ev, seen, f"{p}pidstat iodelay in all", totals, SOURCE, at=", in the interval of the wake",
                    before=earlier)


WITNESS = Pidstat()
