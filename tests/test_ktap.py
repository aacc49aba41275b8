"""KTAP documents of a run, and the kernel's own KTAP parser reading them."""

import subprocess
import sys

import pytest

from harness import ktap, runs
from kernels import cache
from tests.conftest import child_pytest, first_kernel, only_run
from tests.helpers import make_run


def test_document_per_kernel(tmp_path):
    cases = runs.load(make_run(tmp_path)).cases
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
    paths = {p.stem: p for p in ktap.write(runs.load(run))}
    out = subprocess.run([sys.executable, str(kunit), "parse", str(paths["debian-6.1"])],
                         capture_output=True, text=True, timeout=60)
    assert "Ran 2 tests: passed: 1, skipped: 1" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, str(kunit), "parse", str(paths["debian-6.12"])],
                         capture_output=True, text=True, timeout=60)
    assert "failed: 2" in out.stdout, out.stdout + out.stderr


def guest_documents(console_log: str) -> list[list[str]]:
    """The KTAP documents in a console log, timestamps cut as kunit.py does."""
    docs: list[list[str]] = []
    for line in console_log.splitlines():
        i = line.find("KTAP version 1")
        if i >= 0:
            docs.append([])
            prefix = i
        if docs and len(line) > prefix:
            text = line[prefix:]
            if text.startswith(("KTAP", "1..", "ok ", "not ok ", "# ")):
                docs[-1].append(text)
    return docs


@pytest.mark.guest
def test_guest_side_ktap_in_the_console(tmp_path, request):
    """A real guest: each outcome's line in its kernel log; a panic gives no line for its
    test and a new document on the new guest, with the plan of what is left."""
    kernel = first_kernel(request.config)
    child = child_pytest("tests/fault_targets/test_ktap_outcomes.py", "--kernel", kernel,
                         "--results-dir", str(tmp_path), env={"IOWITNESS_KTAP_TARGET": "1"}, timeout=1200)
    assert "2 failed, 2 passed, 1 skipped" in child.stdout, child.stdout[-3000:]
    run = only_run(tmp_path)
    found = [(log, guest_documents(log.read_text(errors="replace")))
             for log in sorted((run / "console").glob("*.log"), key=lambda p: p.stat().st_mtime)]
    # A boot retried after the emulator's int3 race (vm/pool.py) leaves a log with no document
    logs = [log for log, docs in found if docs]
    docs = [d for _, docs in found for d in docs]
    assert len(docs) == 2, docs
    first, second = docs
    name = "tests/fault_targets/test_ktap_outcomes.py::"
    assert first[1].startswith(f"# iowitness run {run.name} on {kernel} (")
    assert first[2:] == ["1..5", f"ok 1 {name}test_passes",
                         "# AssertionError: planted failure", f"not ok 2 {name}test_fails",
                         f"ok 3 {name}test_lacks_a_feature # SKIP {kernel} lacks catalog feature(s): aio-memlock"]
    assert second[2:] == ["1..1", f"ok 1 {name}test_on_the_next_guest"]
    trees = sorted((cache.root() / "build").glob("*/tree/tools/testing/kunit/kunit.py"))
    if trees:  # the kernel's parser reads the same three results from the first guest's console
        out = subprocess.run([sys.executable, str(trees[0]), "parse", str(logs[0])],
                             capture_output=True, text=True, timeout=60)
        assert "Ran 3 tests: passed: 1, failed: 1, skipped: 1" in out.stdout, out.stdout + out.stderr
