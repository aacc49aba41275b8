"""A full results disk must not cost a run its verdicts.

A reserve file is written when the run starts and removed before the final
reports (JUnit, summary), so they fit even on a full disk. The first per-test
artifact (kernel log slice, evidence table) that cannot be written fails the test
in progress with ResultsDiskFull, naming the file; the reserve is freed at once,
and later tests' artifacts are dropped (their verdicts still reach JUnit).
"""

from __future__ import annotations

import errno
from pathlib import Path

from core.faults import ERROR, IowitnessError

RESERVE_BYTES = 4 << 20
_RESERVE = ".reserve"
_full: dict[Path, str] = {}  # run dir -> the first write that failed


class ResultsDiskFull(IowitnessError):
    fault = "results disk full"
    status = ERROR


def reserve(run_dir: Path) -> None:
    try:
        with open(run_dir / _RESERVE, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
    except OSError as e:
        release(run_dir)
        if e.errno == errno.ENOSPC:
            _full[run_dir] = f"no room for the {RESERVE_BYTES >> 20} MiB reserve in {run_dir}"


def release(run_dir: Path) -> None:
    (run_dir / _RESERVE).unlink(missing_ok=True)


def full(run_dir: Path) -> str | None:
    return _full.get(run_dir)


def write(run_dir: Path, path: Path, data: str | bytes) -> None:
    """Write a per-test artifact, or raise ResultsDiskFull the first time the disk is full."""
    if run_dir in _full:
        return  # dropped: the test that hit the full disk carries the verdict
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        path.unlink(missing_ok=True)
        release(run_dir)
        _full[run_dir] = f"results disk full: cannot write {path} ({e.strerror}); later tests' logs are dropped"
        raise ResultsDiskFull(_full[run_dir]) from None
