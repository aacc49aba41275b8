"""A run's verdicts as KTAP (Documentation/dev-tools/ktap.rst, version 1), one
document per kernel: results/<run>/ktap/<kernel>.ktap, so kernel tooling that reads
kselftest/KUnit output (e.g. tools/testing/kunit/kunit.py parse) reads ours.

Top-level tests are the scenarios, their subtests the scenario's tests on that
kernel (repeats numbered). A skip carries its reason after "# SKIP"; a failure's
reason is a diagnostic line before its result line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from harness.runs import Case, Run, without_kernel

_HASH = re.compile(r"#")


def _name(text: str) -> str:
    # "#" starts a directive in a result line; names must not contain it.
    return _HASH.sub("_", text).strip() or "_"


def document(cases: list[Case], kernel: str) -> str:
    by_scenario: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        if c.kernel == kernel:
            by_scenario[c.scenario].append(c)
    lines = ["KTAP version 1", f"# iowitness on {kernel}", f"1..{len(by_scenario)}"]
    for i, (scenario, tests) in enumerate(sorted(by_scenario.items()), 1):
        lines += ["  KTAP version 1", f"  # Subtest: {scenario}", f"  1..{len(tests)}"]
        for j, c in enumerate(tests, 1):
            name = _name(without_kernel(c.name, c.kernel))
            if c.verdict == "skipped":
                lines.append(f"  ok {j} {name} # SKIP {c.message}")
                continue
            if c.verdict != "passed":
                lines.append(f"  # {c.reason}")
            lines.append(f"  {'ok' if c.verdict == 'passed' else 'not ok'} {j} {name}")
        ok = all(c.verdict in ("passed", "skipped") for c in tests)
        skipped = all(c.verdict == "skipped" for c in tests)
        lines.append(f"{'ok' if ok else 'not ok'} {i} {scenario}" + (" # SKIP" if skipped else ""))
    return "\n".join(lines) + "\n"


def write(run: Run) -> list[Path]:
    cases = run.cases
    out = []
    for kernel in sorted({c.kernel for c in cases if c.kernel}):
        d = run.path / "ktap"
        d.mkdir(exist_ok=True)
        path = d / f"{kernel}.ktap"
        path.write_text(document(cases, kernel))
        out.append(path)
    return out
