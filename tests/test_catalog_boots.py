"""Every Debian kernel the catalog offers boots here and is what the catalog says
(harness/kernel_check.py: uname, the command channel, declared features). What a flavour
lacks for the scenarios is reported, not failed: those tests skip with the reason.
`iowitness check --record` runs the same check and records it."""

import pytest

from harness import kernel_check as check
from kernels import seen as seen_file


@pytest.mark.guest
@pytest.mark.parametrize("name", seen_file.debian_entries())
def test_the_catalog_entry_boots(name, request, tmp_path, record_property):
    seen = check.check_entry(name, accel=request.config.getoption("vm_accel"), log_dir=tmp_path)
    record_property("kernel_check", seen.line())
    assert seen.ok, seen.line()


def test_a_runs_verdicts_are_recorded_per_kernel(tmp_path, monkeypatch):
    from tests.helpers import make_run

    run = make_run(tmp_path)
    monkeypatch.setattr(seen_file, "SEEN", tmp_path / "seen.yaml")
    check.record([check.BootCheck("debian-6.1", "6.1.192", ok=True, rootfs="virtiofs", boot_s=12.0)])
    [line] = check.record_run(run)
    seen = seen_file.load_seen()
    assert seen["debian-6.1"]["result"] == "ok"  # the boot check is kept beside it
    suites = seen["debian-6.1"]["suites"]
    assert suites["run"] == run.name and suites["version"] == "6.1.192" and line.startswith("debian-6.1: 6.1.192")
    assert suites["passed"] + suites["failed"] + suites["error"] + suites["skipped"] > 0
    check.record([check.BootCheck("debian-6.1", "6.1.193", ok=True, rootfs="9p")])
    assert seen_file.load_seen()["debian-6.1"]["suites"]["run"] == run.name  # a later boot check keeps it
