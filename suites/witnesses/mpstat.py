"""sysstat `mpstat -P ALL -o JSON 1`: each CPU's %iowait, %idle and the rest each
second. mpstat reads /proc/stat; a share is the field's delta over the CPU's
total delta (sysstat 12.6.1 mpstat.c write_json_cpu_stats(), ll_sp_value()),
printed with 2 decimals; a CPU whose counters did not move at all is printed as
100 % idle."""

from __future__ import annotations

import json

from suites.watch import cpushare
from suites.watch.cpushare import Shares
from suites.watch.tools import ToolWitness, epoch_of_clock, reports_inside

SOURCE = "sysstat 12.6.1 mpstat.c write_json_cpu_stats(): field delta / CPU total delta"
BUSY = ("usr", "nice", "sys", "irq", "soft", "steal")


def parse(text: str, near: float) -> list[tuple[float, dict[int | None, Shares]]]:
    doc = json.loads(text)
    stats = doc["sysstat"]["hosts"][0]["statistics"]
    out = []
    for s in stats:
        cpus = {}
        for c in s["cpu-load"]:
            key = None if c["cpu"] == "all" else int(c["cpu"])
            cpus[key] = Shares(c["iowait"], c["idle"], round(sum(c[f] for f in BUSY), 2))
        out.append((epoch_of_clock(s["timestamp"], near), cpus))
    return out


class Mpstat(ToolWitness):
    name = "mpstat"
    title = "sysstat mpstat -P ALL (%iowait per CPU)"
    order = 210
    package = "sysstat"
    programs = ("mpstat",)

    def command(self, run) -> str:
        return f"{self.program} -P ALL -o JSON 1"

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or 0))

    def judge(self, ev, seen) -> None:
        cpushare.per_cpu(ev, seen, "mpstat", reports_inside(seen, seen.mine), 1, 0.005, SOURCE)


WITNESS = Mpstat()
