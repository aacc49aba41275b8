"""pytest-xdist workers, each with its own guests, writing one run: the same
verdicts as a serial run, and Ctrl-C leaves no QEMU and valid results."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from harness import runs
from tests.conftest import REPO, child_command, child_env, child_pytest, only_run
from tests.helpers import alive, qemu_pids

KERNELS = ("debian-6.1", "debian-6.12")


def _kernels(config) -> list[str]:
    return list(config.getoption("kernel") or KERNELS)[:2]


@pytest.mark.guest
def test_two_workers_write_one_run_with_every_kernel(tmp_path, request):
    ks = _kernels(request.config)
    # Not the 2009 sweep: a minute per kernel that adds nothing to what is checked here.
    r = child_pytest("suites/memlock", "-k", "not sweep", "-n", "2", *(a for k in ks for a in ("--kernel", k)),
                     "--results-dir", str(tmp_path), timeout=1200)
    run = only_run(tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    loaded = runs.load(run)
    by_kernel = {k: [c for c in loaded.cases if c.kernel == k] for k in ks}
    assert all(by_kernel.values()) and {c.verdict for c in loaded.cases} <= {"passed", "skipped"}
    assert set(loaded.kernels()) == set(ks)  # both workers' environment, joined
    assert not list(run.glob("environment.*.json"))
    assert {p.name for p in (run / "console").iterdir()} >= {f"console-{k}.log" for k in ks}
    budget = json.loads((run / "budget.json").read_text())
    assert {n for n in budget["tests"]} == {c.nodeid for c in loaded.cases}
    assert budget["counts"].get("boots", 0) >= len(ks) or budget["totals_s"]["boots"] > 0
    assert (run / "summary.md").exists() and "bringing up nodes" in r.stdout  # xdist's workers ran it


@pytest.mark.guest
def test_ctrl_c_of_a_parallel_run_leaves_no_qemu_and_valid_results(tmp_path, request):
    ks = _kernels(request.config)
    flag = tmp_path / "ready"
    before = qemu_pids()
    child = subprocess.Popen(
        child_command("tests/fault_targets/test_holds_a_guest.py", "-n", "2",
                      *(a for k in ks for a in ("--kernel", k)), "--results-dir", str(tmp_path / "results")),
        cwd=REPO, env=child_env(IOWITNESS_FAULT_TARGET=str(flag)), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 600
        while not all((tmp_path / f"ready.{k}").exists() for k in ks):
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the workers' guests never became ready"
            time.sleep(1)
        ours = qemu_pids() - before
        assert len(ours) >= len(ks), f"expected a QEMU per worker, saw {ours}"
        child.send_signal(signal.SIGINT)
        child.wait(timeout=180)
        deadline = time.monotonic() + 60
        while any(alive(p) for p in ours) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [p for p in ours if alive(p)], f"QEMU {ours} outlived the parallel run after SIGINT"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    junit = next((tmp_path / "results").glob("*/junit.xml"))
    cases = list(ET.parse(junit).iter("testcase"))
    assert sorted(c.get("name") for c in cases) == sorted(f"test_first[{k}]" for k in ks)


@pytest.mark.parametrize("spec", ["1/2", "2/2"])
def test_a_shard_runs_its_kernels_only(tmp_path, spec):
    r = subprocess.run(child_command("suites/smoke", "--collect-only", "--shard", spec,
                                     *(a for k in KERNELS for a in ("--kernel", k))),
                       cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    kernels = {k for k in KERNELS if f"[{k}]" in r.stdout}
    assert len(kernels) == 1, r.stdout[-2000:]
