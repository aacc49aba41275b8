"""sysstat `mpstat -P ALL -o JSON 1`: each CPU's and all CPUs' %usr %nice %sys
%iowait %irq %soft %steal %idle each second. mpstat reads /proc/stat; a share is
the field's delta over the CPU's total delta (sysstat 12.6.1 mpstat.c
write_json_cpu_stats(), ll_sp_value(), common.c get_per_cpu_interval()),
printed with 2 decimals, "all" from the cpuN lines added up (get_global_cpu_mpstats(),
on SMP); each report's time is taken just before its read
(rw_mpstat_loop(): get_localtime(), then read_stat_cpu()). Stopped with SIGINT
it ends its JSON and exits 0 (int_handler())."""

from __future__ import annotations

import json

from suites.watch import cpushare, reads
from suites.watch.cpushare import View
from suites.watch.tools import ToolWitness, epoch_of_clock, timed

SOURCE = "sysstat 12.6.1 mpstat.c write_json_cpu_stats(): field delta / CPU total delta"
VIEW = View({"usr": ("user",), "nice": ("nice",), "sys": ("system",), "iowait": ("iowait",), "irq": ("irq",),
             "soft": ("softirq",), "steal": ("steal",), "idle": ("idle",)}, 0.005, "iowait", "idle",
            all_from_cpus=True)


def parse(text: str, near: float) -> list[tuple[float, dict[int | None, dict[str, float]]]]:
    doc = json.loads(text)
    stats = doc["sysstat"]["hosts"][0]["statistics"]
    out = []
    for s in stats:
        cpus = {}
        for c in s["cpu-load"]:
            key = None if c["cpu"] == "all" else int(c["cpu"])
            cpus[key] = {f: float(c[f]) for f in VIEW.fields}
        out.append((epoch_of_clock(s["timestamp"], near), cpus))
    return out


class Mpstat(ToolWitness):
    name = "mpstat"
    title = "sysstat mpstat -P ALL (per CPU shares)"
    order = 210
    package = "sysstat"
    programs = ("mpstat",)
    exit_source = "sysstat 12.6.1 mpstat.c int_handler(): averages (the JSON closed), exit 0"
    stamp_lag = reads.BEFORE
    # rw_mpstat_loop(): one reading before the loop, then each pass reads and prints
    first_report_reading = 1

    def command(self, run) -> str:
        return f"{self.program} -P ALL -o JSON 1"

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or run.started))

    def judge_output(self, ev, seen, ts) -> None:
        cpushare.judge(ev, seen, "mpstat", VIEW, timed(seen, ts.parsed), SOURCE)


WITNESS = Mpstat()
