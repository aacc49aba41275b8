"""Facts read from inside a running guest (the kernel's own view, not the catalog's)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vm.guest import Guest

# Taint bits tests set on purpose by loading iowitness's own modules
# (Documentation/admin-guide/tainted-kernels.rst): O = out-of-tree (12),
# E = unsigned (13). Any other new bit (W, D, L, ...) means the kernel complained.
EXPECTED_TAINT_MASK = (1 << 12) | (1 << 13)


def kernel_version(guest: Guest) -> tuple[int, int, int]:
    """The upstream version. Debian's release (6.1.0-56-amd64) hides the sublevel;
    its `uname -v` has it ("... Debian 6.1.192-2 ..."). /proc/version is no use:
    it also names the compiler ("gcc-12 (Debian 12.2.0-14)")."""
    build = guest.read_text("/proc/sys/kernel/version")
    m = re.search(r"Debian (\d+)\.(\d+)\.(\d+)", build)
    if not m:
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", guest.read_text("/proc/sys/kernel/osrelease"))
    return tuple(int(x or 0) for x in m.groups())


def release(guest: Guest) -> str:
    return guest.sh("uname -r").strip()


def _count_cpu_list(text: str) -> int:
    """CPUs in a kernel cpu list such as "0-1,4" (Documentation/admin-guide/cputopology.rst)."""
    total = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        total += int(hi or lo) - int(lo) + 1
    return total


def possible_cpus(guest: Guest) -> int:
    """num_possible_cpus(), from /sys/devices/system/cpu/possible."""
    return _count_cpu_list(guest.read_text("/sys/devices/system/cpu/possible"))


def online_cpus(guest: Guest) -> int:
    return _count_cpu_list(guest.read_text("/sys/devices/system/cpu/online"))


def has_btf(guest: Guest) -> bool:
    """The kernel publishes its BTF (CONFIG_DEBUG_INFO_BTF): bpftrace then needs no
    kernel headers for its types. Source builds leave it off."""
    return guest.run("test -e /sys/kernel/btf/vmlinux").ok


def taint(guest: Guest) -> int:
    return int(guest.read_text("/proc/sys/kernel/tainted").strip())


def host_kconfig(k) -> dict[str, str]:
    """A cached kernel's config as the host has it (the package's or the tree's), or {}."""
    for path in (k.dir / "boot" / f"config-{k.version}", Path(k.boot) / ".config" if k.boot else None):
        if path is not None and path.is_file():
            return parse_kconfig(path.read_text())
    return {}


def kconfig(guest: Guest) -> dict[str, str]:
    """The running kernel's config: the cached config file, else /proc/config.gz."""
    found = host_kconfig(guest.kernel)
    if found:
        return found
    if guest.run("test -e /proc/config.gz").ok:
        return parse_kconfig(gzip.decompress(guest.read_file("/proc/config.gz")).decode())
    return {}


def parse_kconfig(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"')
    return out


def module_available(guest: Guest, name: str) -> bool:
    """Loadable or built in (modprobe's dry run knows both)."""
    return guest.run(f"modprobe -n -q {name}").ok
