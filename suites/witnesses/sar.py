"""sysstat `sar -q 1` (its sadc writing a data file, read back with `sadf -j -- -q`):
`blocked` each second, which sysstat reads from /proc/stat's procs_blocked
(sysstat 12.6.1 rd_stats.c read_loadavg(); json_stats.c json_print_queue_stats())."""

from __future__ import annotations

import itertools
import json

from suites.watch import cpushare
from suites.watch.tools import ToolWitness, epoch_of_datetime

SOURCE = "sysstat 12.6.1 rd_stats.c read_loadavg(): blocked = procs_blocked of /proc/stat"
_files = itertools.count(1)


def parse(text: str) -> list[tuple[float, int]]:
    stats = json.loads(text)["sysstat"]["hosts"][0]["statistics"]
    return [(epoch_of_datetime(f"{s['timestamp']['date']} {s['timestamp']['time']}"), s["queue"]["blocked"])
            for s in stats if "queue" in s]


class Sar(ToolWitness):
    name = "sar"
    title = "sysstat sar -q (blocked)"
    order = 240
    package = "sysstat"
    programs = ("sar", "sadf")

    def command(self, run) -> str:
        run.scratch["sar-file"] = f"/tmp/iowitness-sar-{next(_files)}"
        return f"{self.program} -q -o {run.scratch['sar-file']} 1"

    def parse(self, result, run):
        out = run.guest.run(f"env TZ=UTC sadf -j {run.scratch['sar-file']} -- -q; rm -f {run.scratch['sar-file']}",
                            check=True)
        return parse(out.stdout)

    def judge(self, ev, seen) -> None:
        start, end = seen.wall_window
        rows = seen.mine
        # Each record is a reading of procs_blocked at its time: those inside the window.
        chosen = [b for t, b in rows if start <= t and t + 1 <= end]
        cpushare.blocked(ev, seen, "sar -q", chosen, SOURCE)


WITNESS = Sar()
