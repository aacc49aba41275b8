"""atop's parseable output, `atop -Z -P PRG,PRC 1` (-Z: names without spaces, so
every field is one word): per process its state letter and its threads in
uninterruptible sleep (PRG: state, nthrslpu), and its block I/O delay (PRC:
blkdelay, the delta of /proc/<pid>/stat field 42 since its previous sample; a
process's first sample counts from its birth: deviattask() against nothing),
each sample stamped in epoch seconds (atop 2.8.1 parseable.c print_PRG(),
print_PRC()). The system's D count is the sum of nthrslpu over all processes.
Stopped with SIGINT it dies of it (no handler in atop 2.8.1 for it).

atop's documentation calls nthrslpu the threads in uninterruptible sleep (D);
2.8.1 counts the idle kernel threads (state I, TASK_IDLE) there too
(photoproc.c: `case 'I': case 'D': nthrslpu += 1`, from commit bb38fd8), which a
later release split into a counter of their own (573cba4, atop#256). Both are
judged: the count as its code computes it (D and I threads), and as documented,
a documented disagreement (ATOP_IDLE_AS_D).

atop is unpacked from Debian's package, not installed (./bootstrap): the package
starts daemons on the host."""

from __future__ import annotations

from dataclasses import replace

from suites.watch import bracket, pertask, reads
from suites.watch.bracket import Bounds
from suites.watch.tools import ToolWitness, unpacked

PROGRAM = "usr/bin/atop"
SOURCE = ("atop 2.8.1 parseable.c print_PRG() state, nthrslpu; print_PRC() blkdelay "
          "(/proc/pid/stat field 3 and 42)")
ATOP_IDLE_AS_D = ("atop 2.8.1 counts idle kernel threads (state I, TASK_IDLE) in nthrslpu, which its documentation "
                  "calls threads in uninterruptible sleep (photoproc.c, commit bb38fd8); split into a counter of their "
                  "own by 573cba4 (atop#256)")
# Every thread's state in the guest: the field after the last ')' of each
# /proc/<pid>/task/<tid>/stat, with its pid.
STATES = ("for f in /proc/[0-9]*/task/[0-9]*/stat; do read -r l < $f 2>/dev/null && echo \"${f#/proc/} ${l##*) }\"; "
          "done | awk '$2 == \"D\" || $2 == \"I\" { sub(/\\/.*/, \"\", $1); print $1, $2 }'")


def parse(text: str) -> list[tuple[str, float, int, dict]]:
    """(label, epoch, pid, fields) per PRG or PRC line (-Z: one word each):
    PRG host epoch date time interval pid name state ruid rgid tgid nthr exitcode
    btime cmdline ppid nthrrun nthrslpi nthrslpu ...; PRC ... name state hertz
    utime stime nice prio rtprio policy curcpu sleepavg tgid isproc rundelay wchan
    blkdelay ..."""
    rows, sample = [], 0
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["SEP"]:  # the end of a sample (two may share a second)
            sample += 1
        elif f[:1] == ["PRG"] and len(f) >= 20:
            rows.append(("PRG", float(f[2]), int(f[6]), {"name": f[7], "state": f[8], "nthr": int(f[12]),
                                                          "nthrslpu": int(f[19]), "sample": sample}))
        elif f[:1] == ["PRC"] and len(f) >= 23:
            rows.append(("PRC", float(f[2]), int(f[6]), {"name": f[7], "state": f[8], "blkdelay": int(f[22]),
                                                          "sample": sample}))
    return rows


def from_a_traced_read(f: dict) -> bool:
    """Whether a line of a hold's task came from a read the tracer kept: not its last
    line, state E, which comes from its exit (process accounting), and not one from
    before its exec (its comm still taskset's: reads.TRACED_COMM)."""
    return f["state"] != "E" and f["name"].startswith(reads.TRACED_COMM)


