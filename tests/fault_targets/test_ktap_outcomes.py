"""Not a test of its own: one test of each outcome, run in a child pytest by
tests/test_ktap.py to read the KTAP the plugin wrote into the guest's kernel log.
Runs only when IOWITNESS_KTAP_TARGET is set."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("IOWITNESS_KTAP_TARGET"),
                                reason="only run as the child of tests/test_ktap.py")


def test_passes(guest):
    assert guest.sh("echo 1") == "1\n"


def test_fails(guest):
    assert guest.sh("echo 1") == "2\n", "planted failure"


@pytest.mark.features("aio-memlock")
def test_lacks_a_feature(guest):
    pass


def test_panics(guest):
    guest.run("echo c > /proc/sysrq-trigger", timeout=120)  # raises KernelPanic: the verdict


def test_on_the_next_guest(guest):
    assert guest.sh("echo 1") == "1\n"
