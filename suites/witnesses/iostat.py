"""sysstat `iostat -c -y -t -o JSON 1`: %user %nice %system %iowait %steal %idle
of all CPUs together each second. iostat reads /proc/stat's cpu line; a share is
the field's delta over the sum of all fields' deltas, %system with irq and
softirq (sysstat 12.6.1 iostat.c write_json_cpu_stat(), ll_sp_value()), printed
with 2 decimals; -y leaves out the report since boot. Stopped with SIGINT it
exits 0 (int_handler())."""

from __future__ import annotations

import json

from suites.watch import cpushare, reads
from suites.watch.cpushare import View
from suites.watch.tools import ToolWitness, epoch_of_datetime, timed

SOURCE = "sysstat 12.6.1 iostat.c write_json_cpu_stat(): field delta / total delta of the cpu line"
VIEW = View({"user": ("user",), "nice": ("nice",), "system": ("system", "irq", "softirq"), "iowait": ("iowait",),
             "steal": ("steal",), "idle": ("idle",)}, 0.005, "iowait", "idle")


def parse(text: str) -> list[tuple[float, dict[str, float]]]:
    """(epoch, {field: share}) per report."""
    stats = json.loads(text)["sysstat"]["hosts"][0]["statistics"]
    return [(epoch_of_datetime(s["timestamp"][:19]), {f: float(s["avg-cpu"][f]) for f in VIEW.fields})
            for s in stats]


class Iostat(ToolWitness):
    name = "iostat"
    title = "sysstat iostat -c (all CPUs' shares)"
    order = 230
    package = "sysstat"
    programs = ("iostat",)
    exit_source = "sysstat 12.6.1 iostat.c int_handler(): exit 0"
    stamp_lag = reads.AFTER
    # -y: the first reading is taken and not printed (rw_io_stat_loop(): skip = 1)
    first_report_reading = 1

    def command(self, run) -> str:
        return f"{self.program} -c -y -t -o JSON 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge_output(self, ev, seen, ts) -> None:
        reports = timed(seen, [(t, {None: says}) for t, says in ts.parsed])
        cpushare.judge(ev, seen, "iostat", VIEW, reports, SOURCE)


WITNESS = Iostat()
