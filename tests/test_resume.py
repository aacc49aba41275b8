"""--resume RUN: only the tests without a verdict in RUN run again."""

from tests.conftest import child_pytest


def _pytest(*args):
    return child_pytest(*args, timeout=300)


def test_resume_runs_what_had_no_verdict(tmp_path):
    # An interrupted run: its junit has three of tests/test_agent.py's six tests.
    old = tmp_path / "20261122-000000-1"
    old.mkdir()
    cases = "".join(f'<testcase classname="tests.test_agent" name="{n}" time="0.1"/>' for n in (
        "test_output_streams_and_exit_code", "test_stdin_larger_than_a_pipe_buffer", "test_cwd_and_env"))
    (old / "junit.xml").write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{cases}'
                                   "</testsuite></testsuites>")
    p = _pytest("tests/test_agent.py", "--results-dir", str(tmp_path), "--resume", old.name)
    assert "3 passed, 3 deselected" in p.stdout, p.stdout + p.stderr
    [new] = [d for d in tmp_path.iterdir() if d.is_dir() and not d.is_symlink() and d != old]
    assert (new / "resumed-from").read_text().startswith(str(old))
    assert "test_stdin_larger_than_a_pipe_buffer" not in (new / "junit.xml").read_text()


def test_resume_of_something_that_is_not_a_run_is_one_error_line(tmp_path):
    p = _pytest("tests/test_agent.py", "--results-dir", str(tmp_path), "--resume", "no-such-run")
    assert p.returncode == 4
    assert "--resume: no-such-run: no junit.xml there (not a run directory)" in p.stderr
