"""Prometheus node_exporter 1.5.0, run in the guest on its loopback only
(127.0.0.1:9100, collectors cpu, stat and pressure) and scraped back to back
through the window: node_cpu_seconds_total per CPU and mode, node_procs_blocked,
node_pressure_io_{waiting,stalled}_seconds_total.

It reads /proc/stat (in USER_HZ ticks, as seconds) and /proc/pressure/io (us, as
seconds) at each scrape (node_exporter 1.5.0 collector/cpu_linux.go,
stat_linux.go, pressure_linux.go, through prometheus/procfs); a CPU counter that
goes backwards is held at its last value (cpu_linux.go updateCPUStats(): `if
n.Iowait >= c.cpuStats[i].Iowait`; node_exporter#1686). The kernel saw when
each scrape read those files (suites/watch/reads.py): between the first and the
last scrape read inside the window, each counter's change is bracketed by the
hold's samples around those reads (suites/watch/bracket.py); procs_blocked at
each is a count (suites/watch/cpushare.py blocked_bounds()).

node_exporter is unpacked from Debian's package, not installed (./bootstrap): the
package starts a network service on the host."""

from __future__ import annotations

import re
import signal

from core import budget
from suites.watch import bracket, cpushare, reads
from suites.watch.bracket import Bounds
from suites.watch.cpus import tool_cpus
from suites.watch.per_guest import PerGuest
from suites.watch.procfs import CPU_FIELDS, USER_HZ
from suites.watch.reads import Instant
from suites.watch.tools import ToolSeen, no_report, unpacked
from suites.watch.witness import Witness
from vm.channel import Background
from vm.errors import OutputNotSeen

SOURCE = ("node_exporter 1.5.0 collector/cpu_linux.go (each mode, held if it goes back), stat_linux.go "
          "(procs_blocked), pressure_linux.go")
PORT = 9100
PROGRAM = "usr/bin/prometheus-node-exporter"
_METRIC = re.compile(r'^(node_cpu_seconds_total\{cpu="(\d+)",mode="(\w+)"\}|node_procs_blocked|'
                     r"node_pressure_io_waiting_seconds_total|node_pressure_io_stalled_seconds_total) (\S+)$")
SCRAPES = (f"while :; do date +%s.%N; wget -q -O - http://127.0.0.1:{PORT}/metrics; date +%s.%N; echo ====; "
           "done")


def parse_scrape(text: str) -> tuple[float, float, dict]:
    """(wall clock before, after, {metric key: value}) of one scrape; a CPU
    metric's key is (mode, cpu)."""
    lines = text.strip().splitlines()
    t0, t1 = float(lines[0]), float(lines[-1])
    values = {}
    for line in lines[1:-1]:
        m = _METRIC.match(line)
        if m:
            key = (m[3], int(m[2])) if m[2] else m[1]
            values[key] = float(m[4])
    return t0, t1, values


def parse_scrapes(text: str) -> list[tuple[float, float, dict]]:
    """Every complete scrape of the loop's output (the last may have been cut)."""
    return [parse_scrape(block) for block in text.split("====\n")[:-1] if block.strip()]


