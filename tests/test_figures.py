"""harness.figures on a run directory written the way a run writes it."""

from __future__ import annotations

from harness import figures, runs
from suites.watch.evidence import Evidence

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="iowitness">
<testcase classname="suites.x.test_x" name="test_a[k1-1-2]" time="1"/>
<testcase classname="suites.x.test_x" name="test_a[k1-2-2]" time="1"><failure message="m">t</failure></testcase>
</testsuite></testsuites>"""


def _run(tmp_path, name, iowait, pids, ok=True):
    run = tmp_path / name
    (run / "evidence").mkdir(parents=True)
    (run / "junit.xml").write_text(JUNIT)
    for i, (io, pid) in enumerate(zip(iowait, pids, strict=True), 1):
        ev = Evidence(f"suites/x/test_x.py::test_a[k1-{i}-2]")
        ev.check("CPU 1 iowait", ok, "x", f"iowait +{io}, idle +0", "src")
        ev.check("blkio", True, "x", f"{pid}: +1000, {pid + 1}: +999", "src")
        (run / "evidence" / f"a{i}.md").write_text(ev.markdown())
    return run


def test_report_groups_repeats_and_runs(tmp_path):
    a = _run(tmp_path, "a", [577, 611], [400, 500])
    b = _run(tmp_path, "b", [590, 600], [600, 700], ok=False)
    out = figures.report([runs.load(a), runs.load(b)])
    assert "suites/x/test_x.py::test_a[k1]: 2 passed, 2 failed" in out
    assert "CPU 1 iowait: iowait +577..611, idle +0  [4 rows, 2 FAILED]" in out
    assert "blkio: task: +1000, task: +999  [4 rows]" in out


def test_spread_of_different_shapes_lists_them():
    assert figures.spread(["none", "D/1s"]) == "D/1s / none"


def test_bad_argument_is_one_line_and_exit_2(tmp_path, capsys):
    assert figures.main([str(tmp_path / "nope")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
