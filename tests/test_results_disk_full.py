"""A results disk that fills up mid-run: the test in progress fails naming it, the
next test runs, and the JUnit file is complete and valid (the run's reserve made
room for it)."""

import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import child_pytest, first_kernel, only_run

pytestmark = pytest.mark.guest


def test_results_disk_full(tmp_path, request):
    kernel = first_kernel(request.config)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "iowitness-test", str(small)], check=True)
    try:
        child = child_pytest("tests/fault_targets/test_disk_full_target.py", "--kernel", kernel,
                             "--results-dir", str(small), env={"IOWITNESS_DISK_FULL_TARGET": "1"})
        assert "1 failed, 1 passed" in child.stdout, child.stdout[-3000:] + child.stderr[-2000:]
        run = only_run(small)
        cases = {c.get("name"): c for c in ET.parse(run / "junit.xml").iter("testcase")}
        assert set(cases) == {f"test_fills_the_results_disk[{kernel}]", f"test_after_it[{kernel}]"}
        [failure] = cases[f"test_fills_the_results_disk[{kernel}]"].iter("failure")
        assert "results disk full: cannot write" in failure.get("message", "")
        after = [e.tag for e in cases[f"test_after_it[{kernel}]"] if e.tag in ("failure", "error", "skipped")]
        assert after == [], "the next test passed"
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
