"""Which commit changed it: a flake-aware bisection over a kernel git tree, with
iowitness's tests as the oracle.

    iowitness bisect --tree PATH --good REV --bad REV [--runs K] -- PYTEST_ARGS
    iowitness bisect-one --tree PATH [--runs K] -- PYTEST_ARGS   # under `git bisect run`
    iowitness series --tree PATH --base REV [--tip REV] -- PYTEST_ARGS
    iowitness bisect-debian --kernel debian-6.1 [--good ABI] [--bad ABI] -- PYTEST_ARGS

Each revision is checked out in the tree (as `git bisect` does) and built there
incrementally, its build output kept between steps, with one config for the whole
bisection (the tree's .config or --config, LOCALVERSION fixed, olddefconfig per
revision) and a reproducible build (fixed timestamp, version, user and host), so
two revisions that differ in nothing the kernel is built from give byte-identical
images. The build is booted from the tree as the catalog entry `bisect` (kind
`tree`) and the tests run on it in their own pytest session.

A revision is
  good  after K runs that passed (K = --runs, default 2),
  bad   after two runs in which a test failed by its own judgment (a witness
        disagreeing with the kernel's rules), not by an iowitness fault,
  skip  when it does not build, when two runs ended by a fault or an error (a
        lost guest, a harness error: no verdict about the rule), or when it failed
        once in K + 2 runs (neither reproduced nor clean).
A revision whose build is byte-identical (image and modules) to one already
judged takes that verdict without running anything. The endpoints are judged
first: the good one must be good, the bad one bad.

Everything is kept under --state (default: the cache's bisect/<hash of tree,
config and tests>/): the fixed config, each revision's runs and verdict, each
build; the same command again resumes where an interrupted one stopped. The
search runs over the first-parent history good..bad; the report (report.md and
report.html there)
names the first bad commit, the steps with their runs, a confidence, and the
evidence rows that changed from the last good revision's run to the first bad's.

`bisect-one` judges the tree's HEAD the same way and exits as `git bisect run`
expects: 0 good, 1 bad, 125 skip, 128 abort (bad input, interrupted). `series`
judges the base and every commit of base..tip on its own, and says which
evidence rows each commit changed against the base (series.md). `bisect-debian`
bisects the ABIs the Debian archive serves for a flavour (6.1.0-47 ... 6.1.0-57),
each fetched into the cache as that entry pinned: which point release changed it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kernels import cache
from kernels.errors import KernelError

KERNEL = "bisect"  # the catalog name every step's build boots as: runs compare row for row
LOCALVERSION = "-iowitness-bisect"
DEFAULT_RUNS = 2
REPRODUCIBLE = {"KBUILD_BUILD_TIMESTAMP": "1970-01-01", "KBUILD_BUILD_VERSION": "1",
                "KBUILD_BUILD_USER": "iowitness", "KBUILD_BUILD_HOST": "iowitness"}
GOOD, BAD, SKIP = "good", "bad", "skip"
PASS, FAIL, INFRA = "pass", "fail", "infra"
EXIT = {GOOD: 0, BAD: 1, SKIP: 125}
ABORT = 128


class BisectError(KernelError):
    """Bad input or a state the bisection cannot go on from (one line, exit 2)."""


# -- the oracle ------------------------------------------------------------------

@dataclass(frozen=True)
class StepOutcome:
    """One pytest session on one revision's build."""

    result: str  # PASS, FAIL or INFRA
    why: str
    run: str = ""  # its run directory
    seconds: float = 0.0


def classify(rc: int, cases) -> tuple[str, str]:
    """A session's result from its exit code and its cases (harness/runs.py): FAIL
    when a test failed by its own judgment, INFRA when the only failures are
    iowitness faults or errors (or pytest itself failed), PASS otherwise."""
    if rc not in (0, 1) or not cases:
        return INFRA, f"pytest exit {rc}" + ("" if cases else ", no test ran")
    judged = [c for c in cases if c.verdict == "failed" and not c.fault]
    if judged:
        c = judged[0]
        return FAIL, f"{c.nodeid}: {c.message}"[:300]
    broken = [c for c in cases if c.verdict in ("failed", "error")]
    if broken:
        c = broken[0]
        return INFRA, f"{c.nodeid}: {c.reason}"[:300]
    return PASS, f"{sum(c.verdict == 'passed' for c in cases)} passed"


