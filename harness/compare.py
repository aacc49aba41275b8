"""What changed verdict between two runs, per kernel and scenario.

    python -m harness.compare RUN_A RUN_B [--pair KERNEL_A=KERNEL_B ...]

Tests are matched by scenario, kernel and the test without its kernel parameter, so
repeats are folded ("10 pass" vs "9 pass, 1 FAIL"). --pair matches a kernel of run A
with a differently named one of run B: the baseline build and the patched one,
e.g. --pair source-6.1=source-6.1-aio-memlock. Exit 0 when nothing changed, 1 when
something did, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from harness import runs
from harness.runs import Case
from harness.summary import cell_text


def folded(cases: tuple[Case, ...], rename: dict[str, str]) -> dict[tuple[str, str, str], tuple[dict, str]]:
    """(scenario, kernel, test) -> (count per verdict, a reason of one that did not pass)."""
    counts: dict = defaultdict(lambda: defaultdict(int))
    reasons: dict = {}
    for c in cases:
        key = (c.scenario, rename.get(c.kernel or "host", c.kernel or "host"), c.test)
        counts[key][c.verdict] += 1
        if c.verdict != "passed":
            reasons.setdefault(key, c.reason)
    return {k: (dict(v), reasons.get(k, "")) for k, v in counts.items()}


def changes(run_a: Path, run_b: Path, pairs: dict[str, str]) -> list[str]:
    a = folded(runs.load(run_a).cases, {})
    b = folded(runs.load(run_b).cases, {kb: ka for ka, kb in pairs.items()})
    lines = []
    for key in sorted(set(a) | set(b)):
        scenario, kernel, test = key
        where = f"{scenario:10} {kernel:24} {test}"
        if key not in b:
            lines.append(f"GONE     {where}: {cell_text(a[key][0])} in A, absent from B")
        elif key not in a:
            lines.append(f"NEW      {where}: {cell_text(b[key][0])}" + (f" ({b[key][1]})" if b[key][1] else ""))
        elif a[key][0] != b[key][0]:
            why = b[key][1] or a[key][1]
            lines.append(f"CHANGED  {where}: {cell_text(a[key][0])} -> {cell_text(b[key][0])}"
                         + (f" ({why})" if why else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--pair", action="append", default=[], metavar="KERNEL_A=KERNEL_B")
    args = ap.parse_args(argv)
    for run in (args.run_a, args.run_b):
        if not runs.is_run(run):
            print(f"error: {run}: not a run directory (no junit.xml)", file=sys.stderr)
            return 2
    try:
        pairs = dict(p.split("=", 1) for p in args.pair)
    except ValueError:
        print("error: --pair takes KERNEL_A=KERNEL_B", file=sys.stderr)
        return 2
    lines = changes(args.run_a, args.run_b, pairs)
    print("\n".join(lines) if lines else "no verdict changed")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
