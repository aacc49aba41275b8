"""procps `vmstat -n -t 1`: `us sy id wa st` (shares of all CPUs) and `b`
(procs_blocked) each second. vmstat reads /proc/stat: `b` is procs_blocked at
the read; each share is its fields' delta over the sum of the deltas, rounded
half up (procps 4.0.2 src/vmstat.c: us = user+nice, sy = system+irq+softirq,
(100*x + Div/2) / Div); each line's time is taken just after the read (-t).
Stopped with SIGINT it dies of it: vmstat installs no handler."""

from __future__ import annotations

from suites.watch import cpushare, reads
from suites.watch.cpushare import View
from suites.watch.tools import ToolWitness, epoch_of_datetime, timed

SOURCE = ("procps 4.0.2 src/vmstat.c: b = procs_blocked; us = user+nice, sy = system+irq+softirq, id, wa, st "
          "= (100*delta + Div/2)/Div over all CPUs")
VIEW = View({"us": ("user", "nice"), "sy": ("system", "irq", "softirq"), "id": ("idle",), "wa": ("iowait",),
             "st": ("steal",)}, 0.5, "wa", "id")


def parse(text: str) -> list[tuple[float, dict[str, int]]]:
    """(epoch of the line, {column: value}) per data line, the first (averages
    since boot, from its first read) included."""
    names, rows = None, []
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["r", "b"]:
            names = parts[:-1]  # the last header word names the timezone column
        elif names and parts and parts[0].isdigit() and len(parts) >= len(names) + 2:
            rows.append((epoch_of_datetime(" ".join(parts[-2:])), dict(zip(names, map(int, parts), strict=False))))
    return rows


class Vmstat(ToolWitness):
    name = "vmstat"
    title = "procps vmstat (us sy id wa st, b)"
    order = 200
    package = "procps"
    programs = ("vmstat",)
    stopped_exit = frozenset({-2})
    exit_source = "procps 4.0.2 src/vmstat.c: no SIGINT handler"
    stamp_lag = reads.AFTER
    # procps 4.0.2 src/vmstat.c new_format(): the first line (since boot) from the first reading
    first_report_reading = 0

    def command(self, run) -> str:
        return f"{self.program} -n -t 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge_output(self, ev, seen, ts) -> None:
        reports = timed(seen, ts.parsed)
        shares = [r.__class__(r.start, r.end, {None: {k: r.says[k] for k in VIEW.fields}}) for r in reports]
        cpushare.judge(ev, seen, "vmstat", VIEW, shares, SOURCE)
        cpushare.blocked(ev, seen, "vmstat b", [(r.end, r.says["b"]) for r in reports], SOURCE)


WITNESS = Vmstat()