def verdict(results: list[str], runs: int) -> str | None:
    """The revision's verdict from its sessions' results so far, or None: run again."""
    fails, passes, infra = results.count(FAIL), results.count(PASS), results.count(INFRA)
    if fails >= 2:
        return BAD
    if infra >= 2:
        return SKIP
    if fails == 0 and passes >= runs:
        return GOOD
    if len(results) >= runs + 2:
        return SKIP  # one failure, not reproduced: neither good nor bad
    return None


# -- the search ------------------------------------------------------------------

def bounds(n: int, verdicts: dict[int, str]) -> tuple[int, int]:
    """(last good, first bad) indices into the commits good..bad (oldest first; -1:
    the good endpoint, n - 1: the bad one)."""
    lo = max((i for i, v in verdicts.items() if v == GOOD), default=-1)
    hi = min((i for i, v in verdicts.items() if v == BAD and i > lo), default=n - 1)
    return lo, hi


def next_index(n: int, verdicts: dict[int, str]) -> int | None:
    """The next commit to judge: the unjudged one nearest the middle of the range
    still open (a skipped one's neighbours next), or None when it is closed."""
    lo, hi = bounds(n, verdicts)
    open_ = [i for i in range(lo + 1, hi) if i not in verdicts]
    if not open_:
        return None
    mid = (lo + hi) // 2
    return min(open_, key=lambda i: (abs(i - mid), i))


def culprits(n: int, verdicts: dict[int, str]) -> list[int]:
    """The commits the first bad one may be: the first bad, after the skipped ones
    right before it."""
    lo, hi = bounds(n, verdicts)
    return list(range(lo + 1, hi + 1))


def confidence(steps: dict[str, dict]) -> float:
    """How sure the answer is, from the runs: q, the share of runs that went against
    their revision's verdict (Laplace-smoothed), estimates how often a run misleads;
    the boundary is wrong only if every run of the last good revision missed a real
    failure, or both failing runs of the first bad one were flakes."""
    against = total = 0
    for s in steps.values():
        res, v = s.get("results", []), s.get("verdict")
        if v in (GOOD, BAD):
            total += len(res)
            against += sum(r != (PASS if v == GOOD else FAIL) for r in res)
    q = (against + 1) / (total + 2)
    good_runs = min((s["results"].count(PASS) for s in steps.values() if s.get("verdict") == GOOD
                     and s.get("results")), default=0)
    return round((1 - q ** max(good_runs, 1)) * (1 - q ** 2), 3)


# -- the tree --------------------------------------------------------------------

def git(tree: Path, *args: str) -> str:
    p = subprocess.run(["git", "-C", str(tree), *args], text=True, capture_output=True)
    if p.returncode != 0:
        raise BisectError("bisect", f"git {' '.join(args[:2])} in {tree}: "
                                    f"{(p.stderr.strip().splitlines() or ['failed'])[-1]}")
    return p.stdout.strip()


