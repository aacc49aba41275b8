"""When each tool read what it reports, from the kernel's side
(fixtures/tracers/tool_reads.bt): a tool's report is a function of the counters
at the instants it read them, so with those instants every number it prints can
be bracketed by the hold's own samples taken just before and just after.

A tool stamps its reports with the wall clock to the second; the reads come
in CLOCK_MONOTONIC to the nanosecond. `place()` pairs each report with the read
it was computed from. One tracer per guest, attached once (~10 s under TCG) and
kept; its output is read a piece at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixtures import TRACERS
from suites.watch.kept import KeptPerGuest, KeptTracer
from vm import probes
from vm.guest import Guest

PROGRAM = TRACERS / "tool_reads.bt"
# The kernel functions it probes (fs/proc/stat.c, loadavg.c, array.c,
# kernel/sched/psi.c, kernel/delayacct.c): all in 6.1 and 6.12.
SYMBOLS = ("show_stat", "loadavg_proc_show", "psi_io_show", "proc_tgid_stat", "proc_tid_stat", "delayacct_add_tsk")
# Reads of one file by one program closer together than this are one reading (top
# reads /proc/stat twice at start; a tool reads /proc/<pid>/stat of each thread).
ROUND_GAP_S = 0.2


@dataclass(frozen=True)
class Read:
    what: str  # stat, loadavg, psi, pstat, taskstats
    tgid: int
    tid: int
    ppid: int
    task: int  # the task whose /proc/<pid>/stat or taskstats was read (0: a system file)
    t0: float  # guest monotonic seconds: the kernel began writing the reply
    t1: float  # ... and returned it
    gppid: int = 0  # the parent's parent's tgid


@dataclass(frozen=True)
class Instant:
    """When a reading was taken: somewhere in [lo, hi] (guest monotonic seconds)."""

    lo: float
    hi: float


def parse(text: str) -> list[Read]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) not in (7, 8) or not f[1].isdigit():
            continue
        out.append(Read(f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]) / 1e9, int(f[6]) / 1e9,
                        int(f[7]) if len(f) == 8 else 0))
    return out


def by_program(reads: list[Read], pid: int) -> list[Read]:
    """Reads of the program started as `pid`, of its children and theirs (sar's
    sadc, the shell loop's ps, a wrapper's tool and its sadc); a task reading
    itself is not a tool."""
    return [r for r in reads if pid in (r.tgid, r.ppid, r.gppid) and r.tgid != r.task]


def woken(reads: list[Read], task: int, after: float, before: float) -> Instant | None:
    """When the kernel woke `task` between `after` and `before`: from the first
    wake-up's sched_waking to the last one's sched_wakeup. A wait may be woken more
    than once before it ends (sched_wakeup fires for a task still on its runqueue,
    and a waiter that finds its condition false sleeps again), and each wake-up
    that ends a sleep in in_iowait adds that sleep's delay."""
    got = sorted((r for r in reads if r.what == "wake" and r.task == task and after < r.t0 and r.t1 <= before),
                 key=lambda r: r.t0)
    return Instant(got[0].t0, got[-1].t1) if got else None


# fixtures/tracers/tool_reads.bt keeps a read of /proc/<pid>/stat only while the
# task's comm starts so: a task forked as `taskset -c N block_once ...` and read
# before its exec was read untraced (a tool's line with that comm has no reading).
TRACED_COMM = "block_once"


def rounds(reads: list[Read], what: str, task: int = 0) -> list[Instant]:
    """The readings of one file (of one task): reads less than ROUND_GAP_S apart are one."""
    out: list[Instant] = []
    for r in sorted((r for r in reads if r.what == what and r.task == task), key=lambda r: r.t0):
        if out and r.t0 - out[-1].hi < ROUND_GAP_S:
            out[-1] = Instant(out[-1].lo, max(out[-1].hi, r.t1))
        else:
            out.append(Instant(r.t0, r.t1))
    return out


# How long a tool may take between its read and the stamp it takes just before
# or just after it (its source says which: `lag`); under TCG a preemption
# between the two took ~0.1 s. With reports a second apart, 0.5 s on one side
# leaves one reading a stamp fits.
STAMP_NEAR_S = 0.5
BEFORE = (-STAMP_NEAR_S, 0.0)  # the tool takes the time, then reads
AFTER = (0.0, STAMP_NEAR_S)  # it reads, then takes the time
EITHER = (-STAMP_NEAR_S, STAMP_NEAR_S)
# atop stamps a sample as it begins it, then reads every process: its scan took up
# to 1.2 s under TCG, so a task it reads last was read that long after the stamp.
BEFORE_SCAN_S = 1.5
BEFORE_SCAN = (-BEFORE_SCAN_S, 0.0)


