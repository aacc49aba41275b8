"""The bisection's decisions without a kernel (harness/bisect.py): how a session is
read, when a revision is good, bad or skipped, which commit comes next, and the
git side on a small repository. The whole command runs on a real kernel history
as docs/bisect.md shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness import bisect
from harness.bisect import BAD, FAIL, GOOD, INFRA, PASS, SKIP
from harness.runs import Case
from kernels.catalog import DEFAULT_CATALOG
from tests.conftest import CHILD, first_kernel


def _case(verdict: str, fault: str | None = None, status: str | None = None, name: str = "test_x[bisect]"):
    return Case("suites/aio/test_accounting.py", name, "bisect", "6.1", verdict, "why", fault, status)


def test_a_witness_that_disagrees_is_a_failure():
    assert bisect.classify(1, [_case("passed"), _case("failed")])[0] == FAIL


def test_a_lost_guest_or_a_harness_error_is_no_verdict():
    assert bisect.classify(1, [_case("failed", "guest lost", "MISS")])[0] == INFRA
    assert bisect.classify(1, [_case("error", "command timeout", "ERROR")])[0] == INFRA
    assert bisect.classify(2, [_case("passed")])[0] == INFRA  # pytest interrupted
    assert bisect.classify(0, [])[0] == INFRA  # nothing ran


def test_a_finding_beside_a_fault_is_still_a_failure():
    assert bisect.classify(1, [_case("failed", "guest lost", "MISS"), _case("failed", name="b")])[0] == FAIL


def test_passes_and_skips_are_a_pass():
    assert bisect.classify(0, [_case("passed"), _case("skipped")]) == (PASS, "1 passed")


@pytest.mark.parametrize(("results", "k", "want"), [
    ([PASS], 2, None),
    ([PASS, PASS], 2, GOOD),
    ([FAIL], 2, None),  # one failure is not yet a reproduced one
    ([FAIL, FAIL], 2, BAD),
    ([FAIL, PASS, FAIL], 2, BAD),
    ([FAIL, PASS, PASS, PASS], 2, SKIP),  # failed once in K + 2: neither
    ([INFRA, INFRA], 2, SKIP),
    ([INFRA, PASS, PASS], 2, GOOD),
    ([PASS, PASS, PASS], 3, GOOD),
])
def test_verdict(results, k, want):
    assert bisect.verdict(results, k) == want


def test_a_revision_that_only_faults_is_never_bad():
    results = []
    while (v := bisect.verdict(results, 2)) is None:
        results.append(bisect.classify(1, [_case("failed", "guest lost", "MISS")])[0])
    assert v == SKIP and len(results) == 2


def test_the_search_skips_around_an_unbuildable_commit():
    # 8 commits after the good one; the 4th does not build; the 7th is the first bad.
    truth = {i: (BAD if i >= 6 else GOOD) for i in range(8)}
    truth[3] = SKIP
    verdicts, order = {7: BAD}, []
    while (i := bisect.next_index(8, verdicts)) is not None:
        order.append(i)
        verdicts[i] = truth[i]
    assert order == [3, 2, 4, 5, 6]
    assert bisect.culprits(8, verdicts) == [6]


def test_a_skipped_neighbour_leaves_both_candidates():
    verdicts = {7: BAD, 5: GOOD, 6: SKIP}
    assert bisect.next_index(8, verdicts) is None
    assert bisect.culprits(8, verdicts) == [6, 7]


def test_confidence_falls_with_runs_that_went_against_their_verdict():
    clean = {"a": {"verdict": GOOD, "results": [PASS, PASS]}, "b": {"verdict": BAD, "results": [FAIL, FAIL]}}
    flaky = {"a": {"verdict": GOOD, "results": [PASS, PASS]},
             "b": {"verdict": BAD, "results": [FAIL, PASS, PASS, FAIL]}}
    assert 0 < bisect.confidence(flaky) < bisect.confidence(clean) < 1


def _repo(tmp_path):
    tree = tmp_path / "linux"
    (tree / "kernel").mkdir(parents=True)
    (tree / "Makefile").write_text("all:\n")
    (tree / "kernel" / "a.c").write_text("0\n")

    def git(*a):
        return subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", *a],
                              check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    for n in range(1, 4):
        (tree / "kernel" / "a.c").write_text(f"{n}\n")
        git("commit", "-q", "-am", f"change {n}")
    return tree, git


def test_the_commits_between_are_the_first_parent_history(tmp_path):
    tree, git = _repo(tmp_path)
    got = bisect.commits_between(tree, "HEAD~3", "HEAD")
    assert got == git("rev-list", "--reverse", "HEAD~3..HEAD").split()
    assert bisect.describe(tree, got[-1])["subject"] == "change 3"
    with pytest.raises(bisect.BisectError, match="not an ancestor"):
        bisect.commits_between(tree, "HEAD", "HEAD~1")
    with pytest.raises(bisect.BisectError, match="no-such-rev"):
        bisect.commits_between(tree, "no-such-rev", "HEAD")


def test_a_tree_with_changes_is_refused(tmp_path):
    tree, _ = _repo(tmp_path)
    bisect.check_tree(tree)
    (tree / "kernel" / "a.c").write_text("dirty\n")
    with pytest.raises(bisect.BisectError, match="uncommitted changes"):
        bisect.check_tree(tree)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from harness.kernel_commands import main
    tree, _ = _repo(tmp_path)
    assert main(["bisect", "--tree", str(tree), "--good", "HEAD~1", "--bad", "HEAD", "--state",
                 str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["bisect-one", "--tree", str(tmp_path / "nowhere"), "--", "suites/aio"]) == bisect.ABORT


def _fake(monkeypatch, tmp_path, images: dict[str, str | None], results: dict[str, list[str]]):
    """A subject whose revisions 'build' to `images` (None: the build fails) and whose
    sessions give `results` in turn; counts what was built and run."""
    done = {"built": [], "runs": []}

    def prepare(rev):
        done["built"].append(rev)
        return bisect.Built(images[rev], "6.1", 1.0) if images[rev] else "make bzImage failed: error: x"

    def run_tests(state, subject, rev, tests, n):
        done["runs"].append(rev)
        return bisect.StepOutcome(results[rev][n - 1], "why", "", 1.0)
    monkeypatch.setattr(bisect, "run_tests", run_tests)
    subject = bisect.Subject(prepare, lambda rev: tmp_path / "c.yaml", "bisect",
                             lambda rev: {"short": rev, "subject": f"commit {rev}", "date": ""})
    return subject, done


def _search(subject, state, commits):
    verdicts = {len(commits) - 1: bisect.judge(subject, commits[-1], state, ["t"], 2, lambda s: None)}
    while (i := bisect.next_index(len(commits), verdicts)) is not None:
        verdicts[i] = bisect.judge(subject, commits[i], state, ["t"], 2, lambda s: None)
    return verdicts


def test_the_demo_history_names_the_planted_commit(monkeypatch, tmp_path):
    # c4 does not build, c7 is the regression, c8 changes nothing built.
    commits = [f"c{i}" for i in range(1, 9)]
    images = {c: f"img{c}" for c in commits} | {"c4": None, "c8": "imgc7"}
    results = {c: [PASS, PASS] for c in commits} | {"c7": [FAIL, FAIL], "c8": [FAIL, PASS, FAIL]}
    subject, done = _fake(monkeypatch, tmp_path, images, results)
    state = bisect.State(tmp_path / "s")
    state.path.mkdir()
    verdicts = _search(subject, state, commits)
    assert bisect.culprits(8, verdicts) == [6]  # c7
    assert state.data["steps"]["c4"]["verdict"] == SKIP
    assert state.data["steps"]["c7"]["reused"] == "c8" and "c7" not in done["runs"]
    assert done["runs"].count("c8") == 3  # a failure, a pass, the failure reproduced
    text = bisect.report("demo", commits, "c0", state, subject.label)
    assert "First bad commit: c7 commit c7" in text


def test_an_interrupted_bisection_resumes_where_it_stopped(monkeypatch, tmp_path):
    commits = [f"c{i}" for i in range(1, 5)]
    images = {c: f"img{c}" for c in commits}
    results = {c: [PASS, PASS] for c in commits} | {"c3": [FAIL, FAIL], "c4": [FAIL, FAIL]}
    subject, done = _fake(monkeypatch, tmp_path, images, results)
    state = bisect.State(tmp_path / "s")
    state.path.mkdir()
    bisect.judge(subject, "c4", state, ["t"], 2, lambda s: None)
    calls = {"n": 0}
    real = bisect.run_tests

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(bisect, "run_tests", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _search(subject, bisect.State(state.path), commits)
    monkeypatch.setattr(bisect, "run_tests", real)
    again = bisect.State(state.path)  # a new process: from the file
    assert again.data["steps"]["c2"]["results"] == [PASS]
    verdicts = _search(subject, again, commits)
    assert bisect.culprits(4, verdicts) == [2]
    assert done["runs"].count("c2") == 2  # the one kept, and one more


def test_the_report_as_a_page_keeps_its_table():
    page = bisect.as_html("# Bisection\n\n**First bad commit: c7**\n\n| a | b |\n|---|---|\n| 1 | <2> |\n"
                          "\n    CHANGED x\n")
    assert "<h1>Bisection</h1>" in page and "<th>a</th>" in page and "<td>&lt;2&gt;</td>" in page
    assert "<pre>CHANGED x</pre>" in page and "**" not in page


def test_the_report_is_attached_to_the_runs_it_names(tmp_path):
    """The first bad revision's failing run, and the last good one's passing run,
    show the bisection in their summary; a revision with no run is left alone."""
    junit = (Path(__file__).parent / "data" / "junit-sample.xml").read_text()
    state = bisect.State(tmp_path / "state")
    state.path.mkdir()
    for rev, result in (("c1", PASS), ("c2", FAIL)):
        run = tmp_path / rev
        run.mkdir()
        (run / "junit.xml").write_text(junit)
        state.step(rev)["runs"].append({"result": result, "why": "", "run": str(run), "seconds": 1})
    state.step("c3")  # skipped: never ran
    text = "# Bisection\n\n**First bad commit: c2 break it**\n\n| commit | verdict |\n|---|---|\n| c2 | bad |\n"
    pages = bisect.attach(state, "bisection", text, [("c2", FAIL), ("c1", PASS), ("c3", None)])
    assert pages == [tmp_path / "c2" / "summary.html", tmp_path / "c1" / "summary.html"]
    page = pages[0].read_text()
    assert "<section class='report'><h2>Bisection</h2><p>First bad commit: c2 break it</p>" in page
    assert "<td>c2</td><td>bad</td>" in page
    assert "## Bisection" in (tmp_path / "c2" / "summary.md").read_text()


@pytest.mark.guest
@pytest.mark.parametrize(("oracle", "results", "want"), [
    ("test_qemu_killed_target.py::test_loses_its_guest", [INFRA, INFRA], SKIP),
    ("test_witness_disagrees_target.py::test_a_witness_disagrees", [FAIL, FAIL], BAD),
], ids=["only-a-lost-guest", "a-witness-disagrees"])
def test_a_revision_that_only_loses_its_guest_is_never_bad(oracle, results, want, tmp_path, request, monkeypatch):
    """On a real guest: sessions whose only failure is QEMU killed under the test are
    no verdict, and the revision is skipped; the positive control, a witness that
    disagrees on the same kernel, makes it bad."""
    kernel = first_kernel(request.config)
    monkeypatch.setenv(CHILD, "1")  # the child pytest collects tests/fault_targets
    subject = bisect.Subject(lambda rev: bisect.Built(rev, "", 0.0), lambda rev: DEFAULT_CATALOG, kernel,
                             lambda rev: {"short": rev, "subject": "", "date": ""})
    state = bisect.State(tmp_path)
    said = []
    got = bisect.judge(subject, "rev", state, [f"tests/fault_targets/{oracle}"], 2, said.append)
    assert (got, state.data["steps"]["rev"]["results"]) == (want, results), said
