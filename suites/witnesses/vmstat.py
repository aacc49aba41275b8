"""procps `vmstat -n -t 1`: `wa` (iowait share of all CPUs) and `b` (procs_blocked)
each second. vmstat reads /proc/stat: `b` is procs_blocked at the read, `wa` is
100 * the iowait delta over the sum of the deltas, rounded (procps 4.0.2
src/vmstat.c: (100*cpu_iow + Div/2) / Div); each line's time is taken after the
interval it covers (-t)."""

from __future__ import annotations

from suites.watch import cpushare
from suites.watch.tools import ToolWitness, epoch_of_datetime, reports_inside

SOURCE = "procps 4.0.2 src/vmstat.c: b = procs_blocked; wa = (100*diowait + Div/2)/Div over all CPUs"


def parse(text: str) -> list[tuple[float, dict[str, int]]]:
    """(epoch of the line, {column: value}) per data line; the first (averages
    since boot) is left out."""
    names, rows = None, []
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["r", "b"]:
            names = parts[:-1]  # the last header word names the timezone column
        elif names and parts and parts[0].isdigit() and len(parts) >= len(names) + 2:
            rows.append((epoch_of_datetime(" ".join(parts[-2:])), dict(zip(names, map(int, parts), strict=False))))
    return rows[1:]


class Vmstat(ToolWitness):
    name = "vmstat"
    title = "procps vmstat (wa, b)"
    order = 200
    package = "procps"
    programs = ("vmstat",)

    def command(self, run) -> str:
        return f"{self.program} -n -t 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        chosen = reports_inside(seen, seen.mine)
        cpushare.system(ev, seen, "vmstat wa", [r["wa"] for r in chosen], 1, 0.5, SOURCE)
        cpushare.blocked(ev, seen, "vmstat b", [r["b"] for r in chosen], SOURCE)


WITNESS = Vmstat()
