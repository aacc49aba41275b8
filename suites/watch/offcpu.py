"""The off-CPU tracer (fixtures/tracers/offcpu_iowait.bt), run once per guest.

It prints one line per D sleep, or S sleep with in_iowait, of at least a
threshold: the task, how it slept (state, in_iowait at sched_switch) and for how
long until sched_wakeup. Attaching costs ~20 s under TCG, so one tracer serves
every test on a guest (spawned with keep, so the end-of-test reap spares it).
Its output goes to a file: `-B line` keeps a line from being split by a flush.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fixtures import TRACERS
from harness import budget
from suites.watch.cpus import tool_cpus
from vm import probes
from vm.guest import Guest

PROGRAM = TRACERS / "offcpu_iowait.bt"
MIN_SLEEP_MS = 200  # shorter sleeps are noise for holds of seconds

_LINE = re.compile(r"^sleep pid=(\d+) comm=(.*) state=([DS]) iowait=(\d) us=(\d+)$")


@dataclass(frozen=True)
class Sleep:
    pid: int
    comm: str
    state: str
    iowait: bool
    us: int


def parse(text: str) -> list[Sleep]:
    """Complete lines only: a line still being written could show a cut number."""
    out = []
    for line in text[:text.rfind("\n") + 1].replace("\0", "").splitlines():
        m = _LINE.match(line)
        if m:
            out.append(Sleep(int(m[1]), m[2], m[3], m[4] == "1", int(m[5])))
    return out


def spawn_kept_bpftrace(guest: Guest, program, headers: tuple[str, ...], args: str = "",
                        attach_timeout: float = 300, ring_pages: int = 0):
    """A bpftrace program kept for the guest's life, off the tasks' CPU, once it
    prints READY. Without BTF (source builds leave it off) it learns the kernel's
    types from `headers` (lib/modules/<release>/build, published with the build).
    `ring_pages`: its perf ring buffer per CPU (BPFTRACE_PERF_RB_PAGES, 64 by
    default), for a program whose events come in bursts."""
    include = "" if probes.has_btf(guest) else "".join(f"--include {h} " for h in headers)
    env = f"env BPFTRACE_PERF_RB_PAGES={ring_pages} " if ring_pages else ""
    proc = guest.spawn(f"exec taskset -c {tool_cpus(guest)} {env}bpftrace -B line {include}{program} {args}",
                       keep=True)
    with budget.spend(budget.TRACER):
        guest.wait_for_output(proc, "READY", timeout=attach_timeout)
    return proc


class OffCpuTracer:
    def __init__(self, guest: Guest, attach_timeout: float = 300):
        self.guest = guest
        self.proc = spawn_kept_bpftrace(guest, PROGRAM, ("linux/sched.h",), str(MIN_SLEEP_MS), attach_timeout)

    def alive(self) -> bool:
        return self.guest.usable() and self.guest.running(self.proc)

    def sleeps(self) -> list[Sleep]:
        return parse(self.guest.poll(self.proc).stdout)

    def sleeps_of(self, pids: list[int], timeout: float) -> dict[int, list[Sleep]]:
        """Each pid's sleeps, waiting a little for the lines of sleeps just ended."""
        deadline = time.monotonic() + timeout
        while True:
            got = {p: [s for s in self.sleeps() if s.pid == p] for p in pids}
            if all(got.values()) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def stop(self) -> None:
        if self.guest.usable():
            self.guest.signal(self.proc, 2)
