"""Planted-bug kernels: build the baseline and each mutant, run the suites on
each, and show which tests catch which mutant.

    python -m harness.mutants [--focused] [--only NAME ...] [--no-build] [--results-dir DIR]
    python -m harness.mutants --resume DIR   (go on with an interrupted run)

harness/mutants.yaml names the baseline, the suites, and the mutants; the tests
that should catch a mutant carry @pytest.mark.catches(<its catalog name>), which
each run's JUnit records per testcase (harness/plugin/markers.py). The kernels
are catalog `source` entries on one base, so they share one build tree
(kernels/source.py: reset, apply, incremental make). Each kernel runs in its
own pytest session under DIR/mutants-<stamp>/<kernel>/. --focused runs each
mutant's own `suites` (the baseline runs their union).

Prints a table (also written as mutants.md next to the runs, and as JUnit,
mutants.junit.xml, one testcase per kernel): kernel, tests failed, caught,
caught by an expected test. Exit 0 when the baseline passed
everything and every mutant failed a test marked for it; 1 otherwise; 2 on
bad input (one line).

A whole run takes hours here, so each kernel's outcome is kept as it finishes
(DIR/<kernel>/outcome.json) beside the run's plan (DIR/plan.json: the commit and
each kernel's suites). --resume DIR runs only the kernels without an outcome, and
refuses a DIR whose commit is not the checkout's: one table, one version of the
tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.faults import IowitnessError
from harness import child, runs
from kernels import catalog
from kernels.catalog import SourceEntry
from kernels.errors import KernelError

REPO = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("mutants.yaml")


class BadInput(IowitnessError):
    """The plan or the command line is wrong: one line, exit 2."""


@dataclass(frozen=True)
class KernelMutant:
    name: str
    suites: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    baseline: str
    suites: tuple[str, ...]
    mutants: tuple[KernelMutant, ...]


def _strings(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadInput(f"{where}: expected a non-empty list of strings")
    return tuple(value)


def load_plan(path: Path = CONFIG, check_tests: bool = True) -> Plan:
    """The YAML, checked: every kernel is a catalog source entry on the baseline's base,
    and (check_tests) the tests' catches markers and the plan name each other."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BadInput(f"{path}: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or set(doc) != {"baseline", "suites", "mutants"}:
        raise BadInput(f"{path}: expected exactly the keys baseline, suites, mutants")
    suites = _strings(doc["suites"], f"{path}: suites")
    if not isinstance(doc["mutants"], dict) or not doc["mutants"]:
        raise BadInput(f"{path}: mutants: expected a mapping of catalog names")
    mutants = []
    for name, m in doc["mutants"].items():
        m = m or {}
        if not isinstance(m, dict) or not set(m) <= {"suites"}:
            raise BadInput(f"{path}: mutant {name}: expected nothing or suites (the catching tests are "
                           f"marked @pytest.mark.catches)")
        mutants.append(KernelMutant(name, _strings(m.get("suites", doc["suites"]), f"{path}: mutant {name}: suites")))
    try:
        cat = catalog.load()
        base = catalog.get(str(doc["baseline"]), cat)
        for m in mutants:
            entry = catalog.get(m.name, cat)
            if not (isinstance(entry, SourceEntry) and isinstance(base, SourceEntry) and entry.base == base.base):
                raise BadInput(f"{path}: mutant {m.name} is not a source build on {base.name}'s base")
    except KernelError as e:
        raise BadInput(f"{path}: {e}") from None
    for s in {*suites, *(s for m in mutants for s in m.suites)}:
        if not (REPO / s.split("::")[0]).exists():
            raise BadInput(f"{path}: no such suite {s}")
    plan = Plan(doc["baseline"], suites, tuple(mutants))
    if check_tests:
        check_catches(plan, collected_catches(sorted({*suites, *(s for m in mutants for s in m.suites)})), path)
    return plan