class Atop(ToolWitness):
    name = "atop"
    title = "atop -P PRG,PRC (state, D count, blkdelay)"
    order = 280
    package = "atop"
    reads_what = ("pstat",)
    stopped_exit = frozenset({-2})
    exit_source = "atop 2.8.1: no SIGINT handler"
    stamp_lag = reads.BEFORE_SCAN

    @property
    def programs(self) -> tuple[str, ...]:  # type: ignore[override]  # where the package was unpacked
        return (unpacked(self.package, PROGRAM),)

    def command(self, run) -> str:
        return f"{self.program} -Z -P PRG,PRC 1"

    def parse(self, result, run):
        return parse(result.stdout)

    def _scan(self, run) -> None:
        """Threads in D other than the hold's, and threads in I, as the window opens and closes."""
        pairs = [ln.split() for ln in run.guest.run(STATES, timeout=60).stdout.splitlines()]
        run.state(f"{self.name}-others", list).append(
            (sum(1 for pid, st in pairs if st == "D" and int(pid) not in run.pids),
             sum(1 for _, st in pairs if st == "I")))

    def at_window_open(self, run) -> None:
        self._scan(run)

    def at_window_close(self, run) -> None:
        self._scan(run)

    def extra(self, run):
        return run.state_of(f"{self.name}-others", list) or []

    def reparse(self, result, run, extra):
        return parse(result.stdout), extra

    def judge_output(self, ev, seen, ts) -> None:
        rows, others = ts.parsed
        p, pids, samples = seen.prefix, set(seen.hold.pids), seen.window.samples
        prg = {pid: [(t, f) for lab, t, q, f in rows if lab == "PRG" and q == pid and from_a_traced_read(f)]
               for pid in pids}
        placed, readings = pertask.sampled_reports(
            seen, {pid: [(f["sample"], t, 0.0) for t, f in v] for pid, v in prg.items()}, "pstat")
        pertask.listed(ev, seen, "atop", readings, pertask.flat(placed), SOURCE)
        # Its PRG lines of the tasks read inside the window, by the sample they belong to.
        inside: dict[int, list] = {}
        for pid in pids:
            for (_, f), r in zip(prg[pid], placed[pid], strict=True):
                if r is not None and bracket.inside(samples, r.end):
                    inside.setdefault(f["sample"], []).append((pid, f))
        states = sorted({f["state"] for v in inside.values() for _, f in v})
        ev.check(f"{p}atop state", states == [seen.wait.state], f"{seen.wait.state} for each task in each sample "
                 "read inside the window", "".join(states) or "(no sample inside the window)", SOURCE)
        want = 1 if seen.wait.state == "D" else 0
        per_task = [f["nthrslpu"] for v in inside.values() for _, f in v]
        # A task in I is counted there by its code: as documented, a disagreement.
        ev.check(f"{p}atop threads in D per task", bool(per_task) and all(x == want for x in per_task),
                 f"{want} for each task (one thread, {'in' if want else 'not in'} D)",
                 ", ".join(map(str, per_task)) or "(no sample inside the window)", SOURCE,
                 known=ATOP_IDLE_AS_D if seen.wait.state == "I" else "")
        mine = seen.n if seen.wait.state == "D" else 0
        d_others = max((d for d, _ in others), default=0)
        samples_in = sorted(inside)
        lines = {k: [f for lab, _, _, f in rows if lab == "PRG" and f["sample"] == k] for k in samples_in}
        counts = [sum(f["nthrslpu"] for f in lines[k]) for k in samples_in]
        shown = ", ".join(map(str, counts)) or "(no sample inside the window)"
        # As its code counts it: each thread in D or I (photoproc.c), so one per
        # single-threaded process it shows in D or I (its state and count come from
        # one read of its stat), at most every thread of those and of its
        # many-threaded processes (their threads' stat read apart from the process's).
        code = [Bounds(sum(1 for f in lines[k] if f["state"] in "DI" and f["nthr"] == 1),
                       sum(f["nthr"] for f in lines[k] if f["state"] in "DI" or f["nthr"] > 1)) for k in samples_in]
        ok = bool(counts) and all(b.holds(c) for b, c in zip(code, counts, strict=True))
        ev.check(f"{p}atop D count as its code counts", ok,
                 "in each sample inside the window, the threads of the processes it shows in D or I (photoproc.c "
                 "counts both): " + ", ".join(f"{b.lo:g}..{b.hi:g}" for b in code), shown, SOURCE)
        scans = "; ".join(f"{d} other threads in D, {i} in I" for d, i in others)
        ev.note(f"{seen.label or 'hold'}: the kernel's threads in D and I as the window opened and closed: {scans}")
        doc = Bounds(mine, mine + d_others)
        ev.check(f"{p}atop D count as documented", bool(counts) and all(doc.holds(c) for c in counts),
                 f"{doc.lo:g}..{doc.hi:g}: the threads in D", shown, SOURCE, known=ATOP_IDLE_AS_D)
        prc: dict[int, list[tuple[int, float, float | None]]] = {
            pid: [(f["sample"], t, float(f["blkdelay"])) for lab, t, q, f in rows
                  if lab == "PRC" and q == pid and from_a_traced_read(f)]
            for pid in pids}
        delays, readings = pertask.sampled_reports(seen, prc, "pstat")
        # A task atop sampled before its exec: its first kept line is a delta since
        # that untraced sample, not since its birth (deviattask()).
        for pid in pids:
            first = delays.get(pid) or [None]
            if first[0] is not None and first[0].start is None and any(
                    lab == "PRC" and q == pid and f["state"] != "E" and not from_a_traced_read(f)
                    for lab, _, q, f in rows):
                delays[pid][0] = replace(first[0], after_untraced=True)
        pertask.delays(ev, seen, "atop", "blkdelay", pertask.flat(delays), readings,
                       lambda st, a, b: st.change(a, b), SOURCE, unit=" ticks")


WITNESS = Atop()
