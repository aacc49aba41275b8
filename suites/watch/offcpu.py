"""The off-CPU tracer (fixtures/tracers/offcpu_iowait.bt), run once per guest.

It prints one line per D sleep, or S sleep with in_iowait, of at least a
threshold: the task, how it slept (state, in_iowait at sched_switch) and for how
long until sched_wakeup. And every task's every sleep with in_iowait, however
short, with the CPU it slept on and when it began and ended: where an idle CPU
may have accrued iowait. Attaching costs ~20 s under TCG, so one tracer serves
every test on a guest (spawned with keep, so the end-of-test reap spares it).
Its output goes to a file: `-B line` keeps a line from being split by a flush.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass

from fixtures import TRACERS
from harness import budget
from suites.watch.cpus import tool_cpus
from vm import probes
from vm.guest import Guest

PROGRAM = TRACERS / "offcpu_iowait.bt"
MIN_SLEEP_MS = 200  # shorter sleeps are noise for holds of seconds

_LINE = re.compile(r"^sleep pid=(\d+) comm=(.*) state=([DS]) iowait=(\d) us=(\d+)$")
_ASLEEP = re.compile(r"^iowait pid=(\d+) cpu=(\d+) from=(\d+)$")
_WOKE = re.compile(r"^woke pid=(\d+) at=(\d+)$")
_LOST = re.compile(r"^Lost (\d+) events$")  # bpftrace: its perf ring overflowed


@dataclass(frozen=True)
class Sleep:
    pid: int
    comm: str
    state: str
    iowait: bool
    us: int


@dataclass(frozen=True)
class IowaitSleep:
    """A sleep with in_iowait: counted in `cpu`'s rq->nr_iowait within [start, end]
    (guest CLOCK_MONOTONIC seconds; end None: not woken when read)."""

    pid: int
    cpu: int
    start: float
    end: float | None


def _lines(text: str) -> list[str]:
    """Complete lines only: a line still being written could show a cut number."""
    return text[:text.rfind("\n") + 1].replace("\0", "").splitlines()


def parse(text: str) -> list[Sleep]:
    out = []
    for line in _lines(text):
        m = _LINE.match(line)
        if m:
            out.append(Sleep(int(m[1]), m[2], m[3], m[4] == "1", int(m[5])))
    return out


def parse_iowait(text: str) -> tuple[list[IowaitSleep], int]:
    """Every sleep with in_iowait, and how many events the tracer said it lost."""
    out: list[IowaitSleep] = []
    open_: dict[int, int] = {}  # pid -> its sleep's index in out
    lost = 0
    for line in _lines(text):
        if m := _ASLEEP.match(line):
            open_[int(m[1])] = len(out)
            out.append(IowaitSleep(int(m[1]), int(m[2]), int(m[3]) / 1e9, None))
        elif m := _WOKE.match(line):
            i = open_.pop(int(m[1]), None)
            if i is not None:
                s = out[i]
                out[i] = IowaitSleep(s.pid, s.cpu, s.start, int(m[2]) / 1e9)
        elif m := _LOST.match(line):
            lost += int(m[1])
    return out, lost


def iowait_on(sleeps: list[IowaitSleep], cpu: int, start: float, end: float,
              besides: tuple[int, ...] = ()) -> tuple[float, int]:
    """Seconds of [start, end] in which some task (not in `besides`) slept with
    in_iowait on `cpu`: the union of their spans, a sleep not yet woken running to
    `end`; and how many spans of that union there are."""
    spans = sorted((max(s.start, start), min(end if s.end is None else s.end, end)) for s in sleeps
                   if s.cpu == cpu and s.pid not in besides)
    total, pieces, reach = 0.0, 0, start
    for a, b in spans:
        if b <= max(a, reach):
            continue
        if a >= reach:
            pieces += 1
        total += b - max(a, reach)
        reach = b
    return total, pieces


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

    def iowait_sleeps(self) -> tuple[list[IowaitSleep], int]:
        return parse_iowait(self.guest.poll(self.proc).stdout)

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


_tracers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tracer(guest: Guest) -> OffCpuTracer:
    """The guest's one off-CPU tracer, attached on first use (again if it died)."""
    t = _tracers.get(guest)
    if t is None or not t.alive():
        t = _tracers[guest] = OffCpuTracer(guest)
    return t


def attached(guest: Guest) -> OffCpuTracer | None:
    """The guest's off-CPU tracer if it is attached and alive (none is attached here)."""
    t = _tracers.get(guest)
    return t if t is not None and t.alive() else None
