"""`python -m suites`: exit codes, bad input in one line (the behaviours' tests are
found by their markers: tests/test_markers.py)."""

from pathlib import Path

import pytest

from harness.runs import Case
from suites import __main__ as cli
from suites.catalog import BEHAVIOURS

REPO = Path(__file__).resolve().parent.parent


def case(verdict, status=None):
    return Case("suites/x/test_x.py", "t[k]", "k", "1", verdict, "", status and "guest hung", status, 1.0)


@pytest.mark.parametrize(("verdicts", "code"), [
    (["passed", "passed"], 0), (["passed", "failed"], 1), (["skipped"], 4), (["passed", "skipped"], 0),
    (["failed", "error"], 3), ([], 3),
])
def test_exit_code_is_the_verdict(verdicts, code):
    assert cli.exit_code([case(v) for v in verdicts]) == code


def test_a_lost_guest_is_an_error_not_a_failure():
    assert cli.exit_code([case("failed", "MISS")]) == 3


def test_unknown_behaviour_is_one_line_with_suggestions(capsys):
    assert cli.main(["reproduce", "busy-cpu-mask"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no behaviour named 'busy-cpu-mask' (did you mean busy-cpu-masks-iowait?); see --list"]


def test_list(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(BEHAVIOURS)


def test_unknown_kernel_is_one_line_before_anything_boots(capsys):
    assert cli.main(["reproduce", "dstate-vfork", "--kernel", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: nope: unknown kernel")
