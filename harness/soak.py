"""Soak: run the suite N times, then per test its verdicts over the runs and the
spread of every witness's figures (harness/figures.py), and name the flakes.

    python -m harness.soak N [PYTEST_ARGS ...]
    python -m harness.soak --report RUN_DIR [RUN_DIR ...]

--report prints the same table for runs already made (a soak that was stopped and
resumed in parts, or CI runs of one commit).

Without PYTEST_ARGS it runs what the README's test command runs (every test and
scenario suite on the default kernels). Each run is a normal results/<run>/. Exit
0 when every test passed or skipped in every run, 1 when any failed or errored
(the flakes are listed: tests whose verdict changed between runs), 2 bad input.
Ctrl-C or SIGTERM stops after the run in progress has shut down; the runs
finished so far are reported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from harness import figures
from harness import runs as runs_mod

REPO = Path(__file__).resolve().parent.parent


def _results_dir(args: list[str]) -> Path:
    for i, a in enumerate(args):
        if a == "--results-dir" and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--results-dir="):
            return Path(a.split("=", 1)[1])
    return REPO / "results"


def verdict_table(runs: list[runs_mod.Run]) -> tuple[list[str], list[str]]:
    """Tests that failed or errored at least once, and those whose verdict changed."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for run in runs:
        for c in run.cases:
            seen[c.base_nodeid][c.verdict] += 1
    bad = sorted(t for t, c in seen.items() if c["failed"] or c["error"])
    flaky = sorted(t for t, c in seen.items() if len(c) > 1)
    return bad, flaky


def report(paths: list[Path]) -> int:
    runs = [runs_mod.load(p) for p in paths]
    print(f"# soak: {len(runs)} run(s): {' '.join(r.name for r in runs)}\n")
    print(figures.report(runs))
    bad, flaky = verdict_table(runs)
    print(f"\nflaky (verdict changed between runs): {', '.join(flaky) or 'none'}")
    print(f"failed or errored at least once: {', '.join(bad) or 'none'}")
    return 1 if bad else 0


def report_existing(dirs: list[str]) -> int:
    runs = [Path(d) for d in dirs]
    missing = [str(r) for r in runs if not runs_mod.is_run(r)]
    if not runs or missing:
        print(f"soak: --report needs run directories with a junit.xml: {' '.join(missing) or 'none given'}",
              file=sys.stderr)
        return 2
    return report(runs)


USAGE = "usage: iowitness soak N [PYTEST_ARGS ...] (N >= 1) | --report RUN_DIR ..."


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if argv[:1] == ["--report"]:
        return report_existing(argv[1:])
    if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
        print(f"soak: {USAGE}", file=sys.stderr)
        return 2
    n, args = int(argv[0]), argv[1:]
    base = _results_dir(args)
    runs: list[Path] = []
    stop = False

    def _stop(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    for i in range(1, n + 1):
        before = runs_mod.entries(base)
        print(f"soak: run {i} of {n}", file=sys.stderr, flush=True)
        child = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=REPO)
        try:
            while child.poll() is None:
                try:
                    child.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    if stop:
                        child.terminate()  # the plugin shuts its guests down and writes its reports
        except KeyboardInterrupt:
            stop = True
            child.wait()  # it got the terminal's SIGINT too
        runs += runs_mod.new_runs(base, before)
        if stop:
            print(f"soak: stopped after {len(runs)} run(s)", file=sys.stderr)
            break
    if not runs:
        print("soak: no run wrote results", file=sys.stderr)
        return 1
    return report(runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
