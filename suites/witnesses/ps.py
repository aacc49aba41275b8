"""procps `ps -o pid=,stat=,wchan:64= -p PIDS`, every second across the hold:
the state letter and the wait channel of each task. ps reads /proc/<pid>/stat
field 3 and /proc/<pid>/wchan (procps 4.0.2 src/ps/output.c pr_stat(),
pr_wchan()), and shows the wait channel without its leading underscores
(library/wchan.c lookup_wchan(): `while(*ret=='_') ret++`): the kernel's own view
(docs/kernel-rules.md §6), as ps prints it. Each run of ps is stamped before and
after with the shell's $EPOCHREALTIME and its exit status; a sample is judged
when both stamps lie inside the window. The loop is stopped with SIGKILL."""

from __future__ import annotations

import signal

from suites.watch.tools import ToolWitness, no_report

SOURCE = ("procps 4.0.2 src/ps/output.c pr_stat(), pr_wchan(): /proc/pid/stat field 3, /proc/pid/wchan "
          "less its leading underscores (library/wchan.c lookup_wchan())")


def parse(text: str) -> list[tuple[float, float | None, int | None, dict[int, tuple[str, str]]]]:
    """Per sample: (its "T" stamp, its "E" stamp or None, ps's exit status or None,
    {pid: (STAT, WCHAN)}); without an "E" line (a capture from before it was
    printed) a sample ends at the next one's T. Under TCG on a slow host one ps
    takes seconds: the stamp before it alone does not say when it read the task."""
    samples: list[list] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("T", "E"):
            if parts[0] == "T":
                if samples and samples[-1][1] is None:
                    samples[-1][1] = float(parts[1])
                samples.append([float(parts[1]), None, None, {}])
            elif samples:
                samples[-1][1] = float(parts[1])
                samples[-1][2] = int(parts[2]) if len(parts) > 2 else None
        elif samples and len(parts) >= 2 and parts[0].isdigit():
            samples[-1][3][int(parts[0])] = (parts[1], parts[2] if len(parts) > 2 else "-")
    return [tuple(s) for s in samples]


class Ps(ToolWitness):
    name = "ps"
    title = "procps ps -o stat,wchan"
    order = 270
    package = "procps"
    programs = ("ps",)
    follows_pids = True
    reads_what = ()  # each run stamped by its loop
    stop_signal = signal.SIGKILL  # a shell loop: nothing to summarise
    stopped_exit = frozenset({-signal.SIGKILL})
    exit_source = "the loop that runs it, killed; each ps's own exit status is in its sample"

    def command(self, run) -> str:
        pids = ",".join(map(str, run.pids))
        # bash's $EPOCHREALTIME: no process to stamp each sample
        sample = f"{self.program} -o pid=,stat=,wchan:64= -p {pids}"
        return f"bash -c 'while :; do echo T $EPOCHREALTIME; {sample}; echo E $EPOCHREALTIME $?; sleep 1; done'"

    def watching(self, run) -> str | None:
        why = super().watching(run)
        if why is None and "\nE " not in "\n" + self._tool(run).output().stdout:
            return "no sample yet"
        return why

    def parse(self, result, run):
        return parse(result.stdout)

    def judge_output(self, ev, seen, ts) -> None:
        start, end = seen.wall_window
        pids, p = seen.hold.pids, seen.prefix
        mine = [s for s in ts.parsed if s[1] is not None and start <= s[0] and s[1] <= end]
        if not mine:
            no_report(ev, seen, "ps", SOURCE, len(ts.parsed))
            return
        failed = [rc for *_, rc, _ in mine if rc != 0]
        ev.check(f"{p}ps exits 0 each time", not failed, "0 for each run inside the window",
                 ", ".join(map(str, failed)) or f"0 in all {len(mine)}", SOURCE)
        missing = sorted({pid for *_, rows in mine for pid in pids if pid not in rows})
        ev.check(f"{p}ps lists every task", not missing, f"each of {list(pids)} in each of its {len(mine)} samples "
                 "inside the window", f"missing: {missing}" if missing else "all listed", SOURCE)
        states = sorted({stat[0] for *_, rows in mine for pid, (stat, _) in rows.items() if pid in pids})
        ev.check(f"{p}ps STAT", states == [seen.wait.state],
                 f"{seen.wait.state} for each task in every sample", f"{''.join(states)} in {len(mine)} samples",
                 SOURCE)
        wchans = sorted({w for *_, rows in mine for pid, (_, w) in rows.items() if pid in pids})
        shown = {w.lstrip("_") for w in seen.wait.wchans}
        ev.check(f"{p}ps WCHAN", bool(wchans) and set(wchans) <= shown, f"one of {sorted(shown)}",
                 ", ".join(wchans), SOURCE)


WITNESS = Ps()
