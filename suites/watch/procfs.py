"""Parsers for the /proc files the witnesses read (pure: unit-tested on captured text)."""

from __future__ import annotations

from dataclasses import dataclass

# /proc/stat and /proc/<pid>/stat report times in USER_HZ, 100 on x86
# (include/uapi/asm-generic/param.h; fs/proc/stat.c nsec_to_clock_t).
USER_HZ = 100

CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuTimes:
    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int

    @property
    def busy(self) -> int:
        return self.user + self.nice + self.system + self.irq + self.softirq + self.steal

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.iowait

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(*(getattr(self, f) - getattr(other, f) for f in CPU_FIELDS))


@dataclass(frozen=True)
class Stat:
    cpus: dict[int, CpuTimes]
    procs_running: int
    procs_blocked: int  # sum of rq->nr_iowait over CPUs, not a count of D tasks
    # The "cpu" line: every field summed over CPUs in ns, then converted once
    # (fs/proc/stat.c show_stat()), so it can exceed the sum of the floored cpuN lines.
    total: CpuTimes | None = None


def parse_stat(text: str) -> Stat:
    cpus, running, blocked, total = {}, None, None, None
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name == "cpu":
            total = CpuTimes(*(int(x) for x in rest.split()[:len(CPU_FIELDS)]))
        elif name.startswith("cpu"):
            cpus[int(name[3:])] = CpuTimes(*(int(x) for x in rest.split()[:len(CPU_FIELDS)]))
        elif name == "procs_running":
            running = int(rest)
        elif name == "procs_blocked":
            blocked = int(rest)
    if not cpus or running is None or blocked is None:
        raise ValueError("not a /proc/stat text")
    return Stat(cpus, running, blocked, total)


@dataclass(frozen=True)
class CpuRun:
    """One CPU's line of /proc/schedstat (kernel/sched/stats.c show_schedstat(),
    CONFIG_SCHEDSTATS): `run_ns`, rq_cpu_time, the time tasks other than the idle
    task ran there (rq_clock from arrival to departure, kernel/sched/stats.h
    sched_info_depart(): exact, interrupts taken while they ran included), and
    `arrivals`, rq_sched_info.pcount, how many times a task started running there."""

    run_ns: int
    arrivals: int
    queued_ns: int = 0  # rq_sched_info.run_delay: time tasks waited runnable before they ran

    def __sub__(self, other: CpuRun) -> CpuRun:
        return CpuRun(self.run_ns - other.run_ns, self.arrivals - other.arrivals, self.queued_ns - other.queued_ns)


def parse_schedstat(text: str) -> dict[int, CpuRun]:
    """cpu<N> yld_count 0 sched_count sched_goidle ttwu_count ttwu_local rq_cpu_time
    run_delay pcount (schedstat version 15, 5.x to 6.12)."""
    cpus = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            if len(fields) < 9:
                raise ValueError(f"not a /proc/schedstat cpu line: {line!r}")
            cpus[int(name[3:])] = CpuRun(int(fields[6]), int(fields[8]), int(fields[7]))
    if not cpus:
        raise ValueError("not a /proc/schedstat text")
    return cpus


@dataclass(frozen=True)
class Pressure:
    some_us: int  # cumulative "total=" of the some line, microseconds
    full_us: int


def parse_pressure(text: str) -> Pressure:
    totals = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        totals[kind] = int(dict(f.split("=") for f in fields)["total"])
    return Pressure(totals["some"], totals["full"])


@dataclass(frozen=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float
    runnable: int
    threads: int


def parse_loadavg(text: str) -> LoadAvg:
    a, b, c, rt, _last = text.split()
    running, _, total = rt.partition("/")
    return LoadAvg(float(a), float(b), float(c), int(running), int(total))


@dataclass(frozen=True)
class TaskStat:
    pid: int
    comm: str
    state: str
    processor: int  # field 39: CPU last run on
    blkio_ticks: int  # field 42: delayacct_blkio_ticks, USER_HZ


def parse_task_stat(text: str) -> TaskStat:
    """/proc/<pid>/stat (proc(5)); comm may hold spaces and parentheses, so split
    after the last ')'. Fields are numbered from 1: rest[0] is field 3."""
    text = text.strip()
    head, _, tail = text.rpartition(")")
    pid, _, comm = head.partition(" (")
    rest = tail.split()
    return TaskStat(int(pid), comm, rest[0], int(rest[39 - 3]), int(rest[42 - 3]))


def parse_interrupts(text: str) -> dict[str, list[int]]:
    """/proc/interrupts: each row's name (an IRQ number, or LOC, RES...) -> its per-CPU counts."""
    lines = text.splitlines()
    ncpu = len(lines[0].split()) if lines else 0
    rows = {}
    for line in lines[1:]:
        name, _, rest = line.strip().partition(":")
        counts = rest.split()[:ncpu]
        if len(counts) == ncpu and all(c.isdigit() for c in counts):
            rows[name] = [int(c) for c in counts]
    return rows


def parse_local_timer_interrupts(text: str) -> list[int]:
    """Per-CPU counts of the "LOC" (local APIC timer) row of /proc/interrupts:
    the tick, when the CPU is idle and NO_HZ is off, or hardly ever under NO_HZ idle."""
    loc = parse_interrupts(text).get("LOC")
    if loc is None:
        raise ValueError("/proc/interrupts: no LOC row")
    return loc


def device_interrupts(text: str) -> list[int]:
    """Per-CPU totals of the numbered (device) rows of /proc/interrupts."""
    rows = [counts for name, counts in parse_interrupts(text).items() if name.isdigit()]
    return [sum(col) for col in zip(*rows, strict=True)] if rows else [0] * len(text.splitlines()[0].split())