def check_tree(tree: Path) -> None:
    if not (tree / "Makefile").is_file() or not (tree / "kernel").is_dir():
        raise BisectError("bisect", f"{tree} is not a kernel source tree")
    if not (tree / ".git").exists():
        raise BisectError("bisect", f"{tree} is not a git repository")
    dirty = git(tree, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        raise BisectError("bisect", f"{tree} has uncommitted changes ({dirty.splitlines()[0].strip()}): "
                                    "commit or stash them first")


def commits_between(tree: Path, good: str, bad: str) -> list[str]:
    """good..bad on the first-parent history, oldest first (the bad one last)."""
    g, b = resolve(tree, good), resolve(tree, bad)
    if subprocess.run(["git", "-C", str(tree), "merge-base", "--is-ancestor", g, b]).returncode != 0:
        raise BisectError("bisect", f"--good {good} is not an ancestor of --bad {bad}")
    out = git(tree, "rev-list", "--reverse", "--first-parent", f"{g}..{b}").split()
    if not out:
        raise BisectError("bisect", f"no commits between {good} and {bad}")
    return out


def resolve(tree: Path, rev: str) -> str:
    p = subprocess.run(["git", "-C", str(tree), "rev-parse", "--verify", "-q", f"{rev}^{{commit}}"],
                       text=True, capture_output=True)
    if p.returncode != 0:
        raise BisectError("bisect", f"{rev}: no such commit in {tree}")
    return p.stdout.strip()


def _head(tree: Path) -> str:
    """What to check out again at the end: the branch, else the commit."""
    p = subprocess.run(["git", "-C", str(tree), "symbolic-ref", "-q", "--short", "HEAD"], text=True,
                       capture_output=True)
    return p.stdout.strip() or git(tree, "rev-parse", "HEAD")


def describe(tree: Path, rev: str) -> dict:
    subject, date = (git(tree, "log", "-1", "--format=%s%n%aI", rev).split("\n") + [""])[:2]
    return {"rev": rev, "short": rev[:12], "subject": subject, "date": date}


# -- state -----------------------------------------------------------------------

class State:
    """The bisection's directory: config, tests, each revision's judgment and build hash."""

    def __init__(self, path: Path):
        self.path = path
        self.file = path / "state.json"
        self.data = json.loads(self.file.read_text()) if self.file.exists() else {"steps": {}, "images": {}}

    @classmethod
    def default_dir(cls, tree: Path, config: bytes, tests: list[str]) -> Path:
        h = hashlib.sha256(f"{tree.resolve()}\0".encode() + config + "\0".join(tests).encode())
        return cache.root() / "bisect" / h.hexdigest()[:16]

    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.file)

    def step(self, rev: str) -> dict:
        return self.data["steps"].setdefault(rev, {"results": [], "runs": []})


def fixed_config(tree: Path, state_dir: Path, given: Path | None) -> Path:
    """The bisection's one config, kept in its directory on first use."""
    kept = state_dir / "config"
    if kept.exists():
        return kept
    src = given or tree / ".config"
    if not src.is_file():
        raise BisectError("bisect", f"no {src}: give --config FILE (a kernel .config)")
    state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, kept)
    return kept


# -- building ----------------------------------------------------------------------

@dataclass(frozen=True)
class Built:
    image_hash: str
    version: str
    seconds: float


def _run(tree: Path, log: Path, *cmd: str, env: dict | None = None) -> int:
    with open(log, "a") as out:
        proc = subprocess.Popen(list(cmd), cwd=tree, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, GIT_DIR="/nonexistent", **(env or {})), start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def content_hash(tree: Path) -> str:
    """The built image and every module it built (modules.order), by content: what
    the guest would run."""
    h = hashlib.sha256((tree / "arch" / "x86" / "boot" / "bzImage").read_bytes())
    order = tree / "modules.order"
    for rel in sorted(order.read_text().split()) if order.exists() else ():
        ko = tree / (rel[:-2] + ".ko" if rel.endswith(".o") else rel)
        h.update(rel.encode() + b"\0" + (ko.read_bytes() if ko.exists() else b"missing"))
    return h.hexdigest()[:16]


def build(tree: Path, rev: str, config: Path, state: State) -> Built | str:
    """Check out and build `rev` in the tree (booted from there, as the catalog's
    `tree` kind: virtme-ng takes the modules from the tree); the build, or why it
    failed (a skip)."""
    git(tree, "checkout", "-q", "--detach", rev)
    logs = state.path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{rev[:12]}.log"
    log.write_text("")
    t0 = time.monotonic()
    shutil.copy2(config, tree / ".config")
    steps = (("scripts/config", "--set-str", "LOCALVERSION", LOCALVERSION, "--disable", "LOCALVERSION_AUTO"),
             ("make", "olddefconfig"), ("make", f"-j{os.cpu_count() or 2}", "bzImage", "modules"))
    for cmd in steps:
        if _run(tree, log, *cmd, env=REPRODUCIBLE) != 0:
            errors = [ln for ln in log.read_text(errors="replace").splitlines() if "error" in ln.lower()]
            return f"{cmd[0]} {cmd[1]} failed: {(errors or ['see ' + str(log)])[0].strip()[:200]}"
    release = (tree / "include" / "config" / "kernel.release").read_text().strip()
    return Built(content_hash(tree), release, round(time.monotonic() - t0, 1))


