"""vm/reaper.py on its own (no guest: a sleeping process group stands in for QEMU):
when the pipe's write end closes, the group is killed and the session directory
removed; the real SIGKILL-of-pytest case is in test_signals.py."""

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _start(tmp_path: Path, with_dir: bool):
    group = subprocess.Popen(["sleep", "600"], start_new_session=True)
    session = tmp_path / "iowitness-vm-test"
    session.mkdir(mode=0o700)
    (session / "id_virtme").write_text("key")
    r, w = os.pipe()
    args = [sys.executable, "-m", "vm.reaper", str(group.pid), str(r)] + ([str(session)] if with_dir else [])
    reaper = subprocess.Popen(args, pass_fds=(r,), cwd=REPO, start_new_session=True)
    os.close(r)
    return group, session, reaper, w


def test_parent_gone_kills_group_and_removes_session_dir(tmp_path):
    group, session, reaper, w = _start(tmp_path, with_dir=True)
    try:
        assert group.poll() is None
        os.close(w)  # what the kernel does when the parent dies, SIGKILL included
        assert reaper.wait(timeout=30) == 0
        assert group.wait(timeout=5) == -signal.SIGTERM
        assert not session.exists()
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


def test_without_a_session_dir_only_the_group_is_killed(tmp_path):
    group, session, reaper, w = _start(tmp_path, with_dir=False)
    try:
        os.close(w)
        assert reaper.wait(timeout=30) == 0
        assert group.wait(timeout=5) == -signal.SIGTERM
        assert (session / "id_virtme").exists()
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()
