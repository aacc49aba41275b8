"""Boot and command-channel figures for one kernel, measured side by side, as one JSON object.

    python -m vm.bench --kernel debian-6.12 [--commands 200] [--naive 10]
    python -m vm.bench --kernel debian-6.12 --rootfs both [--rounds 3]   # 9p vs virtio-fs

Figures, not a test: nothing here passes or fails on time. The naive
exec_command figure comes from a second guest booted with SSH (the default guest
has none); its boot is reported as boot_to_ready_with_ssh_s.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.bench")
    ap.add_argument("--kernel", default="debian-6.12")
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--naive", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--aslr", choices=("on", "off"), default=None, help="as pytest's --vm-aslr")
    ap.add_argument("--rootfs", choices=("9p", "virtiofs", "both"), default=None,
                    help="only the host's root transports side by side (vm/rootfs.py), --rounds boots each")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    kernel = kernels.ensure(args.kernel, quiet=True)
    opts = GuestOptions(cpus=args.cpus, memory=args.memory, aslr=None if args.aslr is None else args.aslr == "on")
    if args.rootfs:
        transports = ["9p", "virtiofs"] if args.rootfs == "both" else [args.rootfs]
        print(json.dumps({"kernel": kernel.name, "version": kernel.version, "rounds": args.rounds,
                          "commands": args.commands,
                          **rootfs_figures(kernel, opts, transports, args.rounds, args.commands)}, indent=1))
        return 0
    logs = Path(tempfile.mkdtemp(prefix="iowitness-bench-logs-"))
    guest = Guest(kernel, opts, logs)
    t0 = time.monotonic()
    guest.boot()
    try:
        boot_to_ready = time.monotonic() - t0
        rtts = []
        for _ in range(args.commands):
            t = time.monotonic()
            guest.run("true")
            rtts.append((time.monotonic() - t) * 1000)
        pings = []  # the channel alone, no guest process created
        for _ in range(args.commands):
            t = time.monotonic()
            guest.ping()
            pings.append((time.monotonic() - t) * 1000)
        accel = guest.accel.name
        aslr = guest.aslr()
    finally:
        guest.shutdown()
    # The naive figure needs SSH, which the channel does not: a second guest with it.
    ssh_guest = Guest(kernel, dataclasses.replace(opts, ssh=True), logs, label=f"{kernel.name}-ssh")
    t0 = time.monotonic()
    ssh_guest.boot()
    try:
        ssh_boot_to_ready = time.monotonic() - t0
        ssh = ssh_guest.ssh.client()  # connected before the clock starts: only exec_command is timed
        naive = []
        for _ in range(args.naive):  # plain paramiko exec_command: sshd + login shell each time
            t = time.monotonic()
            _, out, _ = ssh.exec_command("true")
            out.channel.recv_exit_status()
            naive.append((time.monotonic() - t) * 1000)
    finally:
        ssh_guest.shutdown()
        shutil.rmtree(logs, ignore_errors=True)
    exec_boot = vng_exec_boot(kernel, accel, args.cpus, args.memory)
    print(json.dumps({
        "kernel": kernel.name, "version": kernel.version, "accel": accel, "guest_aslr": aslr,
        "vng_exec_boot_s": round(exec_boot, 2),
        "boot_to_ready_s": round(boot_to_ready, 2),
        "boot_to_ready_over_vng_exec": round(boot_to_ready / exec_boot, 2),
        "boot_to_ready_with_ssh_s": round(ssh_boot_to_ready, 2),
        "cmd_rtt_ms_p50": round(statistics.median(rtts), 1),
        "cmd_rtt_ms_p99": round(_percentile(rtts, 0.99), 1),
        "commands": len(rtts),
        "agent_ping_ms_p50": round(statistics.median(pings), 1),
        "naive_exec_command_ms_p50": round(statistics.median(naive), 1),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