# -- running the tests ---------------------------------------------------------------

PATH_KEYS = ("image", "modules", "headers", "tree", "config")


def with_entry(state: State, name: str, entry: dict) -> Path:
    """The catalog the tests run with: the project's (its names are what markers
    such as `catches` refer to), its paths made absolute, with `entry` as `name`."""
    import yaml

    from kernels.catalog import DEFAULT_CATALOG
    src = Path(os.environ.get("IOWITNESS_CATALOG") or DEFAULT_CATALOG)
    raw = yaml.safe_load(src.read_text())
    for e in raw["kernels"].values():
        for k in PATH_KEYS:
            if isinstance(e.get(k), str):
                e[k] = str((src.parent / os.path.expanduser(e[k])).resolve())
        if isinstance(e.get("patches"), list):
            e["patches"] = [str((src.parent / os.path.expanduser(p)).resolve()) for p in e["patches"]]
    raw["kernels"][name] = entry
    path = state.path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _catalog(state: State, tree: Path, features: list[str]) -> Path:
    return with_entry(state, KERNEL, {"kind": "tree", "tree": str(tree), "build": False,
                                      "features": list(features)})


@dataclass(frozen=True)
class Subject:
    """What is bisected: how to ready one revision (build, fetch) for a boot, and
    the catalog that names it."""

    prepare: object  # rev -> Built, or why it cannot be had (a skip)
    catalog: object  # rev -> the catalog file the tests run with
    kernel: str  # the name it boots as there
    label: object  # rev -> {"short", "subject", "date"}


def run_tests(state: State, subject: Subject, rev: str, tests: list[str], n: int) -> StepOutcome:
    from harness import child, runs
    results = state.path / "runs" / f"{rev[:12]}-{n}"
    shutil.rmtree(results, ignore_errors=True)
    env = dict(os.environ, IOWITNESS_CATALOG=str(subject.catalog(rev)))
    t0 = time.monotonic()
    repo = Path(__file__).resolve().parent.parent
    results.mkdir(parents=True)
    with open(results / "pytest.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--kernel",
                                 subject.kernel,
                                 "--results-dir", str(results), *tests], cwd=repo, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    rc, _ = child.wait(proc)
    seconds = round(time.monotonic() - t0, 1)
    if rc == 5:
        raise BisectError("bisect", f"the tests select nothing: {' '.join(tests)}")
    run = (results / "latest").resolve() if (results / "latest").exists() else None
    cases = runs.load(run).cases if run else ()
    result, why = classify(rc, cases)
    return StepOutcome(result, why, str(run or results), seconds)


# -- judging a revision ----------------------------------------------------------------

def judge(subject: Subject, rev: str, state: State, tests: list[str], k: int, say) -> str:
    """The revision's verdict: kept, taken from a byte-identical build, or found now."""
    s = state.step(rev)
    if s.get("verdict"):
        say(f"{rev[:12]}: {s['verdict']} (kept)")
        return s["verdict"]
    built = subject.prepare(rev)
    if isinstance(built, str):
        s.update(verdict=SKIP, why=built)
        state.save()
        say(f"{rev[:12]}: skip ({built})")
        return SKIP
    s.update(image=built.image_hash, build_seconds=built.seconds)
    same = state.data["images"].get(built.image_hash)
    if same and same["rev"] != rev:
        s.update(verdict=same["verdict"], why=f"byte-identical build to {same['rev'][:12]}: its verdict",
                 reused=same["rev"])
        state.save()
        say(f"{rev[:12]}: {same['verdict']} (byte-identical build to {same['rev'][:12]})")
        return same["verdict"]
    state.save()
    while (v := verdict(s["results"], k)) is None:
        out = run_tests(state, subject, rev, tests, len(s["results"]) + 1)
        s["results"].append(out.result)
        s["runs"].append({"result": out.result, "why": out.why, "run": out.run, "seconds": out.seconds})
        state.save()
        say(f"{rev[:12]}: run {len(s['results'])}: {out.result} ({out.why[:120]})")
    s["verdict"] = v
    if v in (GOOD, BAD):
        state.data["images"][built.image_hash] = {"rev": rev, "verdict": v}
    state.save()
    return v


