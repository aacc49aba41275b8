"""--shard I/N and `python -m suites merge`: the split is deterministic and keeps a
kernel's tests together; merged shards are one run with every verdict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness import merge, runs, shards
from harness.plugin.parallel import host_room, oversubscribed

TESTS = [(f"suites/dstate/test_dstate.py::test_{t}[{k}]", k) for k in ("debian-6.1", "debian-6.12") for t in "abc"] + [
    ("tests/test_catalog.py::test_parse", None), ("tests/test_budget.py::test_x", None),
    ("tests/test_budget.py::test_y", None)]


def test_each_test_in_exactly_one_shard_and_each_kernel_in_one():
    for n in (1, 2, 3, 5):
        picked = [shards.select(TESTS, i, n) for i in range(1, n + 1)]
        assert sorted(t for p in picked for t in p) == sorted(t for t, _ in TESTS)
        for kernel in ("debian-6.1", "debian-6.12"):
            assert sum(1 for p in picked if any(f"[{kernel}]" in t for t in p)) == 1
    assert shards.select(TESTS, 1, 2) == shards.select(list(reversed(TESTS)), 1, 2)  # order-free
    one, two = shards.select(TESTS, 1, 2), shards.select(TESTS, 2, 2)
    assert {"[debian-6.1]" in t for t in one if "dstate" in t} != {"[debian-6.1]" in t for t in two if "dstate" in t}


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_refused(bad):
    with pytest.raises(ValueError, match="expected I/N"):
        shards.parse(bad)


def _run(base, name, cases, shard=None, wall=10.0):
    run = base / name
    run.mkdir(parents=True)
    failure = '<failure message="x"/>'
    body = "".join(f'<testcase classname="{c.split("::")[0][:-3].replace("/", ".")}" name="{c.split("::")[1]}" '
                   f'time="1.0">{failure if v == "failed" else ""}'
                   f'<properties><property name="kernel" value="{c.split("[")[1][:-1]}"/></properties></testcase>'
                   for c, v in cases.items())
    (run / "junit.xml").write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{len(cases)}" '
                                   f'failures="{list(cases.values()).count("failed")}" errors="0" skipped="0" '
                                   f'time="{len(cases)}">{body}</testsuite></testsuites>')
    kernel = next(iter(cases)).split("[")[1][:-1]
    (run / "environment.json").write_text(json.dumps({"host": {"cpus": 2}, "kernels": {kernel: {"version": "v"}},
                                                      "guests": {kernel: {"kernel": kernel}}}))
    (run / "console").mkdir()
    (run / "console" / f"console-{kernel}.log").write_text("booted\n")
    if shard:
        (run / "shard").write_text(shard + "\n")
    (run / "budget.json").write_text(json.dumps({"wall_s": wall, "tests": {c: {"seconds": 1.0, "kinds": {"boots": 0.5}}
                                                                            for c in cases}}))
    return run


def test_merged_shards_are_one_run_with_every_verdict(tmp_path):
    a = _run(tmp_path / "m1", "r1", {"suites/dstate/test_dstate.py::test_a[debian-6.1]": "passed"}, "1/2", wall=30)
    b = _run(tmp_path / "m2", "r2", {"suites/dstate/test_dstate.py::test_a[debian-6.12]": "failed"}, "2/2", wall=40)
    out = merge.merge([a, b], tmp_path / "results")
    run = runs.load(out)
    assert run.verdicts() == {"suites/dstate/test_dstate.py::test_a[debian-6.1]": "passed",
                              "suites/dstate/test_dstate.py::test_a[debian-6.12]": "failed"}
    assert set(run.kernels()) == {"debian-6.1", "debian-6.12"}
    assert (out / "console" / "console-debian-6.1.log").exists()
    assert (out / "console" / "console-debian-6.12.log").exists()
    assert (out / "summary.md").exists()
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    b_all = json.loads((out / "budget.json").read_text())
    assert b_all["wall_s"] == 40 and b_all["totals_s"]["boots"] == 1.0


def test_merge_refuses_an_incomplete_or_overlapping_set_and_writes_nothing(tmp_path):
    a = _run(tmp_path / "m1", "r1", {"suites/dstate/test_dstate.py::test_a[debian-6.1]": "passed"}, "1/3")
    b = _run(tmp_path / "m2", "r2", {"suites/dstate/test_dstate.py::test_a[debian-6.12]": "passed"}, "2/3")
    with pytest.raises(merge.MergeError, match="shard 3/3 not given"):
        merge.merge([a, b], tmp_path / "results")
    c = _run(tmp_path / "m3", "r3", {"suites/dstate/test_dstate.py::test_a[debian-6.1]": "failed"})
    with pytest.raises(merge.MergeError, match="verdict in both"):
        merge.merge([_run(tmp_path / "m4", "r4", {"suites/dstate/test_dstate.py::test_a[debian-6.1]": "passed"}), c],
                    tmp_path / "results")
    assert merge.main([str(tmp_path / "nowhere")], tmp_path / "results") == 2
    assert not (tmp_path / "results").exists()


def test_auto_workers_never_exceed_the_hosts_cpus_per_guest():
    import os
    cpus = len(os.sched_getaffinity(0))
    assert host_room(cpus, "1G") <= cpus
    assert host_room(cpus + 1, "1G") == 1  # a guest bigger than the host still runs, alone
    assert host_room(1, "100000G") == 1  # memory bounds it too


def test_alone_tests_wait_only_when_there_are_more_guests_than_room():
    import os
    cpus = len(os.sched_getaffinity(0))
    assert not oversubscribed(1, cpus, "1G")
    assert oversubscribed(cpus + 1, 1, "1G")
    assert oversubscribed(2, cpus, "1G")  # two guests of all the host's CPUs each