class NodeExporter(Witness[ToolSeen]):
    name = "node_exporter"
    title = "prometheus node_exporter 1.5.0 (scraped)"
    order = 300
    package = "prometheus-node-exporter"
    kind = "tool"

    def __init__(self):
        self._procs: PerGuest[Background] = PerGuest()  # the exporter serving each guest

    @property
    def programs(self) -> tuple[str, ...]:  # type: ignore[override]  # where the package was unpacked
        return (unpacked(self.package, PROGRAM),)

    def check(self, guest) -> str | None:
        return super().check(guest) or reads.unavailable(guest)

    def setup(self, guest) -> None:
        reads.tracer(guest)
        proc = self._procs.get(guest)
        if proc is not None and guest.running(proc):
            return
        # Off the tasks' CPU (suites/watch/cpus.py).
        proc = guest.spawn(f"exec taskset -c {tool_cpus(guest)} {self.program} --web.listen-address=127.0.0.1:{PORT} "
                           "--collector.disable-defaults --collector.cpu --collector.stat --collector.pressure",
                           keep=True)
        with budget.spend(budget.TRACER):
            guest.wait_for_output(proc, "Listening on", timeout=120)
            # A fresh exporter's first scrape took 4.3 s under TCG, later ones ~2 s
            # (its code paged in from the host share): paid here, not in a window.
            guest.run(f"wget -q -O /dev/null http://127.0.0.1:{PORT}/metrics", check=True, timeout=60)
        self._procs.set(guest, proc)

    def at_window_open(self, run) -> None:
        run.state(self.name, lambda: run.guest.spawn(f"exec taskset -c {run.other_cpus} sh -c '{SCRAPES}'"))

    def at_window_close(self, run) -> None:
        loop = run.state_of(self.name, Background)
        if loop is not None:
            run.guest.signal(loop, signal.SIGKILL)

    def stop(self, run) -> ToolSeen:
        loop = run.state_of(self.name, Background)
        if loop is None:
            raise OutputNotSeen("node_exporter's scrapes were not started in this hold")
        out = run.guest.poll(loop).stdout
        run.keep(self.name, out)
        exporter = self._procs.of(run.guest)
        r = run.guest.poll(exporter)
        if r.rc is not None:
            raise OutputNotSeen(f"node_exporter exited {r.rc}: {r.stderr.strip()[-300:]}")
        mine = tuple(reads.by_program(reads.tracer(run.guest).since(run.started), exporter.pid))
        try:
            return ToolSeen(parse_scrapes(out), None, mine, SCRAPES, stdout=out)
        except (ValueError, IndexError) as e:
            raise OutputNotSeen(f"node_exporter's scrapes not understood ({e!r}): {out[-800:]}") from None

    def reparse(self, result, run, extra):
        return parse_scrapes(result.stdout)

    def abandon(self, run) -> None:
        loop = run.state_of(self.name, Background)
        if loop is not None and run.guest.usable():
            run.guest.signal(loop, signal.SIGKILL)

    def judge(self, ev, seen) -> None:
        ts: ToolSeen = seen.mine
        w, p, offset = seen.window, seen.prefix, seen.hold.run.wall_offset
        samples = w.samples

        def reading(what, t0, t1) -> Instant | None:
            got = [x for x in ts.reads if x.what == what and t0 - offset <= x.t0 and x.t1 <= t1 - offset]
            return Instant(min(x.t0 for x in got), max(x.t1 for x in got)) if got else None

        every = [(reading("stat", t0, t1), reading("psi", t0, t1), values) for t0, t1, values in ts.parsed]
        scrapes = [(at, psi_at, values) for at, psi_at, values in every
                   if at is not None and bracket.inside(samples, at)]
        if len(scrapes) < 2:
            no_report(ev, seen, "node_exporter", SOURCE, len(ts.parsed))
            return
        (a, a_psi, av), (b, b_psi, bv) = scrapes[0], scrapes[-1]
        lines: dict[str, list[str]] = {"iowait": [], "rest": []}
        ok = {"iowait": True, "rest": True}
        for cpu in w.cpus:
            fields = bracket.cpu_fields(samples, a, b, cpu)
            if fields is None:
                raise ValueError("scrapes inside the window are bracketed by its samples")
            for mode in CPU_FIELDS:
                tool = round(bv[(mode, cpu)] - av[(mode, cpu)], 2)
                bound = Bounds(fields[mode].lo / USER_HZ, fields[mode].hi / USER_HZ)
                good = bound.holds(tool, 1e-6)
                group = "iowait" if mode == "iowait" and cpu == seen.cpu else "rest"
                ok[group] &= good
                lines[group].append(f"CPU {cpu} {mode} +{tool:g} s in {bound.text(2)}" + ("" if good else " (NO)"))
        why = (f"its change between its first and last scrape inside the window ({b.lo - a.hi:.2f} s apart), "
               "from /proc/stat sampled around the two reads")
        ev.check(f"{p}node_exporter CPU {seen.cpu} iowait", ok["iowait"], why, "; ".join(lines["iowait"]), SOURCE)
        ev.check(f"{p}node_exporter every other CPU and mode", ok["rest"], why, "; ".join(lines["rest"]), SOURCE)
        cpushare.blocked(ev, seen, "node_procs_blocked", [(s, v["node_procs_blocked"]) for s, _, v in scrapes],
                         SOURCE)
        if w.before.text("/proc/pressure/io") is None or "node_pressure_io_waiting_seconds_total" not in av:
            ev.note(f"{seen.label or 'hold'}: node_pressure_io_*: not available (no /proc/pressure/io)")
            return
        # A scrape reads /proc/stat, then /proc/pressure/io: the first and last scrapes
        # whose PSI read the samples bracket, which need not be those of /proc/stat.
        psi = [(r, v) for _, r, v in every if r is not None and bracket.inside(samples, r)]
        if len(psi) < 2:
            ev.check(f"{p}node_pressure_io_*", False, "two of its reads of /proc/pressure/io inside the window",
                     f"{len(psi)} of {len(every)} scrapes", SOURCE)
            return
        (a_psi, av), (b_psi, bv) = psi[0], psi[-1]
        for metric, field in (("node_pressure_io_waiting_seconds_total", "some_us"),
                              ("node_pressure_io_stalled_seconds_total", "full_us")):
            tool = bv[metric] - av[metric]
            psi_bound = bracket.change(samples, a_psi, b_psi, lambda s, f=field: getattr(s.pressure, f))
            if psi_bound is None:
                raise ValueError("reads inside the window are bracketed by its samples")
            ev.check(f"{p}{metric}", psi_bound.holds(tool * 1e6, 1.0),
                     f"{psi_bound.lo / 1e6:.6f}..{psi_bound.hi / 1e6:.6f} s: /proc/pressure/io's total sampled "
                     "around its two reads", f"+{tool:.6f} s", SOURCE)


WITNESS = NodeExporter()
