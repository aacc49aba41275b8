"""Reading the guest's console log: panics, oopses and warnings."""

from __future__ import annotations

import re

PANIC = re.compile(r"Kernel panic - not syncing.*")
# What the kernel prints when it taints itself or dies; see lib/bug.c, kernel/panic.c.
TROUBLE = re.compile(
    r"(Kernel panic - not syncing|BUG: |Oops: |WARNING: CPU: |general protection fault|"
    r"kernel BUG at |Unable to handle kernel|watchdog: BUG: soft lockup|INFO: task .* blocked for more than)"
)


# QEMU's TCG before 8.1 (Debian 12 ships 7.2) can leave another vCPU running a
# stale translation of the int3 that text_poke_bp() plants while it flips a
# static key, after the kernel has already removed it: an "int3" oops at a
# jump-label site, seen at boot ("sched_clock: Marking stable" flips
# __sched_clock_stable). Reported by Richard W.M. Jones on LKML, 2023-07-05,
# "qemu-x86_64 booting with 8.0.0 still see int3" (Red Hat bz 2216496); the
# instruction at RIP is the nop that replaced the int3 ("66 <90>").
EMULATOR_INT3 = re.compile(r"^.*\bint3: 0000 \[#\d+\].*$", re.M)


def find_panic(text: str) -> str | None:
    """The panic line, then the lines that led to it, or None. The panic line
    comes first so that a one-line summary of the error still names it."""
    m = PANIC.search(text)
    if not m:
        return None
    lines = text[: m.end()].splitlines()
    return "\n".join([lines[-1], *lines[-25:-1]])


OOPS_HEADER = re.compile(r"^.*\[#\d+\].*$", re.M)  # lib/bug.c, arch/x86/kernel/dumpstack.c: "...: 0000 [#1] ..."


def emulator_int3(text: str) -> str | None:
    """The oops line if the guest died of the TCG stale-int3 race, else None: the
    oops that led to the panic (the last before it) is an int3 one. An int3 oops
    the guest lived through does not explain a later, other panic."""
    m = PANIC.search(text)
    if not m:
        return None
    headers = OOPS_HEADER.findall(text[: m.start()])
    if not headers or not EMULATOR_INT3.fullmatch(headers[-1]):
        return None
    return headers[-1].strip()


def trouble_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if TROUBLE.search(ln)]
