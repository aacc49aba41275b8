"""What changed verdict between two runs, per kernel and scenario.

    python -m harness.compare RUN_A RUN_B [--pair KERNEL_A=KERNEL_B ...] [--evidence]

Tests are matched by scenario, kernel and the test without its kernel parameter, so
repeats are folded ("10 pass" vs "9 pass, 1 FAIL"). --pair matches a kernel of run A
with a differently named one of run B: the baseline build and the patched one,
e.g. --pair source-6.1=source-6.1-aio-memlock. --evidence compares the evidence
tables instead: per test, each witness row of A against the row of the same name
in B (its verdict), and what B added or lost. Exit 0 when nothing changed, 1 when
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


def evidence_changes(run_a: Path, run_b: Path) -> tuple[list[str], dict]:
    """For the tests both runs have (kernel kept, repeats folded): rows whose verdict
    changed, or that one run has and the other not; and counts of each."""
    def rows(run: Path) -> dict[tuple[str, str], bool]:
        out = {}
        for t in runs.load(run).tables:
            for r in t.rows:
                out[(runs.without_repeat(t.title), r.witness)] = r.ok
        return out

    a, b = rows(run_a), rows(run_b)
    tests_a, tests_b = {t for t, _ in a}, {t for t, _ in b}
    lines, counts = [], {"same": 0, "changed": 0, "only A": 0, "only B": 0}
    for key in sorted(set(a) | set(b)):
        test, witness = key
        if key in a and key in b:
            same = a[key] == b[key]
            counts["same" if same else "changed"] += 1
            if not same:
                was, now = ("ok" if x[key] else "FAIL" for x in (a, b))
                lines.append(f"CHANGED  {test}: {witness}: {was} -> {now}")
        elif key in a and test in tests_b:  # a test both ran, a row only A has
            counts["only A"] += 1
            lines.append(f"GONE     {test}: {witness}")
        elif test in tests_a:  # a test both ran, a row only B has
            counts["only B"] += 1
    return lines, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="iowitness compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--pair", action="append", default=[], metavar="KERNEL_A=KERNEL_B")
    ap.add_argument("--evidence", action="store_true", help="compare the evidence tables' rows")
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
    if args.evidence:
        lines, counts = evidence_changes(args.run_a, args.run_b)
        print("\n".join(lines + [", ".join(f"{v} rows {k}" for k, v in counts.items())]))
        return 1 if counts["changed"] or counts["only A"] else 0
    lines = changes(args.run_a, args.run_b, pairs)
    print("\n".join(lines) if lines else "no verdict changed")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
