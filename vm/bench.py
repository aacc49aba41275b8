"""Boot and command-channel figures for one kernel, measured side by side, as one JSON object.

    python -m vm.bench --kernel debian-6.12 [--rounds 3] [--commands 200] [--naive 10]
    python -m vm.bench --kernel debian-6.12 --rootfs both [--rounds 3]   # 9p vs virtio-fs

Figures, not a test: nothing here passes or fails on time. The two sides
(`vng --exec true` and the harness's guest) boot in turn, --rounds times each,
and the host's steal time over those rounds is printed with their medians and
spread: one slow moment of a shared host does not make the ratio. The naive
exec_command figure comes from a second guest booted with SSH (the default guest
has none); its boot is reported as boot_to_ready_with_ssh_s. `iowitness bench`
adds the suites' own figures (harness/bench.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kernels
from kernels import tools
from vm import accel as accel_mod
from vm.guest import Guest
from vm.options import GuestOptions


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def vng_exec_boot(kernel, accel: str, cpus: int, memory: str) -> float:
    """Plain `vng --exec true`: the baseline any virtme-ng user pays."""
    home = tempfile.mkdtemp(prefix="iowitness-bench-")
    cmd = [tools.vng(), "-r", str(kernel.boot_target), "--cpus", str(cpus), "--memory", memory, "--exec", "true"]
    if accel == "tcg":
        cmd.insert(1, "--disable-kvm")
    env = dict(os.environ, HOME=home, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    t0 = time.monotonic()
    try:
        subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=True)
        return time.monotonic() - t0
    finally:
        shutil.rmtree(home, ignore_errors=True)


BIG_FILE = "/usr/bin/qemu-system-x86_64"  # ~20 MB, on every host that runs this
COLD_IMPORT = "python3 -c 'import asyncio, email.mime.text, http.client, json, sqlite3'"


def rootfs_figures(kernel, opts: GuestOptions, transports: list[str], rounds: int, commands: int) -> dict:
    """Each transport of the host's root booted `rounds` times, interleaved (a, b,
    a, b, ...) so a slow moment of the host falls on both: boot to ready, command
    round trips, a cold read of a big file and a cold Python start (many small
    files) through the root. Medians and ranges."""
    logs = Path(tempfile.mkdtemp(prefix="iowitness-bench-logs-"))
    got: dict[str, dict[str, list[float]]] = {t: {} for t in transports}
    try:
        for _ in range(rounds):
            for t in transports:
                guest = Guest(kernel, dataclasses.replace(opts, rootfs=t), logs, label=f"{kernel.name}-{t}")
                t0 = time.monotonic()
                guest.boot()
                try:
                    f = got[t]
                    f.setdefault("boot_to_ready_s", []).append(time.monotonic() - t0)
                    rtts = []
                    for _ in range(commands):
                        t1 = time.monotonic()
                        guest.run("true")
                        rtts.append((time.monotonic() - t1) * 1000)
                    f.setdefault("cmd_rtt_ms_p50", []).append(statistics.median(rtts))
                    f.setdefault("cmd_rtt_ms_p99", []).append(_percentile(rtts, 0.99))
                    size = int(guest.run(f"stat -c %s {BIG_FILE}", check=True).stdout)
                    t1 = time.monotonic()
                    guest.run(f"cat {BIG_FILE} > /dev/null", check=True)
                    f.setdefault("cold_read_mb_s", []).append(size / 1e6 / (time.monotonic() - t1))
                    t1 = time.monotonic()
                    guest.run(COLD_IMPORT, check=True, timeout=120)
                    f.setdefault("cold_python_start_s", []).append(time.monotonic() - t1)
                finally:
                    guest.shutdown()
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    return {t: {k: {"median": round(statistics.median(v), 2), "min": round(min(v), 2), "max": round(max(v), 2)}
                for k, v in figures.items()} for t, figures in got.items()}


def host_steal() -> tuple[int, int]:
    """The host's steal and total jiffies (/proc/stat's cpu line): on a shared
    machine a slow moment shows up here, and the figures are read with it."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields)


