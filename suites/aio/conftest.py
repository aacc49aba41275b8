"""Fixtures of the aio scenario (its library: suites/aio/holders.py)."""

from __future__ import annotations

import pytest

from fixtures import WORKLOADS
from fixtures.build import build_c


@pytest.fixture(scope="session")
def aio_bin():
    """fixtures/workloads/aio_workload.c, built on the host."""
    return build_c(WORKLOADS / "aio_workload.c", "-pthread")
