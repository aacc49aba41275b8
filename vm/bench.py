"""Boot and command-channel figures for one kernel, measured side by side, as one JSON object.

    python -m vm.bench --kernel debian-6.12 [--commands 200] [--naive 10]

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.bench")
    ap.add_argument("--kernel", default="debian-6.12")
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--naive", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--aslr", choices=("on", "off"), default=None, help="as pytest's --vm-aslr")
    args = ap.parse_args(argv)
    kernel = kernels.ensure(args.kernel, quiet=True)
    opts = GuestOptions(cpus=args.cpus, memory=args.memory, aslr=None if args.aslr is None else args.aslr == "on")
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
