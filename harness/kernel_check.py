"""Does each kernel the catalog offers boot, and is it what the catalog says?

    iowitness check [NAME ...] [--record]   # default: every Debian entry

For each entry: fetch it, boot it (vm.guest, as the tests do), and check that
`uname -r` is the cached version, the command channel answers, and each feature
the entry declares holds. It also says what the scenarios need that the kernel
lacks (those tests skip with the reason; the rest run). `--record` writes what
was seen into kernels/seen.yaml (kernels/seen.py), which `python -m kernels list` shows;
`--record-run results/<run>` adds what a test run of those kernels passed.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import kernels
from harness import runs
from kernels import catalog
from kernels.errors import KernelError
from kernels.seen import load_seen, write
from vm import probes
from vm.errors import GuestError
from vm.options import GuestOptions
from vm.pool import boot_own

# What the scenarios need of a kernel (their @pytest.mark.kconfig / modules /
# a probe), by name: a kernel without one skips the tests that need it.
SCENARIO_NEEDS = {
    "PSI": ("kconfig", "CONFIG_PSI"),
    "delay accounting": ("kconfig", "CONFIG_TASK_DELAY_ACCT"),
    "io_uring": ("kconfig", "CONFIG_IO_URING"),
    "aio": ("kconfig", "CONFIG_AIO"),
    "null_blk": ("module", "null_blk"),
    "BTF": ("has_btf", ""),
    "cgroup2 io.pressure": ("probe", "test -e /sys/fs/cgroup/io.pressure || "
                                     "{ mkdir -p /tmp/cg2 && mount -t cgroup2 none /tmp/cg2 && "
                                     "test -e /tmp/cg2/io.pressure; r=$?; umount /tmp/cg2; exit $r; }"),
}

# How a declared feature is seen in the running kernel. aio-memlock has no probe:
# its patch adds no message or symbol that is sure to be visible (the memlock
# suite's tests are what show it).
FEATURE_PROBES = {
    "no-aio-max-nr": "! test -e /proc/sys/fs/aio-max-nr",
    "aio-max-nr-deprecated": "test -w /proc/sys/fs/aio-max-nr",
    "preempt-rt": "grep -q PREEMPT_RT /proc/version || test \"$(cat /sys/kernel/realtime 2>/dev/null)\" = 1",
}


@dataclass
class BootCheck:
    name: str
    version: str = ""
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    lacks: list[str] = field(default_factory=list)
    rootfs: str = ""
    boot_s: float = 0.0

    def line(self) -> str:
        head = f"{self.name}: {self.version or '?'}: {'ok' if self.ok else 'FAILED'}"
        if self.ok:
            head += f" (booted in {self.boot_s:.1f} s, root over {self.rootfs})"
        tail = "".join(f"\n  problem: {p}" for p in self.problems)
        if self.lacks:
            tail += f"\n  lacks (those tests skip): {', '.join(self.lacks)}"
        return head + tail

    def record(self) -> dict:
        return {"version": self.version, "seen": time.strftime("%Y-%m-%d"), "result": "ok" if self.ok else "failed",
                "root": self.rootfs, "boot_s": round(self.boot_s, 1), "problems": self.problems,
                "lacks": self.lacks}


def check_entry(name: str, accel: str | None = None, log_dir: Path | None = None) -> BootCheck:
    seen = BootCheck(name)
    try:
        k = kernels.ensure(name, quiet=True)
    except KernelError as e:
        seen.problems.append(f"fetch: {e.cause}")
        return seen
    seen.version = k.version
    g = None
    try:
        # Booted as the pool boots: once more after the emulator's stale-int3 race.
        g = boot_own(k, GuestOptions(accel=accel, boot_timeout=300),
                     log_dir or Path(tempfile.mkdtemp(prefix="iowitness-check-")), f"{name}-check")
        seen.boot_s, seen.rootfs = g.boot_seconds, g.rootfs
        uname = g.run("uname -r").stdout.strip()
        if uname != k.version:
            seen.problems.append(f"uname -r says {uname}, the cache says {k.version}")
        if g.run("echo answered").stdout.strip() != "answered":
            seen.problems.append("the command channel does not answer")
        for feature in k.features:
            probe = FEATURE_PROBES.get(feature)
            if probe and not g.run(probe).ok:
                seen.problems.append(f"declares {feature} ({catalog.FEATURES[feature]}), not seen running")
        cfg = probes.kconfig(g)
        for need, (kind, what) in SCENARIO_NEEDS.items():
            have = (cfg.get(what) in ("y", "m") if kind == "kconfig" else
                    probes.module_available(g, what) if kind == "module" else
                    probes.has_btf(g) if kind == "has_btf" else g.run(what).ok)
            if not have:
                seen.lacks.append(need)
    except GuestError as e:
        seen.problems.append(f"{e.fault}: {str(e).splitlines()[0]}")
    finally:
        if g is not None and g.proc is not None:
            g.shutdown()
    seen.ok = not seen.problems
    return seen


def record(results: list[BootCheck]) -> None:
    seen = load_seen()
    for s in results:
        seen[s.name] = {**s.record(), **({"suites": seen[s.name]["suites"]} if "suites" in seen.get(s.name, {})
                                          else {})}
    write(seen)


def record_run(run_dir: Path) -> list[str]:
    """What a test run (results/<run>) saw of each kernel it booted, kept under
    that kernel's entry as `suites`: the verdict counts, the failures by name."""
    run = runs.load(Path(run_dir).resolve())  # its id, not "latest"
    seen, lines = load_seen(), []
    for name, version in run.kernels().items():
        mine = [c for c in run.cases if c.kernel == name]
        counts = {v: sum(c.verdict == v for c in mine) for v in ("passed", "failed", "error", "skipped")}
        entry = seen.setdefault(name, {})
        entry["suites"] = {"run": run.name, "version": version, "seen": time.strftime("%Y-%m-%d"),
                           "commit": _run_commit(run_dir),
                           "tests": sorted({c.file.split("/")[0] + "/" + c.file.split("/")[1] for c in mine
                                            if "/" in c.file}),
                           **counts, "not passed": sorted(c.nodeid for c in mine if c.verdict in ("failed", "error"))}
        lines.append(f"{name}: {version}: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({run.name})")
    write(seen)
    return lines


def _run_commit(run_dir: Path) -> str:
    """The iowitness commit the run was made on (environment.json), "?" if not recorded."""
    try:
        return json.loads((Path(run_dir) / "environment.json").read_text()).get("iowitness") or "?"
    except (OSError, ValueError):
        return "?"
