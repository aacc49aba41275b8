"""What a tool that shows CPU time as shares of an interval must show while a
hold's tasks wait, from the kernel's iowait rule (docs/kernel-rules.md §4) and
the computation every such tool documents: a field's share is its /proc/stat
delta over the sum of all fields' deltas in the interval (vmstat.c, mpstat.c,
top, iostat).

Per CPU, in every interval inside the window: on the tasks' CPU k, an I/O wait
on an idle CPU leaves no idle (all of its idle time is iowait); a wait that is
not I/O, or a hog on CPU k, leaves iowait at the idle baseline; the other CPUs
accrue no iowait from these tasks (nr_iowait is per runqueue). The only
allowance is the tool's sampling grid: each field is read floored to a tick at
both ends of an interval (1 tick per read), and the tool rounds what it prints.

For a system-wide share (all CPUs together) the tasks' CPU is 1 of c: the tool's
share is compared with the kernel's own share over the window, read from
/proc/stat at the window's ends, allowing for how unevenly CPU k's running and
interrupt time falls into the tool's intervals (INTERVAL_NOT_IDLE, over c CPUs).
"""

from __future__ import annotations

from dataclasses import dataclass

from suites.watch.procfs import USER_HZ

# The share of one tool interval CPU k may spend running or in interrupts beyond
# the window's average, i.e. out of iowait: the tasks' wakeups, the sampler and
# the tools' own interrupts come in bursts. Measured as the largest gap between a
# tool's interval share and the window's share: 7.7 points at 2 CPUs (15 % of CPU
# k's interval) over 508 iostat and vmstat rows on debian-6.1, debian-6.12 and
# source-6.1 under TCG (median 1.5 points).
INTERVAL_NOT_IDLE = 0.25


@dataclass(frozen=True)
class Shares:
    """One interval of one CPU (or of all: cpu None), in percent."""

    iowait: float
    idle: float
    busy: float  # every other field


def _fmt(values) -> str:
    return ", ".join(f"{v:g}" for v in values) or "(no interval inside the window)"


def slack(interval_s: float, rounding: float) -> float:
    """Percentage points a share may be off by from the grid alone: one tick per
    read at both ends of the interval, and the tool's rounding."""
    return 200 / (interval_s * USER_HZ) + rounding


def baseline_share(seen, cpu: int | None) -> float:
    """The idle baseline's iowait share (percent) of a CPU, or of all CPUs."""
    b = seen.base
    cpus = [cpu] if cpu is not None else b.cpus
    io = sum(b.cpu(c).iowait for c in cpus)
    total = sum(b.cpu(c).total for c in cpus) or 1
    return 100 * io / total


def per_cpu(ev, seen, tool: str, intervals: list[dict[int, Shares]], interval_s: float, rounding: float,
            source: str) -> None:
    """Rows for a tool that shows each CPU: `intervals` are its reports inside the window."""
    k, p, sl = seen.cpu, seen.p, slack(interval_s, rounding)
    mine = [iv[k] for iv in intervals if k in iv]
    if not mine:
        ev.check(f"{p}{tool}: CPU {k}", False, "reports inside the window", "none", source)
        return
    if seen.wait.iowait and not seen.hog:
        ok = all(s.idle <= sl and s.iowait >= 100 - s.busy - sl for s in mine)
        ev.check(f"{p}{tool}: CPU {k} %iowait", ok,
                 f"%idle <= {sl:.2f}, %iowait >= 100 - busy - {sl:.2f} in each interval (idle time is iowait "
                 "while its nr_iowait > 0)",
                 f"%iowait {_fmt(s.iowait for s in mine)}; %idle {_fmt(s.idle for s in mine)}", source)
    else:
        most = baseline_share(seen, k) + sl
        why = "a hog keeps the CPU busy, only idle time is iowait" if seen.hog else "no task in in_iowait"
        ev.check(f"{p}{tool}: CPU {k} %iowait", all(s.iowait <= most for s in mine),
                 f"<= {most:.2f} in each interval ({why})", f"%iowait {_fmt(s.iowait for s in mine)}", source)
    others = [(c, s) for iv in intervals for c, s in iv.items() if c is not None and c != k]
    most = {c: baseline_share(seen, c) + sl for c in seen.window.cpus if c != k}
    ev.check(f"{p}{tool}: other CPUs %iowait", all(s.iowait <= most.get(c, sl) for c, s in others),
             f"<= the idle baseline + {sl:.2f} (nr_iowait is per runqueue)",
             "; ".join(f"CPU {c}: {_fmt(s.iowait for cc, s in others if cc == c)}" for c in sorted(most)) or "none",
             source)


def system(ev, seen, tool: str, values: list[float], interval_s: float, rounding: float, source: str) -> None:
    """Rows for a tool's share of all CPUs together (`values`: its %iowait per
    report inside the window)."""
    p, W, sl = seen.p, seen.window, slack(interval_s, rounding)
    if not values:
        ev.check(f"{p}{tool}: %iowait (all CPUs)", False, "reports inside the window", "none", source)
        return
    if seen.wait.iowait and not seen.hog:
        io = sum(W.cpu(c).iowait for c in W.cpus)
        total = sum(W.cpu(c).total for c in W.cpus) or 1
        kernel = 100 * io / total
        tol = 100 * INTERVAL_NOT_IDLE / seen.ncpu + sl
        ev.check(f"{p}{tool}: %iowait (all CPUs)", all(abs(v - kernel) <= tol for v in values),
                 f"{kernel:.2f} +- {tol:.2f} (the kernel's share over the window, /proc/stat: CPU {seen.cpu}'s "
                 f"idle is iowait, 1 of {seen.ncpu} CPUs)", _fmt(values), source)
    else:
        most = baseline_share(seen, None) + sl
        ev.check(f"{p}{tool}: %iowait (all CPUs)", all(v <= most for v in values),
                 f"<= {most:.2f} (the idle baseline: no CPU idle with a task in in_iowait)", _fmt(values), source)


def blocked(ev, seen, tool: str, values: list[int], source: str) -> None:
    """A tool's count of blocked tasks: procs_blocked, i.e. nr_iowait (docs/kernel-rules.md §4)."""
    p = seen.p
    if not values:
        ev.check(f"{p}{tool}: blocked", False, "reports inside the window", "none", source)
    elif seen.wait.iowait:
        ev.check(f"{p}{tool}: blocked", min(values) >= seen.n, f">= {seen.n} in each report (tasks in in_iowait)",
                 _fmt(values), source)
    else:
        most = max(seen.base.blocked)
        ev.check(f"{p}{tool}: blocked", max(values) <= most,
                 f"<= {most} (idle baseline max: these tasks are not in in_iowait, in D or not)", _fmt(values),
                 source)
