"""Per-test guest hygiene: mark the kernel log, and undo what a test left behind.

Before a test: a marker line in /dev/kmsg, the taint value, loaded modules and
mounts. After: background processes reaped, modules the test loaded removed,
mounts it made undone, and the kernel log since the marker returned for the
verdict (an oops, BUG or WARNING in it fails the test).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vm import console, probes
from vm.guest import Guest


@dataclass
class GuestState:
    marker: str
    taint: int
    modules: set[str]
    mounts: list[str]


def _modules(guest: Guest) -> set[str]:
    return {line.split()[0] for line in guest.read_text("/proc/modules").splitlines() if line.strip()}


def _mounts(guest: Guest) -> list[str]:
    return [line.split()[1] for line in guest.read_text("/proc/mounts").splitlines() if line.strip()]


def begin(guest: Guest, test_id: str) -> GuestState:
    marker = f"iowitness: begin {test_id} {time.time_ns()}"
    # The newline matters: printk leaves a record without one open for continuation,
    # and readers (dmesg) see only finalized records.
    guest.write_file("/dev/kmsg", marker.encode() + b"\n")
    return GuestState(marker, probes.taint(guest), _modules(guest), _mounts(guest))


def kernel_log_since(guest: Guest, snap: GuestState) -> str:
    """The kernel log from the test's marker on. Without the marker (the ring buffer
    wrapped) the whole log is what there is: said so on its first line."""
    text = guest.sh("dmesg")
    idx = text.find(snap.marker)
    return text[idx:] if idx >= 0 else f"(marker {snap.marker!r} not in dmesg: whole log)\n{text}"


def trouble(guest: Guest, snap: GuestState, log: str) -> list[str]:
    """Why the kernel's own log or taint says this test broke something."""
    bad = console.trouble_lines(log)
    now = probes.taint(guest)
    new_bits = (now & ~snap.taint) & ~probes.EXPECTED_TAINT_MASK
    if new_bits:
        bad.append(f"taint changed {snap.taint} -> {now} (new bits {new_bits:#x}; "
                   "see Documentation/admin-guide/tainted-kernels.rst)")
    return bad


def restore(guest: Guest, snap: GuestState) -> list[str]:
    """Undo what the test left; returns what had to be undone (for the log)."""
    undone = []
    reaped = guest.reap()
    if reaped["killed"]:
        undone.append(f"killed background processes {reaped['killed']}")
    for mnt in reversed([m for m in _mounts(guest) if m not in snap.mounts]):
        guest.run(f"umount -l {mnt}")
        undone.append(f"unmounted {mnt}")
    for mod in sorted(_modules(guest) - snap.modules - guest.kept_modules):
        if guest.run(f"modprobe -r {mod} || rmmod {mod}", timeout=60).ok:
            undone.append(f"removed module {mod}")
    return undone
