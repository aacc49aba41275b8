"""atop's parseable output, `atop -P PRG,PRC 1`: per process its state letter and
its threads in uninterruptible sleep (PRG: state, nthrslpu), and its block I/O
delay per interval (PRC: blkdelay, the delta of /proc/<pid>/stat field 42), each
sample stamped in epoch seconds (atop 2.8.1 parseable.c print_PRG(), print_PRC()).
The system's D count is the sum of nthrslpu over all processes.

atop is unpacked from Debian's package, not installed (./bootstrap): the package
starts daemons on the host."""

from __future__ import annotations

from suites.watch.delays import judge_delay
from suites.watch.tools import ToolWitness, unpacked

PROGRAM = "usr/bin/atop"
SOURCE = ("atop 2.8.1 parseable.c print_PRG() state, nthrslpu; print_PRC() blkdelay "
          "(/proc/pid/stat field 3 and 42)")


def parse(text: str) -> list[tuple[str, float, int, dict]]:
    """(label, epoch, pid, fields) per PRG or PRC line."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or f[0] not in ("PRG", "PRC"):
            continue
        epoch, pid = float(f[2]), int(f[6])
        state = line.split(") ", 1)[1].split()[0]  # after "(name) "
        if f[0] == "PRG":
            # counted from the end: the command line before them may hold spaces
            rows.append(("PRG", epoch, pid, {"state": state, "nthrslpu": int(f[-14])}))
        else:
            rows.append(("PRC", epoch, pid, {"state": state, "blkdelay": int(f[-3])}))
    return rows


class Atop(ToolWitness):
    name = "atop"
    title = "atop -P PRG,PRC (state, D count, blkdelay)"
    order = 280
    package = "atop"

    @property
    def programs(self) -> tuple[str, ...]:
        return (unpacked(self.package, PROGRAM),)

    def command(self, run) -> str:
        return f"{self.program} -P PRG,PRC 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        start, end = seen.wall_window
        pids, p = set(seen.hold.pids), seen.p
        rows = seen.mine
        # a sample's epoch is when it was taken; those inside the window, after the first
        stamps = sorted({t for _, t, _, _ in rows})
        inside = [t for i, t in enumerate(stamps) if i > 0 and start <= t - 1 and t + 1 <= end]
        states = sorted({f["state"] for lab, t, pid, f in rows if lab == "PRG" and pid in pids and t in inside})
        ev.check(f"{p}atop state", states == [seen.wait.state], f"{seen.wait.state} for each task",
                 "".join(states) or "(no sample inside the window)", SOURCE)
        d_count = [sum(f["nthrslpu"] for lab, tt, _, f in rows if lab == "PRG" and tt == t) for t in inside]
        if seen.wait.state == "D":
            ok = bool(d_count) and min(d_count) >= seen.n
            want = f">= {seen.n} in each sample (the tasks in D)"
        else:
            mine = [f["nthrslpu"] for lab, t, pid, f in rows if lab == "PRG" and pid in pids and t in inside]
            ok, want = bool(mine) and not any(mine), "none of them among the threads in D (they sleep in S)"
        ev.check(f"{p}atop D count", ok, want, ", ".join(map(str, d_count)) or "(no sample inside the window)",
                 SOURCE)
        delay = {pid: sum(f["blkdelay"] for lab, _, q, f in rows if lab == "PRC" and q == pid) for pid in pids}
        # atop's first line for a task is its delay since birth (deviattask() against nothing)
        earlier = {pid: seen.hold.window.before.tasks[pid].blkio_ticks for pid in pids}
        judge_delay(ev, seen, f"{p}atop blkdelay", delay, SOURCE, at=", in the interval of the wake", before=earlier)


WITNESS = Atop()
