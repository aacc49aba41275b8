"""The markers that relate tests to named things (behaviours, planted-bug kernels,
catalog features) are checked at collection and are the one source of those
relations."""

import json

import pytest

from harness import mutants
from suites.catalog import BEHAVIOURS
from tests.conftest import child_pytest


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    out = tmp_path_factory.mktemp("marked") / "marked.json"
    p = child_pytest("--collect-only", "suites", "--marked-json", str(out), timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return json.loads(out.read_text())


def test_every_behaviour_is_shown_by_a_test(marked):
    shown = {b for row in marked for b in row["behaviour"]}
    assert shown == set(BEHAVIOURS)


def test_every_planted_bug_kernel_has_a_test_that_should_catch_it(marked):
    caught = {k for row in marked for k in row["catches"]}
    assert caught == {m.name for m in mutants.load_plan().mutants}


def _bad_test(tmp_path, decorator: str) -> str:
    f = tmp_path / "test_bad_marker.py"
    f.write_text(f"import pytest\n\n\n{decorator}\ndef test_x():\n    pass\n")
    return str(f)


@pytest.mark.parametrize("decorator, message", [
    ('@pytest.mark.behaviour("dstate-vfrok")', "@pytest.mark.behaviour('dstate-vfrok'): not one of"),
    ('@pytest.mark.features("aio-memlok")', "@pytest.mark.features('aio-memlok'): not one of"),
    ('@pytest.mark.catches("source-6.1-mut-nope")', "@pytest.mark.catches('source-6.1-mut-nope'): not one of"),
], ids=["behaviour", "feature", "catches"])
def test_a_name_outside_its_vocabulary_stops_the_run_in_one_line(tmp_path, decorator, message):
    p = child_pytest("-p", "harness.plugin", _bad_test(tmp_path, decorator), "--results-dir", str(tmp_path),
                     timeout=120)
    assert p.returncode == 4, p.stdout + p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], p.stderr


def test_an_unknown_behaviour_to_select_is_one_line(tmp_path):
    p = child_pytest("suites", "--behaviour", "nope", "--results-dir", str(tmp_path), timeout=120)
    assert p.returncode == 4
    assert "--behaviour: no behaviour named nope" in p.stderr
