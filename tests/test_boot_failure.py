"""A boot that never reaches userspace (no such initramfs init: the kernel cannot
mount a root): its tests error with the boot's verdict, the kernel is booted once
(not once per test), and the run's results stay valid."""

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import child_pytest, first_kernel, only_run

pytestmark = pytest.mark.guest


def test_initramfs_init_that_does_not_exist(tmp_path, request):
    kernel = first_kernel(request.config)
    child = child_pytest("tests/fault_targets/test_two_on_a_broken_boot.py", "--kernel", kernel,
                         "--vm-append", "rdinit=/nonexistent-init", "--results-dir", str(tmp_path),
                         env={"IOWITNESS_BROKEN_BOOT_TARGET": "1"})
    assert "2 errors" in child.stdout, child.stdout[-3000:]
    run = only_run(tmp_path)
    cases = list(ET.parse(run / "junit.xml").iter("testcase"))
    assert len(cases) == 2
    messages = [e.get("message", "") for c in cases for e in c.iter("error")]
    assert len(messages) == 2, messages
    assert all("kernel panic during boot" in m and "Unable to mount root fs" in m for m in messages), messages
    assert len(list((run / "console").glob("*.log"))) == 1, "booted once, not once per test"
    assert "nonexistent-init" in next((run / "console").glob("*.log")).read_text(errors="replace")
