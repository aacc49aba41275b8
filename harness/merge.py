"""Several runs joined into one run directory: the shards of a matrix run on
several machines (--shard I/N), or runs of different kernels, so that summary,
compare and kcidb read the whole matrix as one run.

    python -m suites merge RUN_DIR... [--results-dir DIR]

One JUnit (every testcase of every run), one environment.json (every kernel and
guest), the logs, evidence and tools' output of each run side by side, the
time budgets added up; then KTAP and the summary are written from it. A test
that has a verdict in two of the runs, a shard missing from a sharded set, or a
directory that is not a run is refused with one line; the runs given are only
read.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from core import budget
from core.faults import IowitnessError
from harness import results, runs, summary

# Written again from the joined run, never copied.
_DERIVED = {"junit.xml", "environment.json", "budget.json", "shard", "summary.md", "summary.html", "ktap",
            "merged-from", ".reserve", ".turnstile.lock", ".alone.lock"}
_COUNTS = ("tests", "failures", "errors", "skipped")


class MergeError(IowitnessError):
    """Runs that do not make one run: said in one line, nothing written."""


def _shards(paths: list[Path]) -> None:
    """A sharded set must be whole: the same N, each index once."""
    seen: dict[int, Path] = {}
    ns = set()
    for p in paths:
        f = p / "shard"
        if not f.exists():
            continue
        i, n = (int(x) for x in f.read_text().split()[0].split("/"))
        ns.add(n)
        if i in seen:
            raise MergeError(f"{p}: shard {i}/{n} again (also {seen[i]})")
        seen[i] = p
    if len(ns) > 1:
        raise MergeError(f"shards of different splits: {sorted(ns)}")
    if ns:
        n = ns.pop()
        missing = sorted(set(range(1, n + 1)) - set(seen))
        if missing:
            raise MergeError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{i}/{n}' for i in missing)} "
                             "not given: the merged run would be missing their tests")


def _junit(paths: list[Path]) -> ET.ElementTree:
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name="pytest")
    totals = dict.fromkeys(_COUNTS, 0)
    seconds = 0.0
    owner: dict[str, Path] = {}
    for p in paths:
        for ts in ET.parse(p / "junit.xml").iter("testsuite"):
            for k in _COUNTS:
                totals[k] += int(ts.get(k, 0))
            seconds += float(ts.get("time", 0))
            for tc in ts.iter("testcase"):
                key = f"{tc.get('classname')}::{tc.get('name')}"
                if key in owner:
                    raise MergeError(f"{key} has a verdict in both {owner[key]} and {p}")
                owner[key] = p
                suite.append(tc)
    for k, v in totals.items():
        suite.set(k, str(v))
    suite.set("time", f"{seconds:.3f}")
    return ET.ElementTree(root)


def _copy_tree(src: Path, dst: Path) -> None:
    for item in src.iterdir():
        if item.name in _DERIVED or item.name.endswith(".tmp"):
            continue
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True, symlinks=True)
        elif not target.exists():
            shutil.copy2(item, target)


def merge(paths: list[Path], base: Path) -> Path:
    for p in paths:
        if not runs.is_run(p):
            raise MergeError(f"{p}: no junit.xml there (not a run directory)")
    if len({p.resolve() for p in paths}) != len(paths):
        raise MergeError("the same run given twice")
    _shards(paths)
    tree = _junit(paths)  # refuses a duplicate before anything is written
    out = results.new_run_dir(base)
    tree.write(out / "junit.xml", encoding="utf-8", xml_declaration=True)
    envs = [json.loads((p / "environment.json").read_text()) for p in paths if (p / "environment.json").exists()]
    (out / "environment.json").write_text(json.dumps(results.join_environments(envs), indent=1))
    total = budget.Budget()
    for p in paths:
        b = budget.load(p)
        total.merge(b.as_dict())
        total.wall_s = max(total.wall_s, b.wall_s)  # machines side by side: the longest of them
    if total.tests:
        total.write(out)
    for p in paths:
        _copy_tree(p, out)
    (out / "merged-from").write_text("".join(f"{p.resolve()}\n" for p in paths))
    summary.write(out)
    return out


def main(argv: list[str], base: Path) -> int:
    try:
        out = merge([Path(a) for a in argv], base)
    except (MergeError, OSError, ET.ParseError, json.JSONDecodeError) as e:
        print(f"merge: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0
