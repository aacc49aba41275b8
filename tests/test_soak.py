"""The soak command: bad input, verdict counting, and two real runs on a guest."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import runs, soak
from tests.conftest import first_kernel
from tests.helpers import make_run

REPO = Path(__file__).resolve().parent.parent


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert soak.main([]) == 2
    assert soak.main(["0"]) == 2
    assert soak.main(["ten"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_failures_and_flakes_are_named(tmp_path):
    first = make_run(tmp_path / "a")
    bad, flaky = soak.verdict_table([runs.load(first), runs.load(first)])
    assert bad and not flaky  # the sample run has failures, the same in both
    passing = tmp_path / "b" / "run"
    passing.mkdir(parents=True)
    (passing / "junit.xml").write_text((first / "junit.xml").read_text().replace("<failure", "<skipped").replace(
        "</failure>", "</skipped>").replace("<error", "<skipped").replace("</error>", "</skipped>"))
    _, flaky = soak.verdict_table([runs.load(first), runs.load(passing)])
    assert flaky


def test_report_of_existing_runs(tmp_path, capsys):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    assert soak.main(["--report", str(a), str(b)]) == 1  # the sample run has failures
    out = capsys.readouterr().out
    assert f"# soak: 2 run(s): {a.name} {b.name}" in out
    assert "flaky (verdict changed between runs): none" in out


def test_report_of_a_dir_without_results_is_one_line_and_exit_2(tmp_path, capsys):
    assert soak.main(["--report", str(tmp_path)]) == 2
    assert soak.main(["--report"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


@pytest.mark.guest
def test_two_real_runs(tmp_path, request):
    kernel = first_kernel(request.config)
    test = "suites/smoke/test_smoke.py::test_uname_matches_catalog"
    p = subprocess.run([sys.executable, "-m", "harness.soak", "2", test, "--kernel", kernel,
                        "--results-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert f"{test}[{kernel}]: 2 passed" in p.stdout
    assert "flaky (verdict changed between runs): none" in p.stdout