# -- the report --------------------------------------------------------------------------

def ends(commits: list[str], good: str, state: State) -> tuple[str, str]:
    """The last revision judged good and the first judged bad after it."""
    steps = state.data["steps"]
    verdicts = {i: steps[c]["verdict"] for i, c in enumerate(commits) if steps.get(c, {}).get("verdict")}
    lo, hi = bounds(len(commits), verdicts)
    return (commits[lo] if lo >= 0 else good), commits[hi]


def report(where: str, commits: list[str], good: str, state: State, describe) -> str:
    from harness.compare import evidence_changes
    steps = state.data["steps"]
    verdicts = {i: steps[c]["verdict"] for i, c in enumerate(commits) if steps.get(c, {}).get("verdict")}
    lo, hi = bounds(len(commits), verdicts)
    maybe = culprits(len(commits), verdicts)
    lines = ["# Bisection", "", f"{where}, {len(commits)} revisions after {good[:12]}; "
             f"{len(steps)} revisions judged, "
             f"{sum(1 for s in steps.values() if s.get('build_seconds'))} built, "
             f"{sum(len(s.get('results', [])) for s in steps.values())} test sessions", ""]
    first = describe(commits[hi])
    if len(maybe) == 1:
        lines.append(f"**First bad commit: {first['short']} {first['subject']}** ({first['date']})")
    else:
        lines.append("**The first bad commit is one of** (skipped ones could not be judged): " +
                     ", ".join(f"{describe(commits[i])['short']} {describe(commits[i])['subject']}"
                               for i in maybe))
    st = steps.get(commits[hi], {})
    parent = steps.get(commits[hi - 1], {}) if hi >= 1 else steps.get(good, {})
    if st.get("image") and st.get("image") == parent.get("image"):
        lines.append("Its build is byte-identical to its parent's: a no-op build; the change is elsewhere.")
    lines += [f"confidence {confidence(steps)} (from how often runs went against their revision's verdict)", "",
              "| commit | subject | verdict | runs | why | build s |", "|---|---|---|---|---|---|"]
    order = [good] + commits
    for c in order:
        s = steps.get(c)
        if not s:
            continue
        d = describe(c)
        res = s.get("results", [])
        runs_text = ", ".join(f"{res.count(r)} {r}" for r in (PASS, FAIL, INFRA) if res.count(r)) or "-"
        why = s.get("why") or (s["runs"][-1]["why"] if s.get("runs") else "")
        lines.append(f"| {d['short']} | {d['subject'][:60]} | {s.get('verdict', '?')} | {runs_text} | "
                     f"{why[:100]} | {s.get('build_seconds', '-')} |")
    last_good = ends(commits, good, state)[0]
    a, b = _a_run(steps.get(last_good, {}), PASS, steps), _a_run(steps.get(commits[hi], {}), FAIL, steps)
    if a and b:
        changed, _ = evidence_changes(Path(a), Path(b))
        lines += ["", f"Evidence rows that changed from {last_good[:12]} (good) to {commits[hi][:12]} (bad):", ""]
        lines += [f"    {x}" for x in changed] or ["    (none)"]
    return "\n".join(lines) + "\n"


def as_html(text: str) -> str:
    from harness import report_page
    return report_page.page("iowitness bisection", text)


def write_report(state: State, name: str, text: str) -> None:
    (state.path / f"{name}.md").write_text(text)
    (state.path / f"{name}.html").write_text(as_html(text))


