"""What a tool that shows CPU time as shares of an interval must show: each
printed field is its /proc/stat fields' change over the sum of all fields'
change in the interval between two of the tool's reads (procps src/vmstat.c,
src/top/top.c sum_tics(), library/stat.c; sysstat mpstat.c, iostat.c), so each
is bounded on both sides by the same computation over the hold's samples around
those reads (suites/watch/bracket.py), widened only by the tool's rounding.
The kernel's rule for the wait (docs/kernel-rules.md §4: the tasks' CPU idle is
iowait while they wait in in_iowait, a hog leaves it none) is what those samples
show, judged by the cpu_iowait witness; here the tool is judged on reporting
them. The fields must add up to 100 as printed.

Counts of blocked tasks (vmstat's b, sar's blocked, node_procs_blocked) are
procs_blocked at the tool's read: the hold's tasks if they sleep in in_iowait,
and no more than the most other tasks the idle baseline or the window showed.
"""

from __future__ import annotations

from dataclasses import dataclass

from suites.watch import bracket
from suites.watch.bracket import Bounds
from suites.watch.procfs import CPU_FIELDS
from suites.watch.reads import Instant
from suites.watch.tools import Timed, inside_window, no_report


@dataclass(frozen=True)
class View:
    """How a tool groups /proc/stat's fields into what it prints, per its source."""

    fields: dict[str, tuple[str, ...]]  # printed name -> /proc/stat fields (procfs.CPU_FIELDS)
    rounding: float  # half its last printed digit
    iowait: str  # the printed name of iowait
    idle: str
    all_from_cpus: bool = False  # its all-CPUs figures add up the cpuN lines (mpstat), not the "cpu" line

    @property
    def whole(self) -> tuple[str, ...]:
        return tuple(f for f in CPU_FIELDS if any(f in v for v in self.fields.values()))


def _scopes(seen, cpus_printed) -> list[tuple[str, list]]:
    k = seen.cpu
    out = []
    if k in cpus_printed:
        out.append(("the tasks' CPU", [k]))
    others = [c for c in sorted(x for x in cpus_printed if x is not None) if c != k]
    if others:
        out.append(("the other CPUs", others))
    if None in cpus_printed:
        out.append(("all CPUs", [None]))
    return out


def judge(ev, seen, tool: str, view: View, reports: list[Timed], source: str) -> None:
    """Rows for a CPU-share tool: `reports` say {cpu (None: all CPUs): {printed name: share}}."""
    p, samples = seen.prefix, seen.window.samples
    chosen = inside_window(seen, reports)
    if not chosen:
        no_report(ev, seen, tool, source, len(reports))
        return
    printed = set().union(*(r.says.keys() for r in chosen))
    busy = tuple(n for n in view.fields if n not in (view.iowait, view.idle))
    sums = []
    for label, cpus in _scopes(seen, printed):
        lines: dict[str, list[str]] = {view.iowait: [], view.idle: [], "busy": []}
        ok = {name: True for name in lines}
        for r in chosen:
            for c in cpus:
                shown = r.says.get(c)
                if shown is None:
                    lines[view.iowait].append(f"CPU {c}: not printed")
                    ok[view.iowait] = False
                    continue
                line = "sum" if c is None and view.all_from_cpus else c
                fields = bracket.cpu_fields(samples, r.start, r.end, line)
                if fields is None:
                    raise ValueError("reports inside the window are bracketed by its samples")
                tag = "" if len(cpus) == 1 else f"CPU {c} "
                for group, names in ((view.iowait, (view.iowait,)), (view.idle, (view.idle,)), ("busy", busy)):
                    for name in names:
                        b = bracket.share(view.fields[name], view.whole, fields)
                        good = b.holds(shown[name], view.rounding + 1e-9)
                        ok[group] &= good
                        lines[group].append(f"{tag}{'' if group != 'busy' else name + ' '}{shown[name]:g} in "
                                            f"{b.text(2)}{'' if good else ' (NO)'}")
                total = sum(shown[n] for n in view.fields)
                sums.append((f"{tag}{total:g}" if len(cpus) > 1 or label != "the tasks' CPU" else f"{total:g}",
                             abs(total - 100) <= len(view.fields) * view.rounding + 1e-6))
        why = "its share of the interval between its two reads, from the /proc/stat fields sampled around them"
        ev.check(f"{p}{tool} %{view.iowait} on {label}", ok[view.iowait], f"in each interval, {why}",
                 "; ".join(lines[view.iowait]), source)
        ev.check(f"{p}{tool} %{view.idle} on {label}", ok[view.idle], f"in each interval, {why}",
                 "; ".join(lines[view.idle]), source)
        ev.check(f"{p}{tool} {', '.join('%' + n for n in busy)} on {label}", ok["busy"], f"in each interval, {why}",
                 "; ".join(lines["busy"]), source)
    most = len(view.fields) * view.rounding
    ev.check(f"{p}{tool} fields add up", all(good for _, good in sums),
             f"100 +- {most:g} in each report ({len(view.fields)} fields, each rounded to +-{view.rounding:g})",
             ", ".join(t for t, _ in sums), source)


def blocked_bounds(seen) -> Bounds:
    """procs_blocked while the hold's tasks wait: they are in it if they sleep in
    in_iowait (docs/kernel-rules.md §4); others add at most what the idle baseline
    or the window's own samples showed of them."""
    mine = seen.n if seen.wait.iowait else 0
    others = max([*seen.base.blocked, *(b - mine for b in seen.window.blocked), 0])
    return Bounds(mine, mine + others)


def blocked(ev, seen, tool: str, values: list[tuple[Instant, int]], source: str) -> None:
    """A tool's count of blocked tasks (procs_blocked), each read at its instant:
    `values` are (Instant, count) in order."""
    samples = seen.window.samples
    chosen = [(at, v) for at, v in values if bracket.inside(samples, at)]
    if not chosen:
        no_report(ev, seen, tool, source, len(values))
        return
    b = blocked_bounds(seen)
    why = ("the tasks in in_iowait" if seen.wait.iowait else "these tasks are not in in_iowait, in D or not")
    ev.check(f"{seen.prefix}{tool}", all(b.holds(v) for _, v in chosen),
             f"{b.lo:g}..{b.hi:g} in each report read inside the window ({why}; others at most as many as the "
             "baseline or the window's samples showed)", ", ".join(str(v) for _, v in chosen), source)
