"""A planted bug in a tool, to show that the tools suite catches a broken build:
`python -m suites plant-bug NAME` copies the tool as Debian installs it (a
script), changes one line the way a real release could have, runs the tools
suite on the waits the change matters for with the copy (`--tool`) and with the
packaged tool, and says which tests failed with each. Exit 0 when the copy
fails the tests named for it and the packaged tool passes them.

Only the change is kept here; the tool's code is read from the installed file
when the command runs.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import runs

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plant:
    witness: str  # the --tool name
    installed: str  # the packaged script
    old: str  # the line as shipped
    new: str  # the line with the bug
    story: str  # the bug, and the upstream record of its kind
    catches: str  # pytest -k expression: the tests that must fail with it


PLANTS = {
    "offcputime-bcc": Plant(
        "offcputime-bcc", "/usr/sbin/offcputime-bpfcc",
        "state_filter = 'prev->STATE_FIELD & %d' % args.state",
        "state_filter = 'prev->STATE_FIELD == %d' % args.state",
        "the --state filter made an equality, as libbpf-tools' offcputime has it: a task asleep in "
        "TASK_KILLABLE (the vfork parent, __state 0x2102) is no longer counted as uninterruptible "
        "(bcc#3871 is about what this filter matches)",
        "offcputime-bcc and vfork"),
}


def copy_with_bug(plant: Plant, into: Path) -> Path:
    """The installed script, copied with the one line changed; an error if the
    installed file does not have the line (another version: the plant needs updating)."""
    text = Path(plant.installed).read_text()
    if text.count(plant.old) != 1:
        raise SystemExit(f"plant-bug: {plant.installed} does not have the line {plant.old!r} once")
    out = into / Path(plant.installed).name
    out.write_text(text.replace(plant.old, plant.new))
    out.chmod(out.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return out


def _run(args: list[str], base: Path) -> tuple[runs.Run | None, int]:
    before = runs.entries(base)
    rc = subprocess.run([sys.executable, "-m", "pytest", "suites/tools", "-p", "no:cacheprovider", "-q",
                         "--results-dir", str(base), *args], cwd=REPO).returncode
    new = runs.new_runs(base, before)
    return (runs.load(new[-1]) if new else None), rc


def main(name: str, kernels: list[str], results_dir: Path) -> int:
    plant = PLANTS.get(name)
    if plant is None:
        print(f"error: no planted bug for {name!r} (one of {', '.join(PLANTS)})", file=sys.stderr)
        return 2
    if not os.path.exists(plant.installed):
        print(f"error: {plant.installed} is not installed (./bootstrap)", file=sys.stderr)
        return 2
    print(f"# {plant.witness}: {plant.story}\n")
    work = Path(tempfile.mkdtemp(prefix="iowitness-plant-", dir=results_dir if results_dir.is_dir() else None))
    try:
        copy = copy_with_bug(plant, work)
        select = ["-k", plant.catches] + [a for k in kernels for a in ("--kernel", k)]
        planted, _ = _run([*select, "--tool", f"{plant.witness}={copy}"], results_dir)
        packaged, _ = _run(select, results_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = True
    for label, run, want in (("with the planted bug", planted, "failed"), ("packaged", packaged, "passed")):
        if run is None or not run.cases:
            print(f"{label}: no result")
            ok = False
            continue
        for c in run.cases:
            print(f"{label}: {c.verdict:7} {c.nodeid}" + (f"  ({c.reason})" if c.message else ""))
        ok &= all(c.verdict == want for c in run.cases)
    print(f"\nplant-bug: {'caught: the planted copy fails, the packaged tool passes' if ok else 'NOT as expected'}")
    return 0 if ok else 1
