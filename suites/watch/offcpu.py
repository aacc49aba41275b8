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
from suites.watch.kept import KeptTracer
from vm.guest import Guest

PROGRAM = TRACERS / "offcpu_iowait.bt"
MIN_SLEEP_MS = 200  # shorter sleeps are noise for holds of seconds

_LINE = re.compile(r"^sleep pid=(\d+) comm=(.*) state=([DS]) iowait=(\d) us=(\d+)$")
_ASLEEP = re.compile(r"^iowait pid=(\d+) cpu=(\d+) from=(\d+)$")
_WOKE = re.compile(r"^woke pid=(\d+) from=(\d+) at=(\d+)$")
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


@dataclass(frozen=True)
class _Asleep:
    pid: int
    cpu: int
    ns: int


@dataclass(frozen=True)
class _Woke:
    pid: int
    since: int  # the start of the sleep it ends
    ns: int


@dataclass(frozen=True)
class _Lost:
    events: int


Event = Sleep | _Asleep | _Woke | _Lost


def events(text: str) -> list[Event]:
    """Each line the tracer printed, complete lines only."""
    out: list[Event] = []
    for line in _lines(text):
        if m := _LINE.match(line):
            out.append(Sleep(int(m[1]), m[2], m[3], m[4] == "1", int(m[5])))
        elif m := _ASLEEP.match(line):
            out.append(_Asleep(int(m[1]), int(m[2]), int(m[3])))
        elif m := _WOKE.match(line):
            out.append(_Woke(int(m[1]), int(m[2]), int(m[3])))
        elif m := _LOST.match(line):
            out.append(_Lost(int(m[1])))
    return out


class Folded:
    """The tracer's events so far, folded: its long sleeps, every sleep with
    in_iowait (its wake-up joined to it), and the events it said it lost.
    Folded as they come, since a long-lived guest's run reaches millions. A sleep
    and its wake-up are joined by the sleep's start, in whichever order they come:
    printed on two CPUs, they are read from two perf buffers in turn."""

    def __init__(self) -> None:
        self.sleeps: list[Sleep] = []
        self.iowait: list[IowaitSleep] = []
        self.lost = 0
        self._open: dict[tuple[int, int], int] = {}  # (pid, start) -> index in iowait
        self._early: dict[tuple[int, int], int] = {}  # (pid, start) -> wake-up come first

    def add(self, evs: list[Event]) -> Folded:
        for e in evs:
            if isinstance(e, Sleep):
                self.sleeps.append(e)
            elif isinstance(e, _Asleep):
                woke = self._early.pop((e.pid, e.ns), None)
                if woke is None:
                    self._open[(e.pid, e.ns)] = len(self.iowait)
                self.iowait.append(IowaitSleep(e.pid, e.cpu, e.ns / 1e9, None if woke is None else woke / 1e9))
            elif isinstance(e, _Woke):
                i = self._open.pop((e.pid, e.since), None)
                if i is None:
                    self._early[(e.pid, e.since)] = e.ns
                else:
                    s = self.iowait[i]
                    self.iowait[i] = IowaitSleep(s.pid, s.cpu, s.start, e.ns / 1e9)
            else:
                self.lost += e.events
        return self


def parse(text: str) -> list[Sleep]:
    return Folded().add(events(text)).sleeps


def parse_iowait(text: str) -> tuple[list[IowaitSleep], int]:
    """Every sleep with in_iowait, and how many events the tracer said it lost."""
    f = Folded().add(events(text))
    return f.iowait, f.lost


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


class OffCpuTracer(KeptTracer[Event]):
    """Read a piece at a time: every witness of every hold asks it, and its
    whole output runs to megabytes on a long-lived guest."""

    def __init__(self, guest: Guest, attach_timeout: float = 300):
        super().__init__(guest, PROGRAM, ("linux/sched.h",), events, str(MIN_SLEEP_MS),
                         attach_timeout=attach_timeout)
        self._folded = Folded()

    def keep(self, new: list[Event]) -> None:
        self._folded.add(new)  # the raw events are not kept: millions on a long-lived guest

    def _fold(self) -> Folded:
        self.read()
        return self._folded

    def sleeps(self) -> list[Sleep]:
        return self._fold().sleeps

    def iowait_sleeps(self) -> tuple[list[IowaitSleep], int]:
        f = self._fold()
        return f.iowait, f.lost

    def sleeps_of(self, pids: list[int], timeout: float) -> dict[int, list[Sleep]]:
        """Each pid's sleeps, waiting a little for the lines of sleeps just ended."""
        deadline = time.monotonic() + timeout
        while True:
            got = {p: [s for s in self.sleeps() if s.pid == p] for p in pids}
            if all(got.values()) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)


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
