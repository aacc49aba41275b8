"""A fault's verdict travels with its exception into JUnit, and every report
reads it from there: QEMU killed mid-test is a lost guest (KCIDB MISS, no verdict
about the kernel), not the kernel's FAIL."""

import pytest

from harness import kcidb, runs
from tests.conftest import child_pytest, first_kernel, only_run

pytestmark = pytest.mark.guest


def test_qemu_killed_mid_test_is_miss_in_kcidb(tmp_path, request):
    kernel = first_kernel(request.config)
    child = child_pytest("tests/fault_targets/test_qemu_killed_target.py", "--kernel", kernel,
                         "--results-dir", str(tmp_path))
    assert "1 failed, 1 passed" in child.stdout, child.stdout[-3000:]
    run = runs.load(only_run(tmp_path))
    lost = next(c for c in run.cases if c.name.startswith("test_loses_its_guest"))
    assert (lost.verdict, lost.fault, lost.status, lost.lost_guest) == ("failed", "QEMU exited", "MISS", True)
    after = next(c for c in run.cases if c.name.startswith("test_after_it"))
    assert (after.verdict, after.fault) == ("passed", None)
    statuses = {t["comment"].split("::")[1].split("[")[0]: t["status"] for t in kcidb.export(run.path)["tests"]}
    assert statuses == {"test_loses_its_guest": "MISS", "test_after_it": "PASS"}
    assert "QEMU exited" in (run.path / "summary.md").read_text()
