"""The witness and hold API type-checks (mypy): what a witness is given (Seen,
the hold, its snapshots and spans), what a tool witness keeps (ToolSeen) and the
pairing of its reads, the waits' declarations, the evidence model and the one
command line. Optional values are narrowed where they are used, not assumed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO

CHECKED = ("suites/watch/witness.py", "suites/watch/hold.py", "suites/watch/evidence.py", "harness/evidence.py",
           "suites/watch/tools.py", "suites/watch/pertask.py", "suites/watch/reads.py", "suites/watch/offcpu.py",
           "suites/waits.py", "suites/cli.py", "harness/agreement.py", "suites/agreement.py",
           "suites/watch/stray_iowait.py", "suites/witnesses/cpu_iowait.py", "suites/witnesses/psi.py",
           "suites/witnesses/procs_blocked.py", "suites/witnesses/delayacct.py",
           "suites/watch/per_guest.py")
FLAGS = ("--follow-imports=silent", "--ignore-missing-imports", "--python-version", "3.11")


def test_the_witness_and_hold_api_type_checks(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed here (requirements.txt: ./bootstrap installs it)")
    r = subprocess.run([sys.executable, "-m", "mypy", *FLAGS, "--cache-dir", str(tmp_path), *CHECKED], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
