"""Helpers for the framework's own tests.

tests/fault_targets/ holds tests that only make sense as the child of another
test (a guest that is killed, a disk that fills up): a plain run does not
collect them; `child_pytest` runs them with CHILD set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = "IOWITNESS_CHILD"  # set in a child pytest: tests/fault_targets is collected there only

collect_ignore = [] if os.environ.get(CHILD) else ["fault_targets"]


def first_kernel(config, default: str = "debian-6.12") -> str:
    """The kernel a framework test boots: the first --kernel given, else `default`."""
    return (config.getoption("kernel") or [default])[0]


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, CHILD: "1", **extra}


def child_pytest(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """A child pytest in the repository, its output captured."""
    return subprocess.run(child_command(*args), cwd=REPO, env=child_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout)


def only_run(results_dir: Path) -> Path:
    """The one run directory a child pytest wrote under results_dir."""
    [run] = [d for d in Path(results_dir).iterdir() if d.is_dir() and not d.is_symlink()]
    return run
