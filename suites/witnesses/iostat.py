"""sysstat `iostat -c -y -t -o JSON 1`: %iowait of all CPUs together each second.
iostat reads /proc/stat's cpu line; a share is the field's delta over the sum of
all fields' deltas (sysstat 12.6.1 iostat.c write_json_cpu_stat(), ll_sp_value()),
printed with 2 decimals; -y leaves out the report since boot."""

from __future__ import annotations

import json

from suites.watch import cpushare
from suites.watch.tools import ToolWitness, epoch_of_datetime, reports_inside

SOURCE = "sysstat 12.6.1 iostat.c write_json_cpu_stat(): iowait delta / total delta of the cpu line"


def parse(text: str) -> list[tuple[float, float]]:
    """(epoch, %iowait) per report."""
    stats = json.loads(text)["sysstat"]["hosts"][0]["statistics"]
    return [(epoch_of_datetime(s["timestamp"][:19]), s["avg-cpu"]["iowait"]) for s in stats]


class Iostat(ToolWitness):
    name = "iostat"
    title = "sysstat iostat -c (%iowait)"
    order = 230
    package = "sysstat"
    programs = ("iostat",)

    def command(self, run) -> str:
        return f"{self.program} -c -y -t -o JSON 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        cpushare.system(ev, seen, "iostat", reports_inside(seen, seen.mine), 1, 0.005, SOURCE)


WITNESS = Iostat()
