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


def shared_root_dir(guest) -> Path:
    """A host directory, writable here, that the guest sees through the root share
    itself: under none of the guest's own mounts (vng's overlays on /etc, /tmp,
    /usr, ..., tmpfs). A write there from the guest reaches the share, and must
    be refused. The repository if it qualifies, else the home directory."""
    own = [ln.split()[1] for ln in guest.read_text("/proc/mounts").splitlines()
           if ln.split()[2] in ("overlay", "tmpfs")]

    def covered(d: Path) -> bool:
        return any(str(d) == m or str(d).startswith(m.rstrip("/") + "/") for m in own)

    for d in (REPO, Path.home(), Path("/root")):
        if d.is_dir() and os.access(d, os.W_OK) and not covered(d):
            return d
    import pytest
    pytest.skip(f"no writable host directory outside the guest's overlays ({', '.join(own)})")


def assert_share_refuses_writes(guest, tag: str) -> None:
    """A write, a new file and a removal from the guest into shared_root_dir() are
    refused as a read-only file system, and the host's file is untouched."""
    victim = shared_root_dir(guest) / f".iowitness-{tag}-victim-{os.getpid()}"
    victim.write_text("host data")
    try:
        r = guest.run(f"echo guest >> {victim}; echo guest > {victim}.new; rm -f {victim}")
        assert r.rc != 0 and "Read-only file system" in r.stderr, (guest.rootfs, r)
        assert victim.read_text() == "host data" and not Path(f"{victim}.new").exists()
    finally:
        victim.unlink(missing_ok=True)


def only_run(results_dir: Path) -> Path:
    """The one run directory a child pytest wrote under results_dir."""
    [run] = [d for d in Path(results_dir).iterdir() if d.is_dir() and not d.is_symlink()]
    return run
