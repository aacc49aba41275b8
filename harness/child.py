"""A child process the harness waits for (a build, a pytest session)."""

from __future__ import annotations

import signal
import subprocess

STOP_GRACE_S = 120  # pytest stops its guests on SIGTERM; a build its make


def wait(proc: subprocess.Popen, communicate: bool = False) -> tuple[int, str]:
    """Its exit code (and, with `communicate`, its piped stderr). Interrupted, the
    child is asked to stop with SIGTERM, killed if it has not within the grace, and
    the interruption goes on."""
    try:
        if communicate:
            _, err = proc.communicate()
            return proc.returncode, err or ""
        return proc.wait(), ""
    except BaseException:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
