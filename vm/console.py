"""Reading the guest's console log: panics, oopses and warnings."""

from __future__ import annotations

import re

PANIC = re.compile(r"Kernel panic - not syncing.*")
# What the kernel prints when it taints itself or dies; see lib/bug.c, kernel/panic.c.
TROUBLE = re.compile(
    r"(Kernel panic - not syncing|BUG: |Oops: |WARNING: CPU: |general protection fault|"
    r"kernel BUG at |Unable to handle kernel|watchdog: BUG: soft lockup|INFO: task .* blocked for more than)"
)


def find_panic(text: str) -> str | None:
    """The panic line and the lines that led to it, or None."""
    m = PANIC.search(text)
    if not m:
        return None
    lines = text[: m.end()].splitlines()
    return "\n".join(lines[-25:])


def trouble_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if TROUBLE.search(ln)]
