"""The KCIDB export: status mapping, paths, and validation by kcidb-io's schema."""

import json

import pytest

from harness import kcidb
from harness.runs import Case
from tests.helpers import make_run
from vm.errors import (
    BootFailed,
    ChannelLost,
    CommandTimeout,
    GuestHung,
    KernelComplained,
    KernelPanic,
    QemuExited,
)


def case(verdict, error=None):
    return Case("suites/x/test_x.py", "t[k]", "k", "1", verdict, "m", error and error.fault,
                error and error.status, 1.0)


@pytest.mark.parametrize(("verdict", "error", "expected"), [
    ("passed", None, "PASS"), ("skipped", None, "SKIP"), ("failed", None, "FAIL"),
    ("failed", KernelPanic, "FAIL"), ("failed", GuestHung, "MISS"), ("error", BootFailed, "MISS"),
    ("failed", ChannelLost, "MISS"), ("failed", QemuExited, "MISS"), ("failed", CommandTimeout, "ERROR"),
    ("failed", KernelComplained, "FAIL"), ("error", None, "ERROR"),
])
def test_status_mapping(verdict, error, expected):
    assert kcidb.status(case(verdict, error)) == expected


def test_export_validates_and_leaves_host_tests_out(tmp_path):
    data = kcidb.export(make_run(tmp_path))
    kcidb.validate(data)
    assert [c["comment"].split()[0] for c in data["checkouts"]] == ["debian-6.1", "debian-6.12"]
    got = sorted((t["build_id"].split("-")[-2], t["path"], t["status"]) for t in data["tests"])
    assert got == [
        ("6_1", "iowitness.dstate.test_dstate.test_vfork_parent", "PASS"),
        ("6_1", "iowitness.memlock.test_uring_buffers.test_y.root", "SKIP"),
        ("6_12", "iowitness.busy_cpu.test_busy_cpu.test_x", "FAIL"),  # KernelPanic
        ("6_12", "iowitness.dstate.test_dstate.test_vfork_parent", "FAIL"),
    ]


def test_validation_is_real(tmp_path):
    data = kcidb.export(make_run(tmp_path))
    data["tests"][0]["status"] = "BROKEN"
    with pytest.raises(Exception, match="BROKEN"):
        kcidb.validate(data)


def test_cli_writes_a_file_or_refuses(tmp_path, capsys):
    run = make_run(tmp_path)
    out = tmp_path / "kcidb.json"
    assert kcidb.main([str(run), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["version"] == {"major": 5, "minor": 3}
    assert kcidb.main([str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
