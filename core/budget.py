"""Where a run's time goes: every second of it charged to one kind of work.

Code that waits for something the run cannot skip says what it is waiting for
(`with spend(BOOT): ...`); a nested spend takes its time out of the enclosing
one (a tracer attached inside a hold is tracer start-up, not the hold's), and
whatever no spend claims is "everything else" — what a faster harness can cut.
The kinds imposed by the kernel's rules or by the emulator (boots, the windows
and baselines whose lengths the rules fix, tasks running out their hold) are
told apart from the work around them. Per test and in total, written to the
run's budget.json and printed at the end of the run.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

BOOT = "boots"
REBOOT = "reboots after a fault"
KERNEL = "kernel fetch and build"
TRACER = "tracer start-up"           # bpftrace attach, bcc compile, a daemon listening
WINDOW = "windows and baselines"     # sampling for the lengths suites/watch/hold.py fixes
HOLD_EDGES = "tasks into and out of the wait"  # until they wait; until they exit (the workload's hold)
TURN = "waiting for another worker"  # pytest-xdist: an `alone` test runs by itself
OTHER = "everything else"

IMPOSED = (BOOT, REBOOT, KERNEL, TRACER, WINDOW, HOLD_EDGES, TURN)  # in the order printed


class Ledger:
    """Seconds and counts per kind, charged to the innermost spend."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._stack: list[list] = []  # [kind, started] of each open spend, innermost last

    def _charge(self, kind: str, seconds: float) -> None:
        self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds

    @contextmanager
    def spend(self, kind: str):
        now = time.monotonic()
        if self._stack:
            outer = self._stack[-1]
            self._charge(outer[0], now - outer[1])
        entry = [kind, now]
        self._stack.append(entry)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        try:
            yield
        finally:
            now = time.monotonic()
            self._charge(kind, now - entry[1])
            self._stack.remove(entry)
            if self._stack:
                self._stack[-1][1] = now

    def snapshot(self) -> dict[str, float]:
        """Seconds so far per kind, the open spends' running time included."""
        out = dict(self.seconds)
        if self._stack:
            kind, started = self._stack[-1]
            out[kind] = out.get(kind, 0.0) + time.monotonic() - started
        return out


LEDGER = Ledger()


def spend(kind: str):
    return LEDGER.spend(kind)


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if after.get(k, 0.0) - before.get(k, 0.0) > 1e-3}


class Budget:
    """A run's budget: the wall time, each test's seconds per kind, the counts."""

    def __init__(self):
        self.wall_s = 0.0
        self.tests: dict[str, dict] = {}  # nodeid -> {"seconds": total, "kinds": {kind: s}}
        self.counts: dict[str, int] = {}
        self.outside: dict[str, float] = {}  # spent outside any test (session set-up, teardown)

    def add_test(self, nodeid: str, seconds: float, kinds: dict[str, float]) -> None:
        t = self.tests.setdefault(nodeid, {"seconds": 0.0, "kinds": {}})
        t["seconds"] += seconds
        for k, s in kinds.items():
            t["kinds"][k] = t["kinds"].get(k, 0.0) + s

    def add_counts(self, counts: dict[str, int]) -> None:
        for k, n in counts.items():
            self.counts[k] = self.counts.get(k, 0) + n

    def merge(self, data: dict) -> None:
        """Another process's budget (an xdist worker's, a shard's) into this one."""
        for nodeid, t in data.get("tests", {}).items():
            self.add_test(nodeid, t["seconds"], t["kinds"])
        self.add_counts(data.get("counts", {}))
        for k, s in data.get("outside", {}).items():
            self.outside[k] = self.outside.get(k, 0.0) + s

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.tests.values():
            for k, s in t["kinds"].items():
                out[k] = out.get(k, 0.0) + s
            out[OTHER] = out.get(OTHER, 0.0) + max(0.0, t["seconds"] - sum(t["kinds"].values()))
        for k, s in self.outside.items():
            out[k] = out.get(k, 0.0) + s
        return out

    def as_dict(self) -> dict:
        tests_s = sum(t["seconds"] for t in self.tests.values())
        return {"wall_s": round(self.wall_s, 1), "tests_s": round(tests_s, 1),
                "totals_s": {k: round(v, 1) for k, v in sorted(self.totals().items(), key=lambda kv: -kv[1])},
                "counts": self.counts,
                "outside_tests_s": {k: round(v, 1) for k, v in self.outside.items()},
                "tests": {n: {"seconds": round(t["seconds"], 2),
                              "kinds": {k: round(s, 2) for k, s in t["kinds"].items()}}
                          for n, t in self.tests.items()}}

    def write(self, run_dir: Path) -> Path:
        path = run_dir / "budget.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=1) + "\n")
        tmp.replace(path)
        return path


def load(run_dir: Path) -> Budget:
    b = Budget()
    path = run_dir / "budget.json"
    if path.is_file():
        data = json.loads(path.read_text())
        b.merge(data)
        b.wall_s = data.get("wall_s", 0.0)
    return b


def lines(data: dict, slowest: int = 8) -> list[str]:
    """The budget as a person reads it: each kind's share, then where the rest goes."""
    wall, totals = data["wall_s"], data["totals_s"]
    out = [f"wall {wall:.0f} s, tests {data['tests_s']:.0f} s"]
    for kind in (*IMPOSED, OTHER):
        s = totals.get(kind, 0.0)
        n = data["counts"].get(kind)
        count = f" ({n}x)" if n and kind != OTHER else ""
        share = f"{100 * s / data['tests_s']:4.1f} %" if data["tests_s"] else ""
        out.append(f"  {kind:32s} {s:8.1f} s {share}{count}")
    rest = sorted(((t["seconds"] - sum(t["kinds"].values()), n) for n, t in data["tests"].items()), reverse=True)
    if rest:
        out.append(f"  most of {OTHER}:")
        out += [f"    {s:6.1f} s  {n}" for s, n in rest[:slowest] if s > 1]
    return out
