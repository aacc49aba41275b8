"""Hands the harness what it needs from the suites (harness/registry.py): called
by the root conftest.py and by the `iowitness` command before they do anything."""

from __future__ import annotations

from harness import registry


def install() -> None:
    from suites.agreement import MATRIX
    from suites.catalog import BEHAVIOURS
    from suites.watch.witness import OVERRIDES
    from suites.witnesses import registered

    registry.witnesses = registered
    registry.behaviours = BEHAVIOURS
    registry.matrix_order = lambda: [c.name for c in MATRIX]
    registry.overrides = OVERRIDES
