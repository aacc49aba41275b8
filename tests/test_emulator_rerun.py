"""A guest that dies of the emulator's stale-int3 race mid-test is no verdict about
the kernel: the test runs once more on a new guest and keeps only that verdict. The
same death without the int3 oops is the kernel's panic, and is not run again."""

import pytest

from harness import runs
from tests.conftest import child_pytest, first_kernel, only_run

pytestmark = pytest.mark.guest


@pytest.mark.parametrize("oops", ["int3", "plain"])
def test_only_the_emulator_race_runs_a_test_again(oops, tmp_path, request):
    mark = tmp_path / "first-attempt"
    child = child_pytest("tests/fault_targets/test_emulator_fault_target.py", "--kernel", first_kernel(request.config),
                         "--results-dir", str(tmp_path / "results"),
                         env={"IOWITNESS_EMULATOR_TARGET": str(mark), "IOWITNESS_EMULATOR_OOPS": oops})
    if "skipped" in child.stdout and "the stale-int3 race is TCG's" in child.stdout + child.stderr:
        pytest.skip("the guest runs under KVM: no emulator race to plant")
    assert mark.exists(), child.stdout[-3000:]
    run = runs.load(only_run(tmp_path / "results"))
    died = [c for c in run.cases if c.name.startswith("test_dies_once")]
    after = next(c for c in run.cases if c.name.startswith("test_after_it"))
    assert len(died) == 1, [c.nodeid for c in run.cases]  # one testcase, whatever the attempts
    if oops == "int3":
        assert "2 passed, 1 rerun" in child.stdout, child.stdout[-3000:]
        assert (died[0].verdict, died[0].fault) == ("passed", None)
        assert died[0].properties.get("rerun_after") == "emulator fault"
        assert "## Run again" in (run.path / "summary.md").read_text()
    else:
        assert "1 failed, 1 passed" in child.stdout and "rerun" not in child.stdout, child.stdout[-3000:]
        assert (died[0].verdict, died[0].fault, died[0].status) == ("failed", "kernel panic", "FAIL")
    assert (after.verdict, after.fault) == ("passed", None)
