"""KTAP documents of a run, and the kernel's own KTAP parser reading them."""

import subprocess
import sys

import pytest

from harness import ktap, runs
from kernels import cache
from tests.test_summary import make_run


def test_document_per_kernel(tmp_path):
    cases = runs.load(make_run(tmp_path))
    assert ktap.document(cases, "debian-6.1").splitlines() == [
        "KTAP version 1", "# iowitness on debian-6.1", "1..2",
        "  KTAP version 1", "  # Subtest: dstate", "  1..1", "  ok 1 test_vfork_parent", "ok 1 dstate",
        "  KTAP version 1", "  # Subtest: memlock", "  1..1",
        "  ok 1 test_y[root] # SKIP debian-6.1: io_uring_setup fails (EPERM)", "ok 2 memlock # SKIP",
    ]
    doc = ktap.document(cases, "debian-6.12").splitlines()
    assert "  # KernelPanic: vm.errors.KernelPanic: debian-6.12: kernel panic" not in doc  # named once
    assert "  # vm.errors.KernelPanic: debian-6.12: kernel panic" in doc
    assert "  not ok 1 test_x[2-10]" in doc and "not ok 1 busy_cpu" in doc


def kunit_tools():
    trees = sorted((cache.root() / "build").glob("*/tree/tools/testing/kunit/kunit.py"))
    if not trees:
        pytest.skip("no kernel source tree with tools/testing/kunit here (one comes with the first source build)")
    return trees[0]


def test_the_kernels_kunit_parser_reads_it(tmp_path):
    kunit = kunit_tools()
    run = make_run(tmp_path)
    paths = {p.stem: p for p in ktap.write(run)}
    out = subprocess.run([sys.executable, str(kunit), "parse", str(paths["debian-6.1"])],
                         capture_output=True, text=True, timeout=60)
    assert "Ran 2 tests: passed: 1, skipped: 1" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, str(kunit), "parse", str(paths["debian-6.12"])],
                         capture_output=True, text=True, timeout=60)
    assert "failed: 2" in out.stdout, out.stdout + out.stderr
