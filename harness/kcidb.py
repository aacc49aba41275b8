"""A run as KCIDB JSON (KernelCI's submission format), validated with kcidb-io.

    python -m harness.kcidb RUN_DIR [--origin iowitness] [-o FILE]

One checkout and one build per kernel of the run, one test per testcase that ran on
a kernel (the framework's host-only tests are not about a kernel and are left out).
Status mapping: a test that ended with an iowitness error takes that error's
status (core/faults.py: a panic or an oops FAIL, a lost guest or a boot failure
MISS, the harness's own failure ERROR); otherwise

    passed                                          PASS
    skipped (the kernel lacks a feature)            SKIP
    failed, witnesses disagree (an assertion)       FAIL
    error (a fixture crashed)                       ERROR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from harness import runs
from harness.runs import Case

_PATH_PART = re.compile(r"[^a-zA-Z0-9_-]+")


def status(c: Case) -> str:
    if c.verdict == "passed":
        return "PASS"
    if c.verdict == "skipped":
        return "SKIP"
    if c.status:
        return c.status
    return "ERROR" if c.verdict == "error" else "FAIL"


def test_path(c: Case) -> str:
    """iowitness.<scenario>.<module>.<test>[.<params>]: the dot-separated path KCIDB wants."""
    module, _, name = c.test.partition("::")
    func, _, params = name.partition("[")
    parts = ["iowitness", c.scenario, module, func] + ([params.rstrip("]")] if params else [])
    return ".".join(_PATH_PART.sub("_", p).strip("_") or "_" for p in parts)


def export(run: Path, origin: str = "iowitness") -> dict:
    run = runs.load(run)
    env = run.environment
    kernels_env = env.get("kernels", {})
    vm = env.get("vm", {})
    cases = [c for c in run.cases if c.kernel]
    rid = _PATH_PART.sub("_", run.name)
    checkouts, builds, tests = [], [], []
    for kernel in sorted({c.kernel for c in cases}):
        k = kernels_env.get(kernel, {})
        version = k.get("version") or next((c.kernel_version for c in cases if c.kernel == kernel), None)
        base = f"{origin}:{rid}-{_PATH_PART.sub('_', kernel)}"
        checkouts.append({"id": base, "origin": origin, "comment": f"{kernel} ({version or 'version unknown'})",
                          "misc": {"catalog_entry": kernel, "kind": k.get("kind")}})
        build = {"id": base + "-build", "checkout_id": base, "origin": origin, "architecture": "x86_64",
                 "comment": f"{k.get('kind') or 'kernel'} {version or ''}".strip(),
                 "misc": {"image_sha256": k.get("image_sha256"), "packages": k.get("packages", [])}}
        builds.append(build)
        for i, c in enumerate(x for x in cases if x.kernel == kernel):
            test = {"id": f"{base}-t{i}", "build_id": build["id"], "origin": origin, "path": test_path(c),
                    "status": status(c), "comment": c.nodeid, "duration": c.seconds,
                    "environment": {"comment": f"QEMU {env.get('guests', {}).get(kernel, {}).get('accel', '')}, "
                                               f"{vm.get('cpus', '?')} CPUs, {vm.get('memory', '?')}".strip()},
                    "misc": {"verdict": c.verdict, "fault": c.fault}}
            if c.message:
                test["log_excerpt"] = c.message[:16384]
            tests.append(test)
    return {"version": {"major": 5, "minor": 3}, "checkouts": checkouts, "builds": builds, "tests": tests}


def validate(data: dict) -> None:
    import kcidb_io
    kcidb_io.schema.V5_3.validate_exactly(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="iowitness kcidb", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--origin", default="iowitness")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    if not runs.is_run(args.run):
        print(f"error: {args.run}: not a run directory (no junit.xml)", file=sys.stderr)
        return 2
    data = export(args.run, args.origin)
    try:
        validate(data)
    except Exception as e:  # jsonschema's error is many lines; its first says what broke
        print(f"error: the export does not validate: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    text = json.dumps(data, indent=1)
    if args.output:
        tmp = args.output.with_name(args.output.name + f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, args.output)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
