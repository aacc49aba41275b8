"""KVM when it really works, TCG otherwise, decided by evidence.

A /dev/kvm node is not evidence: a PVM host has one, and a stock kernel booted
on it with -accel kvm hangs before printing a line (measured on a PVM host, kvm_pvm).
So: no accessible /dev/kvm, or no vmx/svm CPU flag, means TCG; otherwise a probe
boot must show the kernel's first console line within a short timeout.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT_S = 20


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    reason: str


def _cpu_has_virt(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return "vmx" in flags or "svm" in flags
    return False


def probe_kvm_boot(image: Path, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Boot `image` under KVM and wait for the kernel's banner on the serial console."""
    cmd = ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-m", "256", "-nographic",
           "-no-reboot", "-kernel", str(image), "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(p.stdout.fileno(), False)
    seen, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and p.poll() is None:
            seen += p.stdout.read() or b""
            if b"Linux version" in seen:
                return True
            time.sleep(0.2)
        return False
    finally:
        p.kill()
        p.wait()


def choose(image: Path | None = None, forced: str | None = None,
           cpuinfo_path: str = "/proc/cpuinfo", kvm_dev: str = "/dev/kvm") -> Accel:
    forced = forced or os.environ.get("IOWITNESS_ACCEL")
    if forced in ("kvm", "tcg"):
        return Accel(forced, "forced by --vm-accel/IOWITNESS_ACCEL")
    if not os.access(kvm_dev, os.R_OK | os.W_OK):
        return Accel("tcg", f"{kvm_dev} is not accessible")
    if not _cpu_has_virt(Path(cpuinfo_path).read_text()):
        return Accel("tcg", "no vmx/svm flag in /proc/cpuinfo (e.g. a PVM host): KVM cannot boot a stock kernel")
    if image is not None and not probe_kvm_boot(image):
        return Accel("tcg", f"probe boot under KVM printed nothing in {PROBE_TIMEOUT_S}s")
    return Accel("kvm", "vmx/svm present and a probe boot under KVM printed the kernel banner")