def collected_catches(suites: list[str]) -> dict[str, tuple[str, ...]]:
    """Each collected test's catches marker (pytest --collect-only --marked-json)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "marked.json"
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                            "--marked-json", str(out), *suites], cwd=REPO, capture_output=True, text=True)
        if p.returncode != 0 or not out.exists():
            raise BadInput(f"collecting {' '.join(suites)} failed: "
                           f"{(p.stdout.strip().splitlines() or ['?'])[-1]}")
        return {r["test"]: tuple(r.get("catches") or ()) for r in json.loads(out.read_text())}


def check_catches(plan: Plan, catches: dict[str, tuple[str, ...]], path: Path) -> None:
    """Every mutant is named by a test in its suites, and every name a test gives
    is a mutant of the plan (a typo would make a test that catches nothing)."""
    names = {m.name for m in plan.mutants}
    for test, marked in catches.items():
        unknown = set(marked) - names
        if unknown:
            raise BadInput(f"{test}: @pytest.mark.catches names {', '.join(sorted(unknown))}, "
                           f"not a mutant in {path.name}")
    for m in plan.mutants:
        mine = [t for t, marked in catches.items() if m.name in marked and t.startswith(m.suites)]
        if not mine:
            raise BadInput(f"{path}: mutant {m.name}: no test in {', '.join(m.suites)} is marked "
                           f"@pytest.mark.catches({m.name!r})")


@dataclass
class KernelOutcome:
    kernel: str
    suites: tuple[str, ...]
    verdicts: dict[str, str] = field(default_factory=dict)  # nodeid -> passed/failed/error/skipped
    catches: dict[str, tuple[str, ...]] = field(default_factory=dict)  # nodeid -> its catches marker
    problem: str = ""  # build failed, no results
    faults: dict[str, str] = field(default_factory=dict)  # nodeid -> the fault that ended it, if any

    def failed(self) -> list[str]:
        return sorted(t for t, v in self.verdicts.items() if v in ("failed", "error"))

    def asserted(self) -> list[str]:
        """Tests that failed an assertion: the witnesses disagreed with the kernel's
        rules. An error, a lost guest, a hold that could not be made, is not a catch."""
        return sorted(t for t, v in self.verdicts.items() if v == "failed" and not self.faults.get(t))


def _function(nodeid: str) -> str:
    return nodeid.partition("::")[2].split("[")[0]


def _short(failed: list[str]) -> str:
    """Failed tests by function, with how many of its parameters failed."""
    counts: dict[str, int] = {}
    for t in failed:
        func = _function(t)
        counts[func] = counts.get(func, 0) + 1
    return "<br>".join(f"{f} ×{n}" if n > 1 else f for f, n in counts.items())


def judge(plan: Plan, baseline: KernelOutcome, mutants: list[KernelOutcome]) -> tuple[list[list[str]], bool]:
    """Table rows and whether the goal was met: each mutant failed a test that
    carries its catches marker."""
    ok = not baseline.problem and not baseline.failed() and bool(baseline.verdicts)
    passed = sum(v == "passed" for v in baseline.verdicts.values())
    skipped = sum(v == "skipped" for v in baseline.verdicts.values())
    rows = [[baseline.kernel, ", ".join(baseline.suites), baseline.problem or _short(baseline.failed()) or "none",
             "(baseline)", "all pass" if ok else "NOT all pass", f"{passed} passed, {skipped} skipped"]]
    for o in mutants:
        failed = o.failed()
        right = [t for t in o.asserted() if o.kernel in o.catches.get(t, ())]
        expected = sorted({_function(t) for outcome in (baseline, o)
                           for t, kernels in outcome.catches.items() if o.kernel in kernels})
        caught = bool(failed) and not o.problem
        ok &= bool(right) and not o.problem
        rows.append([o.kernel, ", ".join(o.suites), o.problem or _short(failed) or "none",
                     "yes" if caught else "NO", "yes" if right else "NO", ", ".join(expected) or "(no test marked)"])
    return rows, ok


def table(rows: list[list[str]]) -> str:
    head = ["kernel", "suites", "tests failed", "caught", "by the expected test", "expected / baseline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def junit(rows: list[list[str]]) -> str:
    """The table as JUnit XML (junit-xml): one testcase per kernel, failed when the
    baseline does not pass everything or a mutant is not caught by a test named for it."""
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    cases = []
    for kernel, suites, failed, caught, right, expected in rows:
        c = TestCase(kernel, classname="mutants", stdout=f"suites: {suites}\ntests failed: {failed}\n"
                     f"caught: {caught}\nexpected: {expected}")
        if caught == "(baseline)":  # the baseline row: "all pass" in the next column
            if right != "all pass":
                c.add_failure_info(f"the baseline did not pass everything: {failed}")
        elif right != "yes":
            c.add_failure_info(f"not caught by a test marked for it ({expected}); tests failed: {failed}")
        cases.append(c)
    return to_xml_report_string([TestSuite("iowitness planted-bug kernels", cases)])


def _build(kernel: str) -> str:
    rc, err = _child(["-m", "kernels", "build", kernel], stderr=subprocess.PIPE)
    if rc != 0:
        return "build failed: " + ((err.strip().splitlines() or ["?"])[-1])
    return ""


PYTEST_INTERRUPTED = 2  # pytest's exit code (pytest.ExitCode.INTERRUPTED)


def _child(args: list[str], stderr=None) -> tuple[int, str]:
    """`python ARGS` in the checkout (a build, a pytest session): interrupted, the
    child is asked to stop (both stop their own children on SIGTERM) before this
    process goes. Returns its exit code and, with stderr=PIPE, its stderr."""
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=sys.stderr, stderr=stderr, text=True)
    return child.wait(proc, communicate=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _run(kernel: str, suites: tuple[str, ...], out: Path) -> KernelOutcome:
    o = KernelOutcome(kernel, suites)
    if out.exists():  # an interrupted run's partial results: kept aside, not read
        n = 1
        while out.with_name(f"{out.name}.interrupted-{n}").exists():
            n += 1
        out.rename(out.with_name(f"{out.name}.interrupted-{n}"))
    out.mkdir(parents=True)
    rc, _ = _child(["-m", "pytest", "-p", "no:cacheprovider", "-q", *suites, "--kernel", kernel,
                    "--results-dir", str(out)])
    if rc == PYTEST_INTERRUPTED:
        raise KeyboardInterrupt
    found = runs.new_runs(out, set())
    if not found:
        o.problem = "no junit.xml (pytest did not get to run)"
        return o
    cases = runs.load(found[0]).cases
    o.verdicts = {runs.without_kernel(c.nodeid, kernel): c.verdict for c in cases}
    o.catches = {runs.without_kernel(c.nodeid, kernel): tuple(filter(None, c.properties.get("catches", "").split(",")))
                 for c in cases}
    o.faults = {runs.without_kernel(c.nodeid, kernel): c.fault for c in cases if c.fault}
    return o


OUTCOME = "outcome.json"
PLAN = "plan.json"


def save_outcome(o: KernelOutcome, out: Path) -> None:
    """Written last, atomically: its presence says the kernel's run finished."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (OUTCOME + ".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(o), indent=1))
    tmp.replace(out / OUTCOME)