def attach(state: State, name: str, text: str, revs_results: list[tuple[str, str | None]]) -> list[Path]:
    """Put the report into the runs it speaks of (reports/NAME.md) and rewrite their
    summaries: whoever opens the first bad revision's failing run reads the culprit
    there. Each (revision, result) names a session of that revision that gave it."""
    from harness import summary
    steps, pages = state.data["steps"], []
    for rev, result in revs_results:
        run = _a_run(steps.get(rev, {}), result, steps)
        if not run or not (Path(run) / "junit.xml").exists() or Path(run) / "summary.html" in pages:
            continue
        (Path(run) / "reports").mkdir(exist_ok=True)
        (Path(run) / "reports" / f"{name}.md").write_text(text)
        summary.write(Path(run))
        pages.append(Path(run) / "summary.html")
    return pages


def _say_pages(pages: list[Path]) -> None:
    for p in pages:
        _say(f"report attached: {p}")


def _a_run(step: dict, result: str | None, steps: dict | None = None) -> str | None:
    """A session of the step that gave `result` (None: any that gave a verdict); of
    the revision whose verdict it took, for a byte-identical build."""
    if step.get("reused") and steps:
        step = steps.get(step["reused"], {})
    return next((r["run"] for r in step.get("runs", []) if r["result"] == result or
                 (result is None and r["result"] != INFRA)), None)


# -- commands --------------------------------------------------------------------------------

def tree_subject(tree: Path, config: Path, state: State, features: list[str]) -> Subject:
    return Subject(lambda rev: build(tree, rev, config, state), lambda rev: _catalog(state, tree, features),
                   KERNEL, lambda rev: describe(tree, rev))


def _setup(args) -> tuple[Path, Path, State, list[str]]:
    tree = Path(args.tree).resolve()
    check_tree(tree)
    tests = [a for a in args.pytest_args if a != "--"]
    if not tests:
        raise BisectError("bisect", "give the tests after --, e.g. -- suites/aio -k grows_by_n")
    given = Path(args.config).resolve() if args.config else None
    if given and not given.is_file():
        raise BisectError("bisect", f"--config {given}: no such file")
    # Keyed by --config's content, not the tree's .config: each step rewrites that one.
    state_dir = Path(args.state).resolve() if args.state else State.default_dir(
        tree, given.read_bytes() if given else b"", tests)
    config = fixed_config(tree, state_dir, given)
    if args.runs < 1:
        raise BisectError("bisect", "--runs must be at least 1")
    return tree, config, State(state_dir), tests


def _say(text: str) -> None:
    print(f"bisect: {text}", file=sys.stderr, flush=True)


def cmd_bisect(args) -> int:
    tree, config, state, tests = _setup(args)
    commits = commits_between(tree, args.good, args.bad)
    good = resolve(tree, args.good)
    home = _head(tree)
    state.data.update(tree=str(tree), good=good, bad=commits[-1], tests=tests, runs=args.runs)
    state.save()
    subject = tree_subject(tree, config, state, args.features)
    _say(f"{len(commits)} commits; state in {state.path}")
    # The tree may be the catalog's shared build tree: no source build meanwhile.
    with cache.locked(f"build-{tree.parent.name}"):
        try:
            for rev, want in ((good, GOOD), (commits[-1], BAD)):
                got = judge(subject, rev, state, tests, args.runs, _say)
                if got != want:
                    raise BisectError("bisect", f"the {want} endpoint {rev[:12]} was judged {got}: "
                                                f"nothing to bisect (see {state.path})")
            verdicts = {len(commits) - 1: BAD}
            while (i := next_index(len(commits), verdicts)) is not None:
                verdicts[i] = judge(subject, commits[i], state, tests, args.runs, _say)
        finally:
            git(tree, "checkout", "-q", home)
    return _conclude(f"tree {tree}", commits, good, state, subject)


def _conclude(what: str, commits, good, state, subject) -> int:
    """The bisection's report: written to its state, attached to the first bad and
    last good revisions' runs, and printed."""
    text = report(what, commits, good, state, subject.label)
    write_report(state, "report", text)
    last_good, first_bad = ends(commits, good, state)
    _say_pages(attach(state, "bisection", text, [(first_bad, FAIL), (last_good, PASS)]))
    print(text)
    return 0


