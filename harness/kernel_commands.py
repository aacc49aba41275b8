"""iowitness check | bisect | bisect-one | series | bisect-debian: the commands
that boot catalog kernels and run tests on them (harness/kernel_check.py,
harness/bisect.py), above the catalog and cache (`python -m kernels`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import bisect, kernel_check
from kernels import catalog, command
from kernels.seen import SEEN, debian_entries


def cmd_check(args) -> int:
    if args.record_run:
        for line in kernel_check.record_run(Path(args.record_run)):
            print(line)
        print(f"recorded in {SEEN}")
        return 0
    names = args.names or debian_entries()
    for n in names:
        catalog.get(n)  # an unknown name is an error before anything boots
    results = []
    for n in names:
        results.append(kernel_check.check_entry(n, accel=args.accel))
        print(results[-1].line(), flush=True)
    if args.record:
        kernel_check.record(results)
        print(f"recorded in {SEEN}")
    return 0 if all(r.ok for r in results) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="iowitness", description="boot catalog kernels: check them, bisect them")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="boot each entry (default: every Debian one) and check it")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--record", action="store_true", help="write what was seen into kernels/seen.yaml")
    p.add_argument("--accel", choices=("kvm", "tcg"), default=None)
    p.add_argument("--record-run", metavar="RUN", help="record what a test run (results/<run>) passed, per kernel")
    p.set_defaults(func=cmd_check)
    bisect.add_parsers(sub)
    return command.run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
