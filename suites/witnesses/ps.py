"""procps `ps -o pid=,stat=,wchan:64= -p PIDS`, every second across the hold:
the state letter and the wait channel of each task. ps reads /proc/<pid>/stat
field 3 and /proc/<pid>/wchan (procps 4.0.2 src/ps/output.c pr_stat(),
pr_wchan()), and shows the wait channel without its leading underscores
(library/wchan.c lookup_wchan(): `while(*ret=='_') ret++`): the kernel's own view
(docs/kernel-rules.md §6), as ps prints it."""

from __future__ import annotations

from suites.watch.tools import ToolWitness

SOURCE = ("procps 4.0.2 src/ps/output.c pr_stat(), pr_wchan(): /proc/pid/stat field 3, /proc/pid/wchan "
          "less its leading underscores (library/wchan.c lookup_wchan())")


def parse(text: str) -> list[tuple[float, int, str, str]]:
    """(epoch, pid, STAT, WCHAN) per task line; each block starts with "T <epoch>"."""
    t, rows = None, []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "T":
            t = float(parts[1])
        elif t is not None and len(parts) >= 2 and parts[0].isdigit():
            rows.append((t, int(parts[0]), parts[1], parts[2] if len(parts) > 2 else "-"))
    return rows


class Ps(ToolWitness):
    name = "ps"
    title = "procps ps -o stat,wchan"
    order = 270
    package = "procps"
    programs = ("ps",)
    follows_pids = True
    stop_signal = 9  # a shell loop: nothing to summarise

    def command(self, run) -> str:
        pids = ",".join(map(str, run.pids))
        # bash's $EPOCHREALTIME: no process to stamp each sample
        sample = f"{self.program} -o pid=,stat=,wchan:64= -p {pids}"
        return f"bash -c 'while :; do echo T $EPOCHREALTIME; {sample}; sleep 1; done'"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        start, end = seen.wall_window
        mine = [(pid, stat, wchan) for t, pid, stat, wchan in seen.mine
                if start <= t <= end and pid in seen.hold.pids]
        states = sorted({stat[0] for _, stat, _ in mine})
        ev.check(f"{seen.p}ps STAT", bool(mine) and states == [seen.wait.state],
                 f"{seen.wait.state} for each task in every sample", f"{''.join(states) or 'none'} in {len(mine)} "
                 "task samples", SOURCE)
        wchans = sorted({w for _, _, w in mine})
        shown = {w.lstrip("_") for w in seen.wait.wchans}
        ev.check(f"{seen.p}ps WCHAN", bool(wchans) and set(wchans) <= shown,
                 f"one of {sorted(shown)}", ", ".join(wchans) or "(none)", SOURCE)


WITNESS = Ps()
