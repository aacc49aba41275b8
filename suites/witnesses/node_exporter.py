"""Prometheus node_exporter 1.5.0, run in the guest on its loopback only
(127.0.0.1:9100, collectors cpu, stat and pressure) and scraped as the window
opens and closes: node_cpu_seconds_total{mode="iowait"} per CPU,
node_procs_blocked, node_pressure_io_{waiting,stalled}_seconds_total.

It reads /proc/stat (in USER_HZ ticks, as seconds) and /proc/pressure/io (us, as
seconds) (node_exporter 1.5.0 collector/cpu_linux.go, stat_linux.go,
pressure_linux.go, through prometheus/procfs); a CPU counter that goes backwards
is held at its last value (cpu_linux.go updateCPUStats(): `if n.Iowait >=
c.cpuStats[i].Iowait`; node_exporter#1686). Its deltas over the window are
compared with the kernel's own over the same window, with the instants of the
scrapes as the only allowance.

node_exporter is unpacked from Debian's package, not installed (./bootstrap): the
package starts a network service on the host."""

from __future__ import annotations

import re
import weakref

from harness import budget
from suites.watch.cpus import tool_cpus
from suites.watch.procfs import USER_HZ
from suites.watch.tools import unpacked
from suites.watch.witness import Witness

SOURCE = ("node_exporter 1.5.0 collector/cpu_linux.go (iowait held if it goes back), stat_linux.go "
          "(procs_blocked), pressure_linux.go")
PORT = 9100
PROGRAM = "usr/bin/prometheus-node-exporter"
_METRIC = re.compile(r'^(node_cpu_seconds_total\{cpu="(\d+)",mode="iowait"\}|node_procs_blocked|'
                     r"node_pressure_io_waiting_seconds_total|node_pressure_io_stalled_seconds_total) (\S+)$")


def parse_scrape(text: str) -> tuple[float, float, dict]:
    """(wall clock before, after, {metric key: value}) of one scrape."""
    lines = text.strip().splitlines()
    t0, t1 = float(lines[0]), float(lines[-1])
    values = {}
    for line in lines[1:-1]:
        m = _METRIC.match(line)
        if m:
            key = ("iowait", int(m[2])) if m[2] else m[1]
            values[key] = float(m[3])
    return t0, t1, values


class NodeExporter(Witness):
    name = "node_exporter"
    title = "prometheus node_exporter 1.5.0 (scraped)"
    order = 300
    package = "prometheus-node-exporter"
    kind = "tool"

    def __init__(self):
        self._procs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def programs(self) -> tuple[str, ...]:
        return (unpacked(self.package, PROGRAM),)

    def setup(self, guest) -> None:
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
            # (its code paged in from the host share): paid here, not at a window's
            # edge, where a hold has ~2 s to spare before its tasks' reads complete.
            guest.run(f"wget -q -O /dev/null http://127.0.0.1:{PORT}/metrics", check=True, timeout=60)
        self._procs[guest] = proc

    def _scrape(self, run) -> tuple[float, float, dict]:
        r = run.guest.run(f"date +%s.%N; wget -q -O - http://127.0.0.1:{PORT}/metrics; date +%s.%N", check=True)
        return parse_scrape(r.stdout)

    def at_window_open(self, run) -> None:
        run.scratch[self.name] = [self._scrape(run)]

    def at_window_close(self, run) -> None:
        run.scratch[self.name].append(self._scrape(run))

    def stop(self, run):
        return run.scratch[self.name]

    def judge(self, ev, seen) -> None:
        (a0, a1, a), (b0, b1, b) = seen.mine
        w, p = seen.window, seen.p
        start, end = seen.wall_window
        # Each scrape reads between the wall-clock stamps around it: a counter that
        # grows at most 1 s per s differs from the kernel's delta over the window by
        # at most how far those reads can be from the window's ends, plus the
        # tool's rounding (1/USER_HZ at each end).
        slack = max(abs(a0 - start), abs(a1 - start)) + max(abs(b0 - end), abs(b1 - end)) + 2 / USER_HZ
        for cpu in w.cpus:
            tool = b[("iowait", cpu)] - a[("iowait", cpu)]
            kernel = w.cpu(cpu).iowait / USER_HZ
            ev.check(f"{p}node_exporter CPU {cpu} iowait", abs(tool - kernel) <= slack,
                     f"{kernel:.2f} s +- {slack:.2f} (the kernel's delta, /proc/stat, over the window)",
                     f"+{tool:.2f} s", SOURCE)
        # The scrape as the window opens is taken while every task waits; the one as
        # it closes may come after they woke (shown, not judged).
        blocked = a["node_procs_blocked"]
        shown = f"{blocked:g} (as it closed: {b['node_procs_blocked']:g})"
        if seen.wait.iowait:
            ev.check(f"{p}node_procs_blocked", blocked >= seen.n, f">= {seen.n} as the window opens", shown, SOURCE)
        else:
            most = max(seen.base.blocked)
            ev.check(f"{p}node_procs_blocked", blocked <= most, f"<= {most} (idle baseline max)", shown, SOURCE)
        if w.before.text("/proc/pressure/io") is None or "node_pressure_io_waiting_seconds_total" not in a:
            ev.note(f"{seen.label or 'hold'}: node_pressure_io_*: not available (no /proc/pressure/io)")
            return
        for metric, kernel in (("node_pressure_io_waiting_seconds_total", w.some_us),
                               ("node_pressure_io_stalled_seconds_total", w.full_us)):
            tool = b[metric] - a[metric]
            ev.check(f"{p}{metric}", abs(tool - kernel / 1e6) <= slack,
                     f"{kernel / 1e6:.3f} s +- {slack:.2f} (/proc/pressure/io over the window)", f"+{tool:.3f} s",
                     SOURCE)


WITNESS = NodeExporter()