def load_outcome(out: Path, suites: tuple[str, ...]) -> KernelOutcome | None:
    """A finished kernel's outcome, if it ran these suites."""
    try:
        d = json.loads((out / OUTCOME).read_text())
        catches = {k: tuple(v) for k, v in d["catches"].items()}
        o = KernelOutcome(d["kernel"], tuple(d["suites"]), d["verdicts"], catches, d["problem"], d["faults"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return o if o.suites == suites else None


def head_commit() -> str:
    p = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, text=True, capture_output=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, text=True,
                           capture_output=True).stdout.strip()
    return (p.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def resume_plan(top: Path, commit: str) -> dict[str, list[str]]:
    """The kernels and suites of the run in `top`, checked against this checkout."""
    try:
        doc = json.loads((top / PLAN).read_text())
        kept, planned = doc["commit"], doc["suites"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInput(f"--resume {top}: no readable {PLAN} (not a mutants run directory)") from None
    if kept != commit or commit.endswith("+changes"):
        raise BadInput(f"--resume {top}: it ran commit {kept}, this checkout is {commit}: "
                       f"one table must come from one version of the tests")
    return planned


def _outcomes(kernels: list[tuple[str, tuple[str, ...]]], top: Path, no_build: bool) -> list[KernelOutcome]:
    """Each kernel's outcome: kept from a finished run in `top`, else built and run."""
    outcomes = []
    for name, suites in kernels:
        kept = load_outcome(top / name, suites)
        if kept is not None:
            print(f"mutants: {name}: kept from {top / name / OUTCOME}", file=sys.stderr)
            outcomes.append(kept)
            continue
        t0 = time.monotonic()
        problem = "" if no_build else _build(name)
        built = time.monotonic() - t0
        o = KernelOutcome(name, suites, problem=problem) if problem else _run(name, suites, top / name)
        save_outcome(o, top / name)
        what = o.problem or f"suites {time.monotonic() - t0 - built:.0f} s, {len(o.failed())} failed"
        print(f"mutants: {name}: build {built:.0f} s, {what}", file=sys.stderr)
        outcomes.append(o)
    return outcomes


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="iowitness mutants", description=__doc__.split("\n\n")[0])
    ap.add_argument("--focused", action="store_true", help="each mutant runs only its own suites")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="only these mutants")
    ap.add_argument("--no-build", action="store_true", help="use the cached builds")
    ap.add_argument("--results-dir", type=Path, default=REPO / "results")
    ap.add_argument("--resume", type=Path, metavar="DIR", help="go on with the run in DIR (a mutants-<stamp>)")
    args = ap.parse_args(argv)
    commit = head_commit()
    try:
        plan = load_plan()
        unknown = set(args.only) - {m.name for m in plan.mutants}
        if unknown:
            raise BadInput(f"--only: not a mutant in {CONFIG.name}: {', '.join(sorted(unknown))}")
        if args.resume and (args.only or args.focused):
            raise BadInput("--resume takes the run's own plan: no --only or --focused with it")
        if args.resume:
            top = args.resume.resolve()
            kernels = [(k, tuple(v)) for k, v in resume_plan(top, commit).items()]
        else:
            chosen = [m for m in plan.mutants if not args.only or m.name in args.only]
            base_suites = (tuple(dict.fromkeys(s for m in chosen for s in m.suites)) if args.focused
                           else plan.suites)
            kernels = [(plan.baseline, base_suites),
                       *((m.name, m.suites if args.focused else plan.suites) for m in chosen)]
            top = args.results_dir.resolve() / time.strftime("mutants-%Y%m%d-%H%M%S")
    except BadInput as e:
        print(f"mutants: {e}", file=sys.stderr)
        return 2
    top.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        (top / PLAN).write_text(json.dumps({"commit": commit, "suites": {k: list(v) for k, v in kernels}},
                                           indent=1))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcomes = _outcomes(kernels, top, args.no_build)
    except KeyboardInterrupt:
        print(f"mutants: interrupted; finished kernels are kept: iowitness mutants --resume {top}",
              file=sys.stderr)
        return 130
    rows, ok = judge(plan, outcomes[0], outcomes[1:])
    text = table(rows)
    print(text)
    (top / "mutants.md").write_text(text)
    (top / "mutants.junit.xml").write_text(junit(rows))
    print(f"mutants: {'every mutant caught by its test, baseline clean' if ok else 'goal NOT met'}; "
          f"{top / 'mutants.md'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