def rules_changed(run_a: str | None, run_b: str | None) -> str:
    """The evidence rows whose verdict changed from one run to the other, folded by
    witness and change ("aio-nr while held ok -> FAIL in 11 tests")."""
    from harness.compare import evidence_changes
    if not run_a or not run_b:
        return ""
    folded: dict[str, int] = {}
    for line in evidence_changes(Path(run_a), Path(run_b))[0]:
        kind, rest = line.split(None, 1)
        _, what = rest.split(": ", 1)
        key = f"{what.replace(': ', ' ')}" if kind == "CHANGED" else f"{what} gone"
        folded[key] = folded.get(key, 0) + 1
    return "; ".join(f"{k} in {n} test{'s' if n > 1 else ''}" for k, n in folded.items()) or "none"


def series_report(tree: Path, base: str, commits: list[str], state: State) -> str:
    """Each commit of a series on its own: its verdict, the evidence rows whose
    verdict it changed against the base (ktest's patchcheck, with the rules), and
    against the commit before it that ran (which commit of the series did it)."""
    steps = state.data["steps"]
    base_run = _a_run(steps.get(base, {}), None, steps)
    before = base_run
    lines = ["# Series", "", f"tree {tree}, {len(commits)} commits on {base[:12]}", "",
             "| commit | subject | verdict | rows changed against the base | against the commit before |",
             "|---|---|---|---|---|"]
    for c in commits:
        s, d = steps.get(c, {}), describe(tree, c)
        run = _a_run(s, None, steps)
        if run:
            vs_base, vs_before = rules_changed(base_run, run), rules_changed(before, run)
            before = run
        else:
            vs_base = vs_before = s.get("why", "not run")[:100]
        lines.append(f"| {d['short']} | {d['subject'][:60]} | {s.get('verdict', '?')} | {vs_base} | {vs_before} |")
    return "\n".join(lines) + "\n"


def cmd_series(args) -> int:
    """Every commit of base..tip judged on its own."""
    tree, config, state, tests = _setup(args)
    base = resolve(tree, args.base)
    commits = commits_between(tree, args.base, args.tip)
    home = _head(tree)
    subject = tree_subject(tree, config, state, args.features)
    with cache.locked(f"build-{tree.parent.name}"):
        try:
            for rev in [base, *commits]:
                judge(subject, rev, state, tests, args.runs, _say)
        finally:
            git(tree, "checkout", "-q", home)
    text = series_report(tree, base, commits, state)
    write_report(state, "series", text)
    _say_pages(attach(state, "series", text, [(base, None), *((c, None) for c in commits)]))
    print(text)
    return 0


def debian_subject(entry, state: State) -> Subject:
    """A Debian flavour's ABIs: each fetched into the cache under the entry's own
    name (pinned), so what is already cached is reused and runs compare row for row."""
    import dataclasses

    from kernels import debian

    def prepare(abi: str) -> Built | str:
        t0 = time.monotonic()
        try:
            k = debian.fetch(dataclasses.replace(entry, pin=abi), quiet=True)
        except KernelError as e:
            return f"fetch failed: {e.cause}"
        return Built((k.image_sha256 or cache.sha256_file(k.image))[:16], k.version, round(time.monotonic() - t0, 1))

    def catalog(abi: str) -> Path:
        return with_entry(state, entry.name, {"kind": "debian", "abi": entry.abi, "flavour": entry.flavour,
                                              "pin": abi, "features": list(entry.features)})

    def label(abi: str) -> dict:
        try:
            version = debian.package_info(debian.image_package(abi, entry.flavour), entry.name)["Version"]
        except KernelError:
            version = "?"
        return {"short": abi, "subject": f"{debian.image_package(abi, entry.flavour)} {version}", "date": ""}

    return Subject(prepare, catalog, entry.name, label)


