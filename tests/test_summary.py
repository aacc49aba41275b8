"""The run summary and the junit reader, on a run directory written here."""


from harness import runs, summary
from tests.helpers import JUNIT, make_run


def test_cases_carry_kernel_scenario_verdict_and_fault(tmp_path):
    cases = {c.nodeid: c for c in runs.load(make_run(tmp_path)).cases}
    ok = cases["suites/dstate/test_dstate.py::test_vfork_parent[debian-6.1]"]
    assert (ok.kernel, ok.kernel_version, ok.scenario, ok.verdict, ok.test) == (
        "debian-6.1", "6.1.192", "dstate", "passed", "test_dstate::test_vfork_parent")
    panic = cases["suites/busy_cpu/test_busy_cpu.py::test_x[debian-6.12-2-10]"]
    assert (panic.verdict, panic.fault, panic.status, panic.test) == (
        "failed", "kernel panic", "FAIL", "test_busy_cpu::test_x")
    skip = cases["suites/memlock/test_uring_buffers.py::test_y[debian-6.1-root]"]
    assert (skip.verdict, skip.message, skip.test) == (
        "skipped", "debian-6.1: io_uring_setup fails (EPERM)", "test_uring_buffers::test_y[root]")
    assert cases["tests/test_catalog.py::test_parse"].scenario == "framework"


def test_a_nameless_testcase_is_no_verdict(tmp_path):
    # What pytest 9.2's junitxml wrote for the test a SIGTERM interrupted (a CI dry run
    # stopped by SIGTERM): read as a pass, it put one phantom pass in summary.md.
    run = make_run(tmp_path)
    junit = run / "junit.xml"
    junit.write_text(junit.read_text().replace("</testsuite>", '<testcase time="0.116" /></testsuite>'))
    cases = runs.load(run).cases
    assert len(cases) == JUNIT.count("<testcase") and all(c.name for c in cases)


def test_markdown_has_the_matrix_reasons_and_evidence(tmp_path):
    text = summary.markdown(runs.load(make_run(tmp_path)))
    assert "| scenario | debian-6.1 | debian-6.12 | host |" in text
    assert "| dstate | 1 pass | 1 FAIL |" in text
    assert "| memlock | 1 skip | - |" in text
    assert "| framework | - | - | 1 pass |" in text
    assert "io_uring_setup fails (EPERM)" in text
    assert "| CPU 1 iowait | +0 \\| none | +577 | **FAIL** | kernel/sched/cputime.c |" in text
    assert "(plots/p.png)" in text
    assert "### half\n| a | b |" in text  # the .md copy stands in for a broken JSON one


def test_html_is_self_contained(tmp_path):
    run = make_run(tmp_path)
    summary.write(run)
    page = (run / "summary.html").read_text()
    assert "<table id='matrix'>" in page and "class='failed'>1 FAIL</td>" in page
    assert "src='data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page
    assert (run / "summary.md").exists()
    assert not list(run.glob(".*tmp*"))


def test_cli_refuses_a_directory_without_junit(tmp_path, capsys):
    assert summary.main([str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_compare_folds_repeats_pairs_kernels_and_names_changes(tmp_path, capsys):
    from harness import compare
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b")
    text = (b / "junit.xml").read_text().replace('value="debian-6.12"', 'value="patched"')
    text = text.replace("[debian-6.12]", "[patched]").replace("[debian-6.12-2-10]", "[patched-2-10]")
    (b / "junit.xml").write_text(text.replace("<failure message=\"AssertionError: witnesses", "<x y=\"").replace(
        "text</failure>", "</x>"))
    assert compare.main([str(a), str(a)]) == 0
    assert capsys.readouterr().out.strip() == "no verdict changed"
    assert compare.main([str(a), str(b), "--pair", "debian-6.12=patched"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["CHANGED  dstate     debian-6.12              test_dstate::test_vfork_parent: 1 FAIL -> 1 pass "
                   "(AssertionError: witnesses disagree with the kernel's rules:)"]
    assert compare.main([str(a), str(tmp_path)]) == 2
