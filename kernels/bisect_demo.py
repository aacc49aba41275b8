"""A kernel history to prove the bisection on: eight commits on linux-source-6.1 in
the shared build tree (so each step rebuilds only what changed), one of them a
planted regression.

    python -m kernels.bisect_demo          # makes branch iowitness-bisect-demo; prints the command

The commits, oldest first:
  1-3  ordinary changes (a comment near the top of a compiled file: the line numbers
       compiled into WARN_ON() move, so the image changes; the behaviour does not)
  4    breaks the build
  5    mends it
  6    an ordinary change
  7    the planted regression: kernels/patches/mutants/0001-aio-nr-doubled.patch,
       which suites/aio/test_accounting.py::test_aio_nr_grows_by_n_* catches
  8    a documentation change: its build is byte-identical to commit 7's
The bisection over pristine..8 must name commit 7, skip 4, and take 7's verdict
from 8's identical build (docs/bisect.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kernels import catalog
from kernels.catalog import KERNELS_DIR
from kernels.source import _tree_dir

BRANCH = "iowitness-bisect-demo"
MUTANT = KERNELS_DIR / "patches" / "mutants" / "0001-aio-nr-doubled.patch"
ORACLE = "suites/aio/test_accounting.py -k grows_by_n"


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), "-c", "user.name=iowitness", "-c",
                           "user.email=iowitness@localhost", *args], check=True, text=True,
                          capture_output=True).stdout.strip()


def _append(tree: Path, rel: str, text: str) -> None:
    with open(tree / rel, "a") as f:
        f.write(text)


def _under_first_line(tree: Path, rel: str, text: str) -> None:
    """A comment under the licence line: every line after it moves, and with them the
    line numbers WARN_ON() and BUG() compile in: the image changes, nothing else."""
    lines = (tree / rel).read_text().split("\n", 1)
    (tree / rel).write_text(lines[0] + "\n" + text + lines[1])


def _commit(tree: Path, subject: str) -> str:
    _git(tree, "commit", "-q", "-a", "-m", subject)
    return _git(tree, "rev-parse", "HEAD")


def make_history(tree: Path) -> list[str]:
    """The eight commits on top of the tree's pristine base; their hashes, oldest first."""
    _git(tree, "checkout", "-q", "-f", "--detach", "pristine")
    _git(tree, "checkout", "-q", "-B", BRANCH)
    out = []
    _under_first_line(tree, "init/main.c", "/* iowitness demo: an ordinary change (1) */\n")
    out.append(_commit(tree, "init: note an ordinary change"))
    _under_first_line(tree, "kernel/sys.c", "/* iowitness demo: an ordinary change (2) */\n")
    out.append(_commit(tree, "kernel: note another ordinary change"))
    _under_first_line(tree, "mm/mmap.c", "/* iowitness demo: an ordinary change (3) */\n")
    out.append(_commit(tree, "mm: note a third ordinary change"))
    _append(tree, "init/main.c", "static int iowitness_demo_broken = ;\n")
    out.append(_commit(tree, "init: add a variable (does not build)"))
    text = (tree / "init/main.c").read_text().replace("static int iowitness_demo_broken = ;\n", "")
    (tree / "init/main.c").write_text(text)
    out.append(_commit(tree, "init: mend the build"))
    _under_first_line(tree, "kernel/fork.c", "/* iowitness demo: an ordinary change (4) */\n")
    out.append(_commit(tree, "fork: note an ordinary change"))
    subprocess.run(["git", "-C", str(tree), "apply", str(MUTANT)], check=True)
    out.append(_commit(tree, "aio: charge aio-nr with the doubled ring size (planted regression)"))
    _append(tree, "Documentation/admin-guide/sysctl/fs.rst", "\n.. iowitness demo: a documentation change\n")
    out.append(_commit(tree, "Documentation: touch the aio-nr text (no-op build)"))
    return out


def main() -> int:
    tree = _tree_dir(catalog.get("source-6.1"))
    if not (tree / ".git").exists():
        print(f"error: no build tree at {tree}: run `iowitness kernels build source-6.1` first", file=sys.stderr)
        return 2
    commits = make_history(tree)
    print(f"branch {BRANCH} in {tree}: pristine..{commits[-1][:12]}; planted {commits[6][:12]}")
    print(f"iowitness bisect --tree {tree} --good pristine --bad {BRANCH} -- {ORACLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