def cmd_bisect_debian(args) -> int:
    """Over the ABIs the archive serves for a Debian flavour: which point release changed it?"""
    from kernels import catalog, debian
    from kernels.catalog import DebianEntry
    entry = catalog.get(args.kernel)
    if not isinstance(entry, DebianEntry):
        raise BisectError("bisect", f"{args.kernel} is not a Debian catalog entry")
    tests = [a for a in args.pytest_args if a != "--"]
    if not tests:
        raise BisectError("bisect", "give the tests after --, e.g. -- suites/aio -k grows_by_n")
    abis = debian.available_abis(entry)
    good, bad = args.good or (abis[0] if abis else ""), args.bad or (abis[-1] if abis else "")
    if good not in abis or bad not in abis:
        raise BisectError("bisect", f"the archive serves {', '.join(abis) or 'no ABI'} of {entry.name}: "
                                    f"{good if good not in abis else bad} is not one")
    if abis.index(good) >= abis.index(bad):
        raise BisectError("bisect", f"--good {good} is not older than --bad {bad}")
    commits = abis[abis.index(good) + 1:abis.index(bad) + 1]
    h = hashlib.sha256(f"debian\0{entry.name}\0".encode() + "\0".join(tests).encode()).hexdigest()[:16]
    state = State(Path(args.state).resolve() if args.state else cache.root() / "bisect" / h)
    state.path.mkdir(parents=True, exist_ok=True)
    subject = debian_subject(entry, state)
    _say(f"{entry.name}: {len(commits) + 1} ABIs from {good} to {bad}; state in {state.path}")
    for rev, want in ((good, GOOD), (bad, BAD)):
        got = judge(subject, rev, state, tests, args.runs, _say)
        if got != want:
            raise BisectError("bisect", f"the {want} endpoint {rev} was judged {got}: nothing to bisect")
    verdicts = {len(commits) - 1: BAD}
    while (i := next_index(len(commits), verdicts)) is not None:
        verdicts[i] = judge(subject, commits[i], state, tests, args.runs, _say)
    return _conclude(f"{entry.name} (Debian)", commits, good, state, subject)


def cmd_bisect_one(args) -> int:
    """One revision, the tree's HEAD, for `git bisect run`."""
    tree, config, state, tests = _setup(args)
    rev = git(tree, "rev-parse", "HEAD")
    with cache.locked(f"build-{tree.parent.name}"):
        v = judge(tree_subject(tree, config, state, args.features), rev, state, tests, args.runs, _say)
    print(f"{rev[:12]} {v}")
    return EXIT[v]


def add_parsers(sub) -> None:
    import argparse
    for name, func, helptext in (("bisect", cmd_bisect, "find the first commit whose kernel fails the tests"),
                                 ("bisect-one", cmd_bisect_one, "judge the tree's HEAD (git bisect run)"),
                                 ("series", cmd_series, "judge each commit of base..tip against the base")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--tree", required=True, help="the kernel git tree (checked out and built in place)")
        if name == "bisect":
            p.add_argument("--good", required=True, metavar="REV")
            p.add_argument("--bad", required=True, metavar="REV")
        if name == "series":
            p.add_argument("--base", required=True, metavar="REV")
            p.add_argument("--tip", default="HEAD", metavar="REV")
        p.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="K",
                       help=f"clean runs before a revision is good (default {DEFAULT_RUNS})")
        p.add_argument("--config", help="the .config for every revision (default: the tree's)")
        p.add_argument("--feature", dest="features", action="append", default=[], metavar="NAME",
                       help="a catalog feature the kernel has (repeatable)")
        p.add_argument("--state", help="where its state is kept (default: the cache's bisect/<hash>)")
        p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then the tests to run, as for pytest")
        p.set_defaults(func=func, abort=ABORT if name == "bisect-one" else 2)
    p = sub.add_parser("bisect-debian", help="find the first of a Debian flavour's ABIs that fails the tests")
    p.add_argument("--kernel", required=True, help="a Debian catalog entry (debian-6.1, debian-6.12-rt, ...)")
    p.add_argument("--good", metavar="ABI", help="default: the oldest the archive serves")
    p.add_argument("--bad", metavar="ABI", help="default: the newest")
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="K")
    p.add_argument("--state", help="where its state is kept (default: the cache's bisect/<hash>)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then the tests to run, as for pytest")
    p.set_defaults(func=cmd_bisect_debian, abort=2)
