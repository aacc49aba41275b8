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


def parse(text: str) -> list[tuple[float, float | None, int, str, str]]:
    """(start, end, pid, STAT, WCHAN) per task line: ps read the task between the
    block's "T <epoch>" and its "E <epoch>" (or, without one, the next block's T;
    None after the last). Under TCG on a slow host one ps takes seconds: the stamp
    before it alone does not say when it read the task."""
    blocks: list[list] = []  # [start, end, rows]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("T", "E"):
            if parts[0] == "T":
                if blocks and blocks[-1][1] is None:
                    blocks[-1][1] = float(parts[1])
                blocks.append([float(parts[1]), None, []])
            elif blocks:
                blocks[-1][1] = float(parts[1])
        elif blocks and len(parts) >= 2 and parts[0].isdigit():
            blocks[-1][2].append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else "-"))
    return [(t, e, *row) for t, e, rows in blocks for row in rows]


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
        return f"bash -c 'while :; do echo T $EPOCHREALTIME; {sample}; echo E $EPOCHREALTIME; sleep 1; done'"

    def parse(self, result, run):
        return parse(result.stdout)

    def judge(self, ev, seen) -> None:
        start, end = seen.wall_window
        # Only samples read wholly inside the window: a task may wake just after it.
        mine = [(pid, stat, wchan) for t, e, pid, stat, wchan in seen.mine
                if e is not None and start <= t and e <= end and pid in seen.hold.pids]
        if not mine:
            # One ps took 5.5 s here once (TCG, a planted-bug run): it read the
            # tasks at an unknown instant, maybe after they woke. Nothing to judge.
            took = max((e - t for t, e, *_ in seen.mine if e is not None and t < end and e > start), default=0)
            ev.note(f"{seen.p}ps: no sample read wholly inside the window (the one across it took "
                    f"{took:.1f} s): not judged")
            return
        states = sorted({stat[0] for _, stat, _ in mine})
        ev.check(f"{seen.p}ps STAT", states == [seen.wait.state],
                 f"{seen.wait.state} for each task in every sample", f"{''.join(states)} in {len(mine)} "
                 "task samples", SOURCE)
        wchans = sorted({w for _, _, w in mine})
        shown = {w.lstrip("_") for w in seen.wait.wchans}
        ev.check(f"{seen.p}ps WCHAN", set(wchans) <= shown, f"one of {sorted(shown)}", ", ".join(wchans), SOURCE)


WITNESS = Ps()
