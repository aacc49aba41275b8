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

# The modules checked are pyproject.toml's [tool.mypy] files, as tox -e lint checks them.


def test_the_witness_and_hold_api_type_checks(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed here (requirements.txt: ./bootstrap installs it)")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found in" in r.stdout
