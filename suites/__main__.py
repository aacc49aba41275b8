"""Reproduce a documented behaviour on demand, and read runs.

    python -m suites reproduce --list
    python -m suites reproduce NAME [--kernel K ...] [--shell] [-- PYTEST_ARGS]
    python -m suites tools [--kernel K ...] [--tool NAME=PATH ...] [-- PYTEST_ARGS]
    python -m suites plant-bug NAME... | --all | --list [--kernel K ...]   # lying builds of the tools, caught
    python -m suites summary RUN_DIR        # results/<run>/summary.md and .html
    python -m suites compare RUN_A RUN_B [--pair KA=KB]
    python -m suites kcidb RUN_DIR [-o FILE]
    python -m suites merge RUN_DIR... [--results-dir DIR]   # shards or runs joined into one run

tools runs the tools suite (suites/tools/: does each observability tool tell
the truth about each wait?) and prints the agreement matrix per kernel; --tool
runs a build of a tool of your own instead of the packaged one. Exit code: 0
every tool agreed (or is blind by design), 1 one disagreed, 3 a test errored,
2 bad input.

reproduce boots the kernel(s), runs the behaviour's tests, and prints each test's
verdict and its evidence table (witness, what the kernel's rules predict and where
they are written, what was observed). --shell opens a shell in the guest after each
test, before its cleanup: the device, module, sysctls and tracer it set up are still
there. Exit code: 0 the kernel behaved as documented, 1 it did not, 3 a test errored
or its guest was lost, 4 skipped (the kernel lacks what the behaviour needs), 2 bad
input.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from pathlib import Path

from harness import agreement, compare, kcidb, merge, results, runs, summary
from kernels import catalog
from kernels.errors import KernelError
from suites.catalog import BEHAVIOURS
from suites.registration import install

REPO = Path(__file__).resolve().parent.parent


def list_behaviours() -> str:
    width = max(map(len, BEHAVIOURS))
    return "\n".join(f"{name:{width}}  {shows}" for name, shows in BEHAVIOURS.items())


def exit_code(cases: tuple[runs.Case, ...]) -> int:
    verdicts = {c.verdict for c in cases}
    if not cases or "error" in verdicts or any(c.lost_guest for c in cases):
        return 3
    if "failed" in verdicts:
        return 1
    return 4 if verdicts == {"skipped"} else 0


def report(run: runs.Run) -> str:
    out = []
    for c in run.cases:
        md = run.path / "evidence" / (results.safe_name(c.nodeid) + ".md")
        head = f"{summary.MARK[c.verdict]:5} {c.nodeid}"
        out.append(head + (f"\n      {c.reason}" if c.message else ""))
        if md.exists():
            out.append(md.read_text())
    return "\n".join(out)


def run_pytest(args, pytest_args: list[str]) -> runs.Run | int:
    """pytest with these arguments and the command's --kernel choices, in the
    results dir: the run it wrote, or the exit code to give (2 bad input, 3 no result)."""
    try:
        for name in args.kernel:
            catalog.get(name)
    except KernelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = Path(args.results_dir)
    before = runs.entries(base)
    cmd = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider", "-q", "--results-dir", str(base)]
    cmd += [a for k in args.kernel for a in ("--kernel", k)]
    rc = subprocess.run(cmd, cwd=REPO).returncode
    new = runs.new_runs(base, before)
    if not new:
        return 2 if rc in (4, 5) else 3  # pytest refused the arguments, or died before any result
    return runs.load(new[-1])


def reproduce(args, extra: list[str]) -> int:
    if args.list or not args.name:
        print(list_behaviours())
        return 0 if args.list else 2
    if args.name not in BEHAVIOURS:
        near = difflib.get_close_matches(args.name, BEHAVIOURS, n=3)
        print(f"error: no behaviour named {args.name!r}" + (f" (did you mean {', '.join(near)}?)" if near else "")
              + "; see --list", file=sys.stderr)
        return 2
    # The tests that show it carry its marker (suites/catalog.py, harness/plugin/markers.py).
    run = run_pytest(args, ["suites", "--behaviour", args.name, *(["--shell-after", "-s"] if args.shell else []),
                            *extra])
    if isinstance(run, int):
        return run
    print(f"\n# {args.name}: {BEHAVIOURS[args.name]}\n")
    print(report(run))
    code = exit_code(run.cases)
    print(f"verdict: {['reproduced', 'NOT reproduced', '', 'ERROR', 'skipped'][code]} "
          f"(exit {code}); summary: {run.path / 'summary.html'}")
    return code


def tools(args, extra: list[str]) -> int:
    run = run_pytest(args, ["suites/tools/test_agreement.py", *(a for t in args.tool for a in ("--tool", t)), *extra])
    if isinstance(run, int):
        return run
    print()
    for b in agreement.own_builds(run):
        print(f"your build: {b}")
    for m in agreement.matrices(run).values():
        print(agreement.text(m))
    code = exit_code(run.cases)
    print(f"{'every tool agreed' if code in (0, 4) else 'a tool disagreed' if code == 1 else 'ERROR'} "
          f"(exit {code}); summary: {run.path / 'summary.html'}")
    return 0 if code == 4 else code


def main(argv: list[str] | None = None) -> int:
    install()
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="iowitness", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="run one documented behaviour and show its evidence")
    r.add_argument("name", nargs="?")
    r.add_argument("--list", action="store_true")
    r.add_argument("--kernel", action="append", default=[])
    r.add_argument("--shell", action="store_true", help="a guest shell after each test, before its cleanup")
    r.add_argument("--results-dir", default=str(REPO / "results"))
    t = sub.add_parser("tools", help="does each observability tool tell the truth about each wait? the matrix")
    t.add_argument("--kernel", action="append", default=[])
    t.add_argument("--tool", action="append", default=[], metavar="NAME=PATH",
                   help="run your build of a tool instead of the packaged one")
    t.add_argument("--results-dir", default=str(REPO / "results"))
    b = sub.add_parser("plant-bug", help="run lying builds of the tools (suites/tools/mutants/); show each caught")
    b.add_argument("name", nargs="*")
    b.add_argument("--all", action="store_true", help="the whole corpus; the table goes to suites/tools/mutants.md")
    b.add_argument("--list", action="store_true")
    b.add_argument("--no-packaged", action="store_true", help="leave out the run of the packaged tools")
    b.add_argument("--kernel", action="append", default=[])
    b.add_argument("--results-dir", default=str(REPO / "results"))
    s = sub.add_parser("summary", help="write a run's summary.md and summary.html")
    s.add_argument("run")
    c = sub.add_parser("compare", help="what changed verdict between two runs")
    c.add_argument("rest", nargs=argparse.REMAINDER)
    k = sub.add_parser("kcidb", help="a run as validated KCIDB JSON")
    k.add_argument("rest", nargs=argparse.REMAINDER)
    m = sub.add_parser("merge", help="join runs (the shards of --shard I/N) into one run directory")
    m.add_argument("runs", nargs="+")
    m.add_argument("--results-dir", default=str(REPO / "results"))
    args = ap.parse_args(argv)
    if args.cmd == "reproduce":
        return reproduce(args, extra)
    if args.cmd == "tools":
        return tools(args, extra)
    if args.cmd == "plant-bug":
        from suites import planted
        return planted.main(args.name, args.all, args.kernel, Path(args.results_dir), listing=args.list,
                            packaged=not args.no_packaged)
    if args.cmd == "summary":
        return summary.main([args.run])
    if args.cmd == "compare":
        return compare.main(args.rest)
    if args.cmd == "merge":
        return merge.main(args.runs, Path(args.results_dir))
    return kcidb.main(args.rest)


if __name__ == "__main__":
    sys.exit(main())
