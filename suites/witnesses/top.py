"""procps `top -b -1 -d 1`: each CPU's %wa (and us, sy, ni, id, hi, si, st) per
frame. top reads /proc/stat; a share is the field's tics over the CPU's total
tics in the frame (procps 4.0.2 src/top/top.c sum_tics()), printed with one
decimal. A CPU's iowait counts only while it is idle: that is the kernel's rule
(docs/kernel-rules.md §4), which top shows as it is."""

from __future__ import annotations

import re

from suites.watch import cpushare
from suites.watch.cpushare import Shares
from suites.watch.tools import ToolWitness, epoch_of_clock, reports_inside

SOURCE = "procps 4.0.2 src/top/top.c sum_tics(): field tics / total tics per CPU"
_HEAD = re.compile(r"^top - (\d\d:\d\d:\d\d) ")
# top puts two or more CPUs on a line when the width allows: each from its "%CpuN :"
_CPU = re.compile(r"%Cpu(\d+)\s*:(.*?)(?=%Cpu|$)")
_FIELD = re.compile(r"([\d.]+)\s*(us|sy|ni|id|wa|hi|si|st)")


def parse(text: str, near: float) -> list[tuple[float, dict[int | None, Shares]]]:
    """Per frame (the first, since boot, left out): its time and each CPU's shares."""
    frames: list[tuple[float, dict]] = []
    for line in text.splitlines():
        head = _HEAD.match(line)
        if head:
            frames.append((epoch_of_clock(head.group(1), near), {}))
            continue
        for m in _CPU.finditer(line) if frames else ():
            f = {k: float(v) for v, k in _FIELD.findall(m.group(2))}
            busy = f["us"] + f["sy"] + f["ni"] + f["hi"] + f["si"] + f.get("st", 0.0)
            frames[-1][1][int(m.group(1))] = Shares(f["wa"], f["id"], round(busy, 1))
    return frames[1:]


class Top(ToolWitness):
    name = "top"
    title = "procps top -1 (%wa per CPU)"
    order = 220
    package = "procps"
    programs = ("top",)

    def command(self, run) -> str:
        return f"{self.program} -b -1 -d 1 -w 512 -p 1"  # the task list is not what is judged: init only

    def parse(self, result, run):
        return parse(result.stdout, run.wall(run.window_open or 0))

    def judge(self, ev, seen) -> None:
        cpushare.per_cpu(ev, seen, "top", reports_inside(seen, seen.mine), 1, 0.05, SOURCE)


WITNESS = Top()
