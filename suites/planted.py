"""Lying builds of the tools, to show that the tools suite catches a tool that
does not tell the truth (the corpus: suites/tools/mutants/):

    python -m suites plant-bug NAME [--kernel K ...]      # one lying build
    python -m suites plant-bug --all [--kernel K ...]     # the whole corpus
    python -m suites plant-bug --list

Each lying build runs in the tools suite in place of the packaged tool
(`--tool`), one tool's lie per run beside the other tools' (they do not
interfere: each tool is its own witness), so the corpus takes as many runs per
kernel as a tool has lies. Then the packaged tools run once per kernel. A lie is
caught when the test its entry names failed by a failed row whose label holds
the entry's row (not by an error, not by another row); the packaged tools must
pass every test. The table goes to suites/tools/mutants.md (with `--all`) and,
as JUnit (junit-xml), to the results directory. Exit 0 when every lie is caught
and the packaged tools pass.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import runs
from suites.tools.mutants import BY_NAME, CORPUS, LyingBuild, build

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "suites" / "tools" / "mutants.md"
TEST = "suites/tools/test_agreement.py::test_tool"


@dataclass(frozen=True)
class PlantedOutcome:
    mutant: LyingBuild
    kernel: str
    run: str  # the results directory it ran in
    verdict: str  # of the test named for it
    failed: tuple[str, ...]  # the tool's tests that failed (their ids less the kernel)
    rows: tuple[str, ...]  # the failed rows of the named test
    caught: bool  # the named test failed, by a row the entry names

    @property
    def why(self) -> str:
        if self.caught:
            return "caught"
        if self.verdict == "error":
            return "the named test errored (an error is not a catch)"
        if self.verdict != "failed":
            return f"the named test {self.verdict}"
        return f"failed, but not by the row {self.mutant.row!r}"


def _programs() -> dict[str, str]:
    from suites.witnesses import registered
    return {w.name: w.programs[0] for w in registered() if w.programs}


def _pytest(args: list[str], base: Path) -> runs.Run | None:
    """One tools-suite run; stopped with this process (Ctrl-C, SIGTERM): its plugin
    shuts its guest down on SIGTERM, so nothing is left running."""
    before = runs.entries(base)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites/tools/test_agreement.py", "-p",
                             "no:cacheprovider", "-q", "--tb=no", "--results-dir", str(base), *args], cwd=REPO)
    try:
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    new = runs.new_runs(base, before)
    return runs.load(new[-1]) if new else None


def judge(m: LyingBuild, kernel: str, run: runs.Run) -> PlantedOutcome:
    cases = [c for c in run.cases if c.kernel == kernel and c.properties.get("tool") == m.tool]
    failed = tuple(sorted(runs.without_kernel(c.name, kernel).split("[", 1)[-1].rstrip("]")
                          for c in cases if c.verdict in ("failed", "error")))
    named = f"{TEST}[{kernel}-{m.test_id}]"
    case = next((c for c in cases if c.nodeid == named), None)
    table = next((t for t in run.tables if t.title == named), None)
    bad = tuple(r.witness for r in (table.rows if table else ()) if not r.ok and r.by == m.tool)
    verdict = case.verdict if case else "not run"
    caught = verdict == "failed" and any(m.row in label for label in bad)
    return PlantedOutcome(m, kernel, run.name, verdict, failed, bad, caught)


def rounds(mutants: list[LyingBuild]) -> list[list[LyingBuild]]:
    """One lie per tool per run: the i-th lie of every tool in run i."""
    per_tool: dict[str, list[LyingBuild]] = {}
    for m in mutants:
        per_tool.setdefault(m.tool, []).append(m)
    return [[lies[i] for lies in per_tool.values() if i < len(lies)]
            for i in range(max(map(len, per_tool.values()), default=0))]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_corpus(mutants: list[LyingBuild], kernels: list[str], base: Path, packaged: bool = True):
    """Every lie on every kernel, then the packaged tools: (outcomes, packaged runs)."""
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="iowitness-lies-", dir=base))
    programs = _programs()
    outcomes, baseline = [], {}
    try:
        for kernel in kernels:
            for group in rounds(mutants):
                tools = [(m, build(m, programs[m.tool], work)) for m in group]
                print(f"# {kernel}: " + ", ".join(m.name for m, _ in tools), flush=True)
                run = _pytest(["--kernel", kernel, *(a for m, p in tools for a in ("--tool", f"{m.tool}={p}"))], base)
                for m, _ in tools:
                    o = judge(m, kernel, run) if run else PlantedOutcome(m, kernel, "", "no run", (), (), False)
                    outcomes.append(o)
                    print(f"  {m.name:40} {o.why}", flush=True)
            if packaged:
                print(f"# {kernel}: the packaged tools", flush=True)
                baseline[kernel] = _pytest(["--kernel", kernel], base)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return outcomes, baseline


def table(outcomes: list[PlantedOutcome], baseline: dict, commit: str, seconds: float) -> str:
    kernels = sorted({o.kernel for o in outcomes})
    lines = [f"# Lying builds of the tools, and the tests that catch them ({time.strftime('%Y-%m-%d')})", "",
             f"Commit {commit}; kernels {', '.join(kernels)}; {len(outcomes)} runs of a lie in "
             f"{seconds / 60:.0f} min (`iowitness plant-bug --all`). A lie is caught when the test named "
             "for it failed by the row named for it.", ""]
    for k, run in sorted(baseline.items()):
        if run is None:
            lines.append(f"- packaged tools on {k}: no result")
            continue
        bad = [c.name for c in run.cases if c.verdict in ("failed", "error")]
        counts = {v: sum(c.verdict == v for c in run.cases) for v in ("passed", "failed", "error", "skipped")}
        lines.append(f"- packaged tools on {k} ({run.name}): " + ", ".join(f"{n} {v}" for v, n in counts.items())
                     + (f"; not passed: {', '.join(bad)}" if bad else ""))
    lines += ["", "| lie | tool | what it gets wrong | test that must catch it | row | "
              + " | ".join(kernels) + " | other failed tests of the tool |",
              "|---|---|---|---|---|" + "---|" * len(kernels) + "---|"]
    for m in dict.fromkeys(o.mutant for o in outcomes):
        mine = {o.kernel: o for o in outcomes if o.mutant == m}
        cells = [mine[k].why if k in mine else "-" for k in kernels]
        others = sorted({f for o in mine.values() for f in o.failed if f != m.test_id})
        lines.append(f"| {m.name} | {m.tool} | {m.defect} | {m.test_id} | {m.row} | " + " | ".join(cells)
                     + f" | {', '.join(others) or '-'} |")
    return "\n".join(lines) + "\n"


def junit(outcomes: list[PlantedOutcome], path: Path) -> None:
    from junit_xml import TestCase, TestSuite, to_xml_report_string
    cases = []
    for o in outcomes:
        c = TestCase(f"{o.mutant.name}[{o.kernel}]", classname=f"lies.{o.mutant.tool}",
                     stdout=f"run {o.run}; failed rows: {'; '.join(o.rows)}")
        if not o.caught:
            c.add_failure_info(o.why)
        cases.append(c)
    path.write_text(to_xml_report_string([TestSuite("iowitness-tool-lies", cases)]))


def _commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    return (r.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def main(names: list[str], every: bool, kernels: list[str], results_dir: Path, listing: bool = False,
         packaged: bool = True) -> int:
    if listing:
        for m in CORPUS:
            print(f"{m.name:42} {m.tool:18} {m.defect}")
        return 0
    if every:
        chosen = list(CORPUS)
    else:
        unknown = [n for n in names if n not in BY_NAME]
        if not names or unknown:
            print(f"error: no lying build named {', '.join(unknown) or '(none given)'}; see --list", file=sys.stderr)
            return 2
        chosen = [BY_NAME[n] for n in names]
    from kernels import catalog
    from kernels.errors import KernelError
    try:
        kernels = kernels or catalog.defaults()
        for k in kernels:
            catalog.get(k)
    except KernelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through _pytest(): its run stops too
    # Its runs in a directory of their own: each is told from the others by
    # appearing there, which another pytest session writing to results/ must not upset.
    out = results_dir / f"lies-{time.strftime('%Y%m%d-%H%M%S')}"
    outcomes, baseline = run_corpus(chosen, kernels, out, packaged)
    seconds = time.monotonic() - t0
    text = table(outcomes, baseline, _commit(), seconds)
    print("\n" + text)
    (out / "lies.md").write_text(text)
    junit(outcomes, out / "lies.junit.xml")
    (out / "lies.json").write_text(json.dumps([{"lie": o.mutant.name, "kernel": o.kernel, "run": o.run,
                                                "verdict": o.verdict, "caught": o.caught, "rows": o.rows,
                                                "failed": o.failed} for o in outcomes], indent=1))
    if every:
        TABLE.write_text(text)
    ok = all(o.caught for o in outcomes) and (not packaged or baseline) and all(
        r is not None and not any(c.verdict in ("failed", "error") for c in r.cases) for r in baseline.values())
    print(f"plant-bug: {'every lie caught, the packaged tools pass' if ok else 'NOT as expected'}; {out}")
    return 0 if ok else 1