def overlap(stamp: float, reading: Instant, wall_offset: float, lag: tuple[float, float]) -> float:
    """How much of the second `stamp` (wall clock, floored) the stamp's possible
    times for `reading` cover: 0, the report could not come from it."""
    w0, w1 = reading.lo + wall_offset + lag[0], reading.hi + wall_offset + lag[1]
    return max(0.0, min(w1, stamp + 1) - max(w0, stamp))


def gap(stamp: float, reading: Instant, wall_offset: float) -> float:
    """How far the reading lies from the second `stamp` (0: inside it)."""
    return max(0.0, stamp - (reading.hi + wall_offset), reading.lo + wall_offset - (stamp + 1))


# How far a stamp may miss its reading when the count pairs them in order: the
# wall offset (read once per hold) put an iostat read 4 ms after the second its
# report is stamped with, though iostat takes the time after reading. A whole
# second off still fails.
ORDER_SLACK_S = 0.25


def place(stamps: list[float], readings: list[Instant], wall_offset: float,
          lag: tuple[float, float] = EITHER, first: int | None = None) -> list[int | None]:
    """For each report (its stamp, in the order printed), the index of the reading
    it was computed from, or None. A tool prints one report per reading, in order,
    after zero or more readings it prints nothing for (a baseline).

    `first`: how many readings its source says come before its first report.
    When the tracer saw exactly that many plus one per report, and each stamp fits
    its reading (give or take ORDER_SLACK_S), the reports pair with the readings
    in order: a stamp alone cannot tell a reading just before a wall-clock second
    from the next one (both fit a stamp taken just after the first; which lies
    nearer depends on milliseconds, as much as the wall offset is off by).

    Otherwise (a reading lost, a report left out, no `first`), the stamps say:
    each report takes the first of the next three readings its stamp fits (with
    `lag` on one side, a reading a second earlier cannot fit), from the start
    that places the most reports, and of those the one whose readings lie nearest
    their stamps' seconds (a reading 0.7 s into a second, stamped 0.4 s later in
    the next, fits both)."""
    loose = (lag[0] - ORDER_SLACK_S, lag[1] + ORDER_SLACK_S)
    if first is not None and len(readings) == first + len(stamps) and all(
            overlap(s, readings[first + i], wall_offset, loose) > 0 for i, s in enumerate(stamps)):
        return [first + i for i in range(len(stamps))]
    best: list[int | None] = [None] * len(stamps)
    best_key = (0, 0.0)
    for skip in range(0, 3):
        out: list[int | None] = []
        j = skip
        for s in stamps:
            found = next((i for i in range(j, min(j + 3, len(readings)))
                          if overlap(s, readings[i], wall_offset, lag) > 0), None)
            out.append(found)
            if found is not None:
                j = found + 1
        placed = [(s, i) for s, i in zip(stamps, out, strict=True) if i is not None]
        key = (len(placed), -sum(gap(s, readings[i], wall_offset) for s, i in placed))
        if key > best_key:
            best, best_key = out, key
    return best


class ReadTracer(KeptTracer[Read]):
    """The guest's kept tool_reads.bt and what it has printed so far."""

    def __init__(self, guest: Guest):
        agent = guest.sh("echo $PPID").strip()  # the agent runs commands as `sh -c`: its own reads are not a tool's
        # Reads and wake-ups come in bursts (eight tasks woken within 15 ms lost one
        # wake-up's event with the default 64 pages).
        super().__init__(guest, PROGRAM, ("linux/sched.h",), parse, agent, ring_pages=512)

    def reads(self) -> list[Read]:
        return self.items()

    def since(self, t: float) -> list[Read]:
        return [r for r in self.reads() if r.t1 >= t]


def unavailable(guest: Guest) -> str | None:
    """Why the read tracer cannot run on this guest, or None."""
    cfg = probes.kconfig(guest)
    if cfg.get("CONFIG_KPROBES") != "y":
        return "kernel without CONFIG_KPROBES: the instants of a tool's reads cannot be traced"
    if guest.run("command -v bpftrace").rc != 0:
        return "bpftrace is not installed in the guest: the instants of a tool's reads cannot be traced"
    syms = set(guest.sh(r"awk '{print $3}' /proc/kallsyms | grep -xE '" + "|".join(SYMBOLS) + "' || true").split())
    missing = [s for s in SYMBOLS if s not in syms]
    if missing:
        return f"no kernel function {', '.join(missing)} to trace a tool's reads at"
    return None


_per_guest = KeptPerGuest(ReadTracer, "the read tracer (fixtures/tracers/tool_reads.bt)")


def tracer(guest: Guest) -> ReadTracer:
    """The guest's read tracer, attached on first use."""
    return _per_guest.get(guest)
