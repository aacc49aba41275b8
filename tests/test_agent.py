"""The guest agent's command runner, run on the host (it is stdlib Python that runs
the same anywhere); its use in a real guest is covered by suites/smoke."""

import base64
import time

import pytest

from vm import agent


@pytest.fixture(autouse=True)
def agent_work_dir(tmp_path, monkeypatch):
    """Background output goes to tmp_path, not a directory left in the host's /tmp."""
    monkeypatch.setattr(agent, "_work", [str(tmp_path)])


def run(cmd, **req):
    r = agent.op_run({"cmd": cmd, **req})
    return r["rc"], base64.b64decode(r["stdout"]), base64.b64decode(r["stderr"]), r["timed_out"]


def test_output_streams_and_exit_code():
    assert run("echo out; echo err >&2; exit 3") == (3, b"out\n", b"err\n", False)


def test_stdin_larger_than_a_pipe_buffer():
    data = bytes(range(256)) * 4096  # 1 MiB
    rc, out, _, _ = run("cat", input=base64.b64encode(data).decode())
    assert rc == 0 and out == data


def test_killed_by_a_signal_is_a_negative_code():
    assert run("kill -TERM $$")[0] == -15


def test_sigpipe_is_default_in_the_command():
    # Python ignores SIGPIPE; a command that inherited that would loop on EPIPE forever.
    rc, out, _, timed_out = run("yes | head -1", timeout=30)
    assert (rc, out, timed_out) == (0, b"y\n", False)


def test_timeout_kills_the_whole_group():
    t0 = time.monotonic()
    rc, out, _, timed_out = run("sleep 100 & echo started; wait", timeout=1)
    assert timed_out and out == b"started\n" and rc == -9
    assert time.monotonic() - t0 < 30


def test_cwd_and_env():
    rc, out, _, _ = run('pwd; echo "$IOW_X"', cwd="/tmp", env={"IOW_X": "it's here"})
    assert (rc, out) == (0, b"/tmp\nit's here\n")
    assert run("true", cwd="/no/such/dir")[0] == 127
