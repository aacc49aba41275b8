"""The mutants harness's bookkeeping: its plan file, and how a run's verdicts
become "caught by the right test". The builds and suites it drives are the real
thing and too long for CI: python -m harness.mutants runs them by hand."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import mutants, runs
from harness.mutants import KernelMutant, KernelOutcome, Plan

REPO = Path(__file__).resolve().parent.parent


def test_the_shipped_plan_names_catalog_mutants_on_the_baseline_base():
    plan = mutants.load_plan()
    assert plan.baseline == "source-6.1" and len(plan.mutants) >= 6
    for m in plan.mutants:
        assert (REPO / "kernels" / "patches" / "mutants").is_dir() and m.suites


@pytest.mark.parametrize("text, message", [
    ("baseline: [oops", "mutants.yaml"),
    ("baseline: source-6.1\nsuites: [suites/aio]\nmutants: {debian-6.1: {}}",
     "not a source build"),
    ("baseline: source-6.1\nsuites: [suites/aio]\nmutants: {no-such-kernel: {}}",
     "unknown kernel"),
    ("baseline: source-6.1\nsuites: [suites/nope]\nmutants: {source-6.1-mut-aix-iowait: {}}",
     "no such suite"),
    ("baseline: source-6.1\nsuites: [suites/aio]\nmutants: {source-6.1-mut-aix-iowait: {caught_by: [t]}}",
     "catches"),
    ("baseline: source-6.1\nsuites: [suites/smoke]\nmutants: {source-6.1-mut-aix-iowait: {}}",
     "no test in suites/smoke is marked"),
])
def test_bad_plans_are_one_clear_error(tmp_path, text, message):
    p = tmp_path / "mutants.yaml"
    p.write_text(text)
    with pytest.raises(mutants.BadInput, match=message) as e:
        mutants.load_plan(p)
    assert "\n" not in str(e.value)


def test_kernel_ids_are_stripped_from_test_ids():
    k = "source-6.1-mut-aix-iowait"
    assert runs.without_kernel(f"a.py::t[63-{k}]", k) == "a.py::t[63]"
    assert runs.without_kernel(f"a.py::t[{k}]", k) == "a.py::t"
    assert runs.without_kernel(f"a.py::t[{k}-1022]", k) == "a.py::t[1022]"


PLAN = Plan("base", ("suites/aio",), (KernelMutant("m1", ("suites/aio",)), KernelMutant("m2", ("suites/aio",))))


def _o(kernel, **verdicts):
    ids = {t: f"suites/aio/x.py::{t}" for t in verdicts}
    return KernelOutcome(kernel, ("suites/aio",), {ids[t]: v for t, v in verdicts.items()},
                         {i: ("m1", "m2") for t, i in ids.items() if t.startswith("t_right")})


def test_goal_met_only_when_each_mutant_fails_its_own_test_and_the_baseline_is_clean():
    base = _o("base", t_right="passed", t_other="passed", t_skip="skipped")
    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), _o("m2", t_right="failed")])
    assert ok and rows[0][4] == "all pass" and rows[0][5] == "2 passed, 1 skipped"
    assert [r[3:5] for r in rows[1:]] == [["yes", "yes"], ["yes", "yes"]]

    # An error, or a failure that a fault ended (a lost guest, a hold not made), is not a catch.
    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), _o("m2", t_right="error")])
    assert not ok and rows[2][3:5] == ["yes", "NO"]
    faulted = _o("m2", t_right="failed")
    faulted.faults = {"suites/aio/x.py::t_right": "hold failed"}
    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), faulted])
    assert not ok and rows[2][3:5] == ["yes", "NO"]

    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), _o("m2", t_other="failed")])
    assert not ok and rows[2][3:5] == ["yes", "NO"]  # caught, but by the wrong test

    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), _o("m2", t_right="passed")])
    assert not ok and rows[2][3:5] == ["NO", "NO"]  # survived

    dirty = _o("base", t_right="failed")
    rows, ok = mutants.judge(PLAN, dirty, [_o("m1", t_right="failed"), _o("m2", t_right="failed")])
    assert not ok and rows[0][4] == "NOT all pass"
    rows, _ = mutants.judge(PLAN, base, [_o("m1", **{"t_right[1]": "failed", "t_right[2]": "failed"}),
                                         _o("m2", t_right="failed")])
    assert rows[1][2] == "t_right ×2"

    broken = KernelOutcome("m2", ("suites/aio",), problem="build failed: make exited 2")
    rows, ok = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), broken])
    assert not ok and rows[2][2] == "build failed: make exited 2"


def test_the_table_as_junit_fails_a_survivor_and_a_dirty_baseline():
    import xml.etree.ElementTree as ET

    base = _o("base", t_right="passed")
    rows, _ = mutants.judge(PLAN, base, [_o("m1", t_right="failed"), _o("m2", t_right="passed")])
    suite = ET.fromstring(mutants.junit(rows)).find("testsuite")
    cases = {c.get("name"): c.find("failure") is not None for c in suite.iter("testcase")}
    assert cases == {"base": False, "m1": False, "m2": True}
    rows, _ = mutants.judge(PLAN, _o("base", t_right="failed"), [_o("m1", t_right="failed")])
    suite = ET.fromstring(mutants.junit(rows)).find("testsuite")
    assert [c.find("failure") is not None for c in suite.iter("testcase")] == [True, False]


def test_catches_markers_and_the_plan_must_name_each_other():
    p = Path("mutants.yaml")
    mutants.check_catches(PLAN, {"suites/aio/x.py::a": ("m1",), "suites/aio/x.py::b": ("m2", "m1")}, p)
    with pytest.raises(mutants.BadInput, match="names m3, not a mutant"):
        mutants.check_catches(PLAN, {"suites/aio/x.py::a": ("m1", "m3"), "suites/aio/x.py::b": ("m2",)}, p)
    with pytest.raises(mutants.BadInput, match="mutant m2: no test in suites/aio is marked"):
        mutants.check_catches(PLAN, {"suites/aio/x.py::a": ("m1",), "suites/dstate/y.py::b": ("m2",)}, p)


def test_cli_refuses_an_unknown_mutant_in_one_line():
    p = subprocess.run([sys.executable, "-m", "harness.mutants", "--only", "nope", "--no-build"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "nope" in p.stderr


def test_a_finished_kernels_outcome_is_kept_and_read_back(tmp_path):
    o = KernelOutcome("k", ("suites/aio",), {"suites/aio/x.py::a": "failed"}, {"suites/aio/x.py::a": ("k",)}, "",
                      {"suites/aio/x.py::a": "guest lost"})
    mutants.save_outcome(o, tmp_path / "k")
    assert mutants.load_outcome(tmp_path / "k", ("suites/aio",)) == o
    assert mutants.load_outcome(tmp_path / "k", ("suites/dstate",)) is None  # other suites: run again
    (tmp_path / "k" / mutants.OUTCOME).write_text("{")  # torn: run again
    assert mutants.load_outcome(tmp_path / "k", ("suites/aio",)) is None
    assert mutants.load_outcome(tmp_path / "none", ("suites/aio",)) is None


def test_resume_refuses_another_version_of_the_tests(tmp_path):
    (tmp_path / mutants.PLAN).write_text('{"commit": "abc", "suites": {"k": ["suites/aio"]}}')
    assert mutants.resume_plan(tmp_path, "abc") == {"k": ["suites/aio"]}
    with pytest.raises(mutants.BadInput, match="one table must come from one version"):
        mutants.resume_plan(tmp_path, "def")
    with pytest.raises(mutants.BadInput, match="one version"):
        mutants.resume_plan(tmp_path, "abc+changes")
    with pytest.raises(mutants.BadInput, match="not a mutants run directory"):
        mutants.resume_plan(tmp_path / "elsewhere", "abc")


def test_resume_runs_only_the_kernels_without_an_outcome(tmp_path, monkeypatch):
    ran = []

    def fake_run(name, suites, out):
        ran.append(name)
        return KernelOutcome(name, suites, {"suites/aio/x.py::a": "passed"})

    monkeypatch.setattr(mutants, "_run", fake_run)
    mutants.save_outcome(KernelOutcome("base", ("suites/aio",), {"suites/aio/x.py::a": "passed"}), tmp_path / "base")
    (tmp_path / "m1").mkdir()  # interrupted: no outcome
    got = mutants._outcomes([("base", ("suites/aio",)), ("m1", ("suites/aio",))], tmp_path, no_build=True)
    assert ran == ["m1"] and [o.kernel for o in got] == ["base", "m1"]
    assert mutants.load_outcome(tmp_path / "m1", ("suites/aio",)) is not None


def test_cli_resume_of_a_directory_that_is_not_a_run_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "harness.mutants", "--resume", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "not a mutants run" in p.stderr


def test_sigterm_stops_the_child_before_the_harness_goes(tmp_path):
    """The harness's child (a build, a pytest session) is asked to stop, and gone,
    when the harness is terminated: no stray process keeps a guest or make going."""
    marker = tmp_path / "child-stopped"
    child = (f"import signal, sys, time, pathlib; "
             f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).write_text('x'), sys.exit(0))); "
             f"print('up', flush=True); time.sleep(60)")
    harness = ("import signal, sys; from harness import mutants; "
               "signal.signal(signal.SIGTERM, mutants._interrupt)\n"
               "try:\n"
               f"    mutants._child(['-c', {child!r}])\n"
               "except KeyboardInterrupt:\n"
               "    sys.exit(130)\n")
    p = subprocess.Popen([sys.executable, "-c", harness], cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert p.stderr.readline().strip() == "up"  # the child's stdout goes to the harness's stderr
    p.terminate()
    assert p.wait(timeout=30) == 130
    assert marker.read_text() == "x"
