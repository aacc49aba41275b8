"""Not a test of its own: two tests a child pytest runs on a kernel booted with a
boot parameter that cannot work (tests/test_boot_failure.py).
Runs only when IOWITNESS_BROKEN_BOOT_TARGET is set."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("IOWITNESS_BROKEN_BOOT_TARGET"),
                                reason="only run as the child of tests/test_boot_failure.py")


def test_first(guest):
    pass


def test_second(guest):
    pass
