"""Not a test of its own: tests during which the kernel complains, run in a child
pytest by tests/test_kernel_complaints.py. Runs only when IOWITNESS_COMPLAINTS_TARGET is set."""

import os

import pytest

from fixtures.modules import build_module

pytestmark = pytest.mark.skipif(not os.environ.get("IOWITNESS_COMPLAINTS_TARGET"),
                                reason="only run as the child of tests/test_kernel_complaints.py")


def test_warns(guest):
    guest.run(f"insmod {build_module(guest.kernel, 'fault')} what=warn", check=True)


def test_oopses(guest):
    r = guest.run(f"insmod {build_module(guest.kernel, 'fault')} what=oops")
    assert r.rc != 0  # the oops killed insmod; the verdict is the plugin's


def test_after_on_the_same_guest(guest):
    assert guest.label == guest.kernel.name, "the guest was replaced: a WARN or an oops must not cost it"
    assert guest.sh("echo alive") == "alive\n"
