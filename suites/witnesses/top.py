"""procps `top -b -1 -d 1`: each CPU's us sy ni id wa hi si st per frame, and
the load average. top reads /proc/stat; a share is the field's tics over the
CPU's total tics in the frame (procps 4.0.2 src/top/top.c sum_tics(),
library/stat.c stat_derive_unique(): the total is every field), printed with one
decimal; the header's load average is /proc/loadavg's as read (two decimals).
Stopped with SIGINT it exits 0 (sig_endpgm())."""

from __future__ import annotations

import re

from suites.watch import cpushare, loadavg
from suites.watch.cpushare import View
from suites.watch.tools import ToolWitness, epoch_of_clock, timed

SOURCE = "procps 4.0.2 src/top/top.c sum_tics(): field tics / total tics per CPU"
VIEW = View({"us": ("user",), "sy": ("system",), "ni": ("nice",), "id": ("idle",), "wa": ("iowait",),
             "hi": ("irq",), "si": ("softirq",), "st": ("steal",)}, 0.05, "wa", "id")
_HEAD = re.compile(r"^top - (\d\d:\d\d:\d\d) .*load average: ([\d.]+), ([\d.]+), ([\d.]+)")
# top puts two or more CPUs on a line when the width allows: each from its "%CpuN :"
_CPU = re.compile(r"%Cpu(\d+)\s*:(.*?)(?=%Cpu|$)")
_FIELD = re.compile(r"([\d.]+)\s*(us|sy|ni|id|wa|hi|si|st)")


def parse(text: str, near: float) -> list[tuple[float, dict]]:
    """Per frame (the first included: it comes from top's first read): its time,
    its load averages and each CPU's shares."""
    frames: list[tuple[float, dict]] = []
    for line in text.splitlines():
        head = _HEAD.match(line)
        if head:
            frames.append((epoch_of_clock(head.group(1), near),
                           {"load": tuple(float(x) for x in head.groups()[1:]), "cpus": {}}))
            continue
        for m in _CPU.finditer(line) if frames else ():
            f = {k: float(v) for v, k in _FIELD.findall(m.group(2))}
            frames[-1][1]["cpus"][int(m.group(1))] = {k: f.get(k, 0.0) for k in VIEW.fields}
    return frames


class Top(ToolWitness):
    name = "top"
    title = "procps top -1 (per CPU shares, load average)"
    order = 220
    package = "procps"
    programs = ("top",)
    reads_what = ("stat", "loadavg")
    exit_source = "procps 4.0.2 src/top/top.c sig_endpgm() -> bye_bye(): exit 0"
    # main(): frame_make() on each pass, the first at once (its start-up reads
    # are one reading: reads.ROUND_GAP_S)
    first_report_reading = 0

    def command(self, run) -> str:
        return f"{self.program} -b -1 -d 1 -w 512 -p 1"  # the task list is not what is judged: init only

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or run.started))

    def judge_output(self, ev, seen, ts) -> None:
        frames = ts.parsed
        cpushare.judge(ev, seen, "top", VIEW, timed(seen, [(t, f["cpus"]) for t, f in frames]), SOURCE)
        loads = timed(seen, [(t, f["load"]) for t, f in frames], what="loadavg")
        loadavg.judge_tool(ev, seen, "top load average", [(r.end, r.says) for r in loads],
                           "procps 4.0.2 src/top/top.c: the header's load average as /proc/loadavg has it")


WITNESS = Top()
