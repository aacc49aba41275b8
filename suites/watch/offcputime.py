"""What the offcputime tools show of a hold: per task, its time off CPU in
sleeps recorded under the uninterruptible-state filter (`--state 2`), only sleeps
of at least 1 s (`-m 1000000`: the waits are several seconds; short sleeps of the
same tasks, e.g. page-ins, are left out).

A tool that counts a wait's state records each task's whole sleep: at least the
window (it switched out before the window opened and in after it closed, both
while the tool ran) and at most the time from the task's READY stamp, just
before it blocked, to its WOKE stamp, just after (both CLOCK_MONOTONIC, as the
tool's own clock); a tool that does not, records nothing of it. Which states
count is what both tools document, `--state` a bitmask (bcc tools/offcputime.py
STATE_FILTER; libbpf-tools offcputime.c: "filter on this thread state bitmask"),
applied to the wait's task_struct.__state (docs/kernel-rules.md §6). Where a
tool's code does otherwise (libbpf-tools' allow_record() tests equality), the
row names the contradiction as a known disagreement (KNOWN).

Both tools print only when they are stopped, and both take long to start under
TCG (bcc compiles its BPF C, ~30-60 s; libbpf-tools loads the kernel's BTF,
~7 s): one process per guest traces every hold, and the holds are judged when it
is stopped, by the tools suite (suites/tools/), whose testcase per wait carries
the rows; the scenario's own table says so in a note.
"""

from __future__ import annotations

import re
import signal

from core import budget
from suites.watch.cpus import tool_cpus
from suites.watch.evidence import Evidence
from suites.watch.per_guest import PerGuest
from suites.watch.witness import Seen, Witness
from vm.channel import Background

TASK_UNINTERRUPTIBLE = 2
# Where a tool's code contradicts its own documentation: the wait's __state it
# should record by its --help and does not, and the reference.
KNOWN_EQUALITY = ("libbpf-tools 0.26 offcputime: --help says \"filter on this thread state bitmask\", "
                  "offcputime.bpf.c allow_record() tests get_task_state(t) != state (an equality); bcc#3871 "
                  "discusses what --state 2 matches")
_OWNER = re.compile(r"^\s+-\s+(.*) \((\d+)\)$")


def parse(text: str) -> dict[int, int]:
    """Microseconds off CPU per pid, summed over its stacks (the default output:
    stack lines, then "-  comm (pid)", then the total)."""
    totals: dict[int, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _OWNER.match(line)
        if m and i + 1 < len(lines) and lines[i + 1].strip().isdigit():
            pid = int(m[2])
            totals[pid] = totals.get(pid, 0) + int(lines[i + 1].strip())
    return totals


def counts(rule: str, task_state: int, state: int = TASK_UNINTERRUPTIBLE) -> bool:
    """Whether a switch-out in `task_state` passes the tool's `--state` filter."""
    return bool(task_state & state) if rule == "bitmask" else task_state == state


class OffcputimeWitness(Witness):
    kind = "tool"
    deferred = True  # judged when stopped: settle()
    rule = "bitmask"  # or "equality": how the tool's --state filter tests prev->__state
    source = ""
    ready_timeout = 600.0

    def __init__(self):
        self._procs: PerGuest[Background] = PerGuest()  # the tool tracing each guest
        self._pending: PerGuest[list[Seen]] = PerGuest(lambda guest: [])  # the holds it traced, to judge

    def command(self) -> str:
        return f"{self.program} --state {TASK_UNINTERRUPTIBLE} -m 1000000"

    def wait_ready(self, guest, proc) -> None:
        raise NotImplementedError

    def setup(self, guest) -> None:
        proc = self._procs.get(guest)
        if proc is not None and guest.running(proc):
            return
        # Off the tasks' CPU (suites/watch/cpus.py).
        proc = guest.spawn(f"exec taskset -c {tool_cpus(guest)} {self.command()}", keep=True)
        self._procs.set(guest, proc)
        with budget.spend(budget.TRACER):
            self.wait_ready(guest, proc)

    def judge(self, ev, seen) -> None:
        self._pending.of(seen.hold.run.guest).append(seen)
        ev.note(f"{seen.prefix}{self.name}: judged when it is stopped (it prints only then): suites/tools")

    def settle(self, guest) -> Evidence:
        """Stop the guest's tool and judge every hold it traced; their rows."""
        ev = Evidence(f"{self.name} on {guest.kernel.name} (its guest {guest.label})")
        pending, proc = self._pending.pop(guest) or [], self._procs.pop(guest)
        if not pending or proc is None:
            return ev
        guest.signal(proc, signal.SIGINT, group=False)
        r = guest.wait(proc, timeout=300)
        for seen in pending:
            if seen.hold.run is not None:
                seen.hold.run.keep(self.name, f"$ {self.command()}\n{r.stdout}\n--- stderr\n{r.stderr}")
        totals = parse(r.stdout)
        for seen in pending:
            with ev.tagged(self.name, seen.case, title=self.title, kind=self.kind, order=self.order):
                if r.rc != 0:
                    ev.check(f"{seen.prefix}{self.name}", False, "runs and reports",
                             f"exited {r.rc}: {r.stderr.strip()[-300:]}", self.source)
                else:
                    self.judge_totals(ev, seen, totals)
        return ev

    def judge_totals(self, ev, seen, totals: dict[int, int]) -> None:
        wait, p, h = seen.wait, seen.prefix, seen.hold
        shown = ", ".join(f"{pid}: {totals.get(pid, 0) / 1e6:.3f} s" for pid in h.pids)
        test = f"__state & {TASK_UNINTERRUPTIBLE}"
        if counts("bitmask", wait.task_state):
            least = int(seen.window_s * 1e6)
            most = {pid: (h.slept[pid][1] - h.slept[pid][0]) * 1e6 for pid in h.pids}
            ok = all(least <= totals.get(pid, 0) <= most[pid] for pid in h.pids)
            known = "" if counts(self.rule, wait.task_state) else KNOWN_EQUALITY
            ev.check(f"{p}{self.name}", ok,
                     f"each {seen.window_s:.2f} s (the window) .. its sleep from READY to WOKE ("
                     + ", ".join(f"{pid}: {m / 1e6:.3f} s" for pid, m in most.items())
                     + f"): {test} holds for __state {wait.task_state:#x}, by its --help", shown, self.source,
                     known=known)
        else:
            why = f"{test} is false for __state {wait.task_state:#x}"
            if wait.state == "D" or wait.iowait:
                why += " though the kernel " + ("shows D" if wait.state == "D" else "counts it as I/O wait")
            ev.check(f"{p}{self.name}", not any(totals.get(pid, 0) for pid in h.pids),
                     f"nothing recorded ({why})", shown, self.source, blind=wait.state == "D" or wait.iowait)
