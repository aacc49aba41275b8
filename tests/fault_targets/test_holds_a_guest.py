"""Not a test of its own: a target that another test runs in a child pytest and
then interrupts. Runs only when IOWITNESS_FAULT_TARGET names a file to signal."""

import os
from pathlib import Path

import pytest

TARGET = os.environ.get("IOWITNESS_FAULT_TARGET")


pytestmark = pytest.mark.skipif(not TARGET, reason="only run as the child of tests/test_signals.py")


def test_first(guest):
    """A test that ends before the signal: it keeps its testcase."""
    assert guest.sh("echo alive") == "alive\n"


def test_hold_the_guest_until_interrupted(guest):
    Path(TARGET).write_text(str(guest.proc.pid))
    Path(f"{TARGET}.{guest.kernel.name}").write_text(str(guest.proc.pid))  # per kernel, for parallel runs
    guest.run("sleep 600", timeout=700)