def _spread(values: list[float], digits: int = 2) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def ours(kernel, opts: GuestOptions, logs: Path, commands: int) -> dict[str, float]:
    """One boot of the harness's guest: boot to ready, command and ping round trips."""
    guest = Guest(kernel, opts, logs)
    t0 = time.monotonic()
    guest.boot()
    try:
        out = {"boot_to_ready_s": time.monotonic() - t0}
        rtts, pings = [], []
        for _ in range(commands):
            t = time.monotonic()
            guest.run("true")
            rtts.append((time.monotonic() - t) * 1000)
        for _ in range(commands):  # the channel alone, no guest process created
            t = time.monotonic()
            guest.ping()
            pings.append((time.monotonic() - t) * 1000)
        out.update(cmd_rtt_ms_p50=statistics.median(rtts), cmd_rtt_ms_p99=_percentile(rtts, 0.99),
                   agent_ping_ms_p50=statistics.median(pings), accel=guest.accel.name, aslr=guest.aslr())
        return out
    finally:
        guest.shutdown()


def naive_ssh(kernel, opts: GuestOptions, logs: Path, n: int) -> dict[str, float]:
    """The naive figure needs SSH, which the channel does not: a guest with it."""
    guest = Guest(kernel, dataclasses.replace(opts, ssh=True), logs, label=f"{kernel.name}-ssh")
    t0 = time.monotonic()
    guest.boot()
    try:
        boot = time.monotonic() - t0
        ssh = guest.ssh.client()  # connected before the clock starts: only exec_command is timed
        naive = []
        for _ in range(n):  # plain paramiko exec_command: sshd + login shell each time
            t = time.monotonic()
            _, out, _ = ssh.exec_command("true")
            out.channel.recv_exit_status()
            naive.append((time.monotonic() - t) * 1000)
        return {"boot_to_ready_with_ssh_s": round(boot, 2),
                "naive_exec_command_ms_p50": round(statistics.median(naive), 1)}
    finally:
        guest.shutdown()


def parser(prog: str = "python -m vm.bench") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--kernel", default="debian-6.12")
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--naive", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--aslr", choices=("on", "off"), default=None, help="as pytest's --vm-aslr")
    ap.add_argument("--rootfs", choices=("9p", "virtiofs", "both"), default=None,
                    help="only the host's root transports side by side (vm/rootfs.py), --rounds boots each")
    ap.add_argument("--rounds", type=int, default=3, help="boots of each side, interleaved (default 3)")
    return ap


def figures(args: argparse.Namespace) -> dict:
    """The boot and round-trip figures the arguments ask for."""
    kernel = kernels.ensure(args.kernel, quiet=True)
    opts = GuestOptions(cpus=args.cpus, memory=args.memory, aslr=None if args.aslr is None else args.aslr == "on")
    if args.rootfs:
        transports = ["9p", "virtiofs"] if args.rootfs == "both" else [args.rootfs]
        return {"kernel": kernel.name, "version": kernel.version, "rounds": args.rounds,
                "commands": args.commands, **rootfs_figures(kernel, opts, transports, args.rounds, args.commands)}
    logs = Path(tempfile.mkdtemp(prefix="iowitness-bench-logs-"))
    steal0 = host_steal()
    exec_boots, mine = [], []
    try:
        # Interleaved (vng, ours, vng, ours, ...): a slow moment of a shared host
        # falls on both sides, and the ratio of medians means something.
        accel = accel_mod.choose(kernel.image, None).name
        for _ in range(args.rounds):
            exec_boots.append(vng_exec_boot(kernel, accel, args.cpus, args.memory))
            mine.append(ours(kernel, opts, logs, args.commands))
        steal1 = host_steal()
        naive = naive_ssh(kernel, opts, logs, args.naive)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    steal = 100 * (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1])
    ready = [m["boot_to_ready_s"] for m in mine]
    return {
        "kernel": kernel.name, "version": kernel.version, "accel": mine[0]["accel"], "guest_aslr": mine[0]["aslr"],
        "rounds": args.rounds, "commands_per_round": args.commands,
        "host_steal_pct": round(steal, 1),
        "vng_exec_boot_s": _spread(exec_boots),
        "boot_to_ready_s": _spread(ready),
        "boot_to_ready_over_vng_exec": round(statistics.median(ready) / statistics.median(exec_boots), 2),
        "cmd_rtt_ms_p50": _spread([m["cmd_rtt_ms_p50"] for m in mine], 1),
        "cmd_rtt_ms_p99": _spread([m["cmd_rtt_ms_p99"] for m in mine], 1),
        "agent_ping_ms_p50": _spread([m["agent_ping_ms_p50"] for m in mine], 1),
        **naive,
    }


def main(argv=None) -> int:
    print(json.dumps(figures(parser().parse_args(argv)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
