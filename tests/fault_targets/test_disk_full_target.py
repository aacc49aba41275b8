"""Not a test of its own: a test that fills the results disk, and one after it, run
in a child pytest by tests/test_results_disk_full.py. Runs only when
IOWITNESS_DISK_FULL_TARGET is set."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("IOWITNESS_DISK_FULL_TARGET"),
                                reason="only run as the child of tests/test_results_disk_full.py")


def test_fills_the_results_disk(guest, run_dir):
    with open(run_dir / "filler", "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):  # big steps, then to the last byte
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    assert guest.sh("echo alive") == "alive\n"  # the test itself passes; writing its log cannot


def test_after_it(guest):
    assert guest.sh("echo alive") == "alive\n"
