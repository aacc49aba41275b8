"""A WARN or an oops without a panic fails the test during which it was logged (with
the log line), and the next test runs on the same guest."""

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import child_pytest, first_kernel, only_run

pytestmark = pytest.mark.guest


def test_warn_and_oops_fail_their_test_only(tmp_path, request):
    kernel = first_kernel(request.config)
    child = child_pytest("tests/fault_targets/test_kernel_complaints_target.py", "--kernel", kernel,
                         "--results-dir", str(tmp_path), env={"IOWITNESS_COMPLAINTS_TARGET": "1"})
    assert "2 failed, 1 passed" in child.stdout, child.stdout[-3000:]
    run = only_run(tmp_path)
    failures = {c.get("name"): f.get("message", "") + (f.text or "")
                for c in ET.parse(run / "junit.xml").iter("testcase") for f in c.iter("failure")}
    warn, oops = failures[f"test_warns[{kernel}]"], failures[f"test_oopses[{kernel}]"]
    assert "the kernel complained during this test" in warn and "WARNING: CPU: " in warn
    assert "taint changed" in warn  # W
    assert "the kernel complained during this test" in oops
    assert "BUG: kernel NULL pointer dereference" in oops or "Oops: " in oops
    assert len(list((run / "console").glob("*.log"))) == 1, "one guest for all three"
