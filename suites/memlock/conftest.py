"""Fixtures of the memlock scenario (its library: suites/memlock/workloads.py)."""

from __future__ import annotations

import pytest

from suites.memlock.workloads import LIMIT, ROOT, Workloads
from vm.guest import Guest


@pytest.fixture
def workloads(guest: Guest) -> Workloads:
    return Workloads(guest)


@pytest.fixture
def io_uring(guest: Guest, workloads: Workloads) -> None:
    """io_uring can be compiled out, or switched off (kernel.io_uring_disabled, 6.6+)."""
    result = workloads.uring_attempt(ROOT, LIMIT, 1)
    if result.startswith("setup "):
        pytest.skip(f"{guest.kernel.name}: io_uring_setup fails ({result.split()[1]})")
