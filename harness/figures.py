"""Stability figures of repeated runs: per test, its verdicts, and per witness the
spread of what was observed.

    python -m harness.figures RUN_DIR [RUN_DIR ...]

Reads each run (harness/runs.py: its verdicts and the evidence tables the
scenario tests write). Repeats of a test (pytest-repeat's "-i-N" suffix) and several runs are
grouped; each observed value is shown with its numbers replaced by their range
over the repeats, e.g. "iowait +576..611, idle +0..0".
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from harness import runs as runs_mod
from harness.runs import Run, without_repeat

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_CELL_SPLIT = re.compile(r"(?<!\\) \| ")
_PID = re.compile(r"\b\d+: ")  # "424: +1000, 425: +1000": per-task values, pids differ per repeat


def evidence_rows(run: Run):
    """(test id, witness, observed, ok) for every row of every evidence table."""
    for table in run.tables:
        if table.whole_markdown is None:
            for r in table.rows:
                yield table.title, r.witness, r.observed, r.ok
        else:  # only the markdown copy is whole
            yield from _markdown_rows(table.whole_markdown)


def _markdown_rows(text: str):
    title = ""
    for line in text.splitlines():
        if line.startswith("### "):
            title = line[4:].strip()
        elif line.startswith("| ") and not line.startswith(("| witness |", "|---")):
            cells = [c.replace("\\|", "|") for c in _CELL_SPLIT.split(line.strip()[2:-2])]
            if len(cells) == 5:
                yield title, cells[0], cells[2], cells[3].startswith("ok")


def spread(observed: list[str]) -> str:
    """One observed text with each number replaced by its range over the repeats,
    if all repeats share the same shape; otherwise the distinct texts."""
    observed = [_PID.sub("task: ", o) for o in observed]
    shapes = {_NUMBER.sub("#", o) for o in observed}
    if len(shapes) != 1:
        return " / ".join(sorted(set(observed))[:4]) + (" / ..." if len(set(observed)) > 4 else "")
    columns = list(zip(*(_NUMBER.findall(o) for o in observed), strict=True))
    parts = _NUMBER.split(observed[0])
    out = [parts[0]]
    for col, rest in zip(columns, parts[1:], strict=True):
        lo, hi = min(col, key=float), max(col, key=float)
        out.append(lo if float(lo) == float(hi) else f"{lo}..{hi.lstrip('+')}")
        out.append(rest)
    return "".join(out)


def report(runs: list[Run]) -> str:
    outcomes: dict[str, Counter] = defaultdict(Counter)
    rows: dict[tuple[str, str], list[tuple[str, bool]]] = defaultdict(list)
    for run in runs:
        for c in run.cases:
            outcomes[c.base_nodeid][c.verdict] += 1
        for test, witness, observed, ok in evidence_rows(run):
            rows[(without_repeat(test), witness)].append((observed, ok))
    lines = []
    for test in sorted(set(outcomes) | {t for t, _ in rows}):
        c = outcomes.get(test, Counter())
        lines.append(f"{test}: " + ", ".join(f"{c[k]} {k}" for k in ("passed", "failed", "error", "skipped")
                                             if c[k]) or f"{test}: (no verdict)")
        for (t, witness), seen in rows.items():
            if t != test:
                continue
            bad = sum(1 for _, ok in seen if not ok)
            lines.append(f"  {witness}: {spread([o for o, _ in seen])}  [{len(seen)} rows"
                         + (f", {bad} FAILED" if bad else "") + "]")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: iowitness figures RUN_DIR...: per test, its verdicts and the figures its rows measured")
        return 0
    runs = [Path(a) for a in argv]
    missing = [str(r) for r in runs if not r.is_dir()]
    if not runs or missing:
        print(f"figures: usage: iowitness figures RUN_DIR...; not a directory: {' '.join(missing)}",
              file=sys.stderr)
        return 2
    print(report([runs_mod.load(r) for r in runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
