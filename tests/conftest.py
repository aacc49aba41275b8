"""Helpers for the framework's own tests.

tests/fault_targets/ holds tests that only make sense as the child of another
test (a guest that is killed, a disk that fills up): a plain run does not
collect them; `child_pytest` runs them with CHILD set.

A test that boots a guest, itself or through a child pytest, is marked `guest`:
`pytest tests -m "not guest"` is the run that needs no QEMU. A test that downloads
a kernel from the Debian archive is marked `archive` as well (about 40 s of the
run): `-m "not guest and not archive"` is the developer's loop (about 40 s).
The guest mark is checked, not trusted: an unmarked test finds stand-ins for
QEMU first on its PATH, which refuse to start and fail it by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHILD = "IOWITNESS_CHILD"  # set in a child pytest: tests/fault_targets is collected there only

collect_ignore = [] if os.environ.get(CHILD) else ["fault_targets"]

# What virtme-ng runs (virtme/qemu_helpers.py: shutil.which("qemu-system-<arch>"),
# then "qemu-kvm"), and what vm/accel.py's probe boot runs.
QEMU_NAMES = ("qemu-system-x86_64", "qemu-kvm")
_STAND_INS = pytest.StashKey[Path]()
_PATH_BEFORE = pytest.StashKey[str]()
# A version query is no boot (the run's environment.json records it): it goes through.
STAND_IN = """#!/bin/sh
if [ "$*" = --version ] && [ -n "{real}" ]; then exec "{real}" --version; fi
echo "$0 $*" >> "{calls}"
echo "iowitness tests: this test is not marked guest and may not start QEMU" >&2
exit 97
"""


def pytest_configure(config):
    config.addinivalue_line("markers", "guest: boots a QEMU guest, itself or through a child pytest")
    config.addinivalue_line("markers", "archive: downloads a kernel's packages from the Debian archive")
    stand_ins = Path(tempfile.mkdtemp(prefix="iowitness-no-qemu-"))
    for name in QEMU_NAMES:
        real = shutil.which(name) or ""
        (stand_ins / name).write_text(STAND_IN.format(real=real, calls=stand_ins / "calls"))
        (stand_ins / name).chmod(0o755)
    config.stash[_STAND_INS] = stand_ins


def pytest_unconfigure(config):
    if _STAND_INS in config.stash:
        shutil.rmtree(config.stash[_STAND_INS], ignore_errors=True)


def _guarded(item) -> bool:
    # A child pytest's tests are governed by the mark of the test that ran it.
    return not item.get_closest_marker("guest") and not os.environ.get(CHILD)


# Set before any fixture of the item, so a module-scoped guest fixture that the
# item is the first to use boots (or is refused) under the item's own mark.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if _guarded(item):
        stand_ins = item.config.stash[_STAND_INS]
        (stand_ins / "calls").unlink(missing_ok=True)
        item.stash[_PATH_BEFORE] = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{stand_ins}:{item.stash[_PATH_BEFORE]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    try:
        return (yield)
    finally:
        if _PATH_BEFORE in item.stash:
            os.environ["PATH"] = item.stash[_PATH_BEFORE]
            calls = item.config.stash[_STAND_INS] / "calls"
            if calls.exists():
                first = calls.read_text().splitlines()[0]
                calls.unlink()
                pytest.fail(f"started QEMU but is not marked guest: {first[:120]}", pytrace=False)


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
