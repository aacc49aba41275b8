"""`iowitness bench`: the boot and round-trip figures of vm/bench.py, and with
--suites the suites' own figures beside them, as one JSON object.

    iowitness bench --kernel debian-6.12 [--rounds 3] [--commands 200] [--naive 10]
    iowitness bench --suites [PATH ...] [--suite-kernel K ...] [--workers 2]   # + serial vs -n 2
    iowitness bench --kernel debian-6.12 --rootfs both [--rounds 3]   # 9p vs virtio-fs

The suites' part runs pytest and reads the run it wrote, which is this floor's
business, not the guest layer's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kernels
from core import budget
from harness import runs
from vm import bench


def suite_figures(selection: list[str], kernels_: list[str], workers: int) -> dict:
    """The suites on two kernels, serial and with `workers` pytest-xdist workers,
    one after the other in this invocation: wall time, and per kernel the time
    its tests took and the run's budget (core/budget.py)."""
    out = {}
    for mode, extra in (("serial", []), (f"n{workers}", ["-n", str(workers)])):
        results_dir = Path(tempfile.mkdtemp(prefix="iowitness-bench-runs-"))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection,
               *(a for k in kernels_ for a in ("--kernel", k)), "--results-dir", str(results_dir), *extra]
        t0 = time.monotonic()
        rc = subprocess.run(cmd, cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True).returncode
        wall = time.monotonic() - t0
        run = next(d for d in results_dir.iterdir() if d.is_dir() and not d.is_symlink())
        b = budget.load(run).as_dict()
        per_kernel = {k: round(sum(t["seconds"] for n, t in b["tests"].items() if runs.kernel_in(n, kernels_) == k), 1)
                      for k in kernels_}
        out[mode] = {"wall_s": round(wall, 1), "pytest_rc": rc, "tests_s_per_kernel": per_kernel,
                     "budget_s": b["totals_s"], "run": str(run)}
    return out


def main(argv=None) -> int:
    ap = bench.parser(prog="iowitness bench")
    ap.add_argument("--suites", nargs="*", default=None, metavar="PATH",
                    help="also run these suites (default: suites) on --suite-kernel serial and with -n --workers, "
                         "side by side: wall time, per-kernel time and budget (long: the suites twice)")
    ap.add_argument("--suite-kernel", action="append", default=[], metavar="NAME",
                    help="kernels for --suites (default: the catalog's defaults)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    figures = bench.figures(args)
    if args.suites is not None and not args.rootfs:
        figures["suites"] = suite_figures(args.suites or ["suites"], args.suite_kernel or kernels.catalog.defaults(),
                                          args.workers)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
