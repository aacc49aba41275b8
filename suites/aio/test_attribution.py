"""aio-holders agrees with the workload's truth and with /proc/sys/fs/aio-nr.

Rules: shared/KERNEL-FACTS.md §1 (ring sizes bound n only to a range) and §8
(exact attribution from the io_setup tracepoints; teardown at exit via exit_aio).
"""

from __future__ import annotations

import json
import signal

import pytest

from fixtures import FIXTURES
from suites.aio.conftest import aio_nr, start_holder

TOOL = FIXTURES / "tools" / "aio_holders.py"


def start_tracer(guest, method: str):
    proc = guest.spawn(f"exec /usr/bin/python3 -u {TOOL} --method {method} --json")
    guest.wait_for_output(proc, "READY", timeout=600, stream="stderr")  # bcc compiles in the guest
    return proc


def stop_tracer(guest, proc) -> dict:
    guest.signal(proc, signal.SIGINT, group=False)  # the tool stops its own bpftrace child
    r = guest.wait(proc, timeout=120)
    assert r.rc == 0, r.stderr
    return json.loads(r.stdout)


def maps_report(guest) -> dict:
    return json.loads(guest.sh(f"/usr/bin/python3 {TOOL} --method maps --json"))


def check_against_truth(report: dict, truth: dict[int, list[int]], exact_pids: set[int], live_aio_nr: int):
    rows = {p["pid"]: p for p in report["processes"]}
    for pid, sizes in truth.items():
        row = rows[pid]
        assert row["contexts"] == len(sizes), (report["method"], pid)
        assert row["events_min"] <= sum(sizes) <= row["events_max"], (report["method"], pid, row)
        if pid in exact_pids:
            assert row["events"] == sum(sizes), (report["method"], pid, row)
            assert row["unknown_size_contexts"] == 0
        else:
            assert row["events"] is None, "contexts older than the tracer must be unknown, not guessed"
            assert row["unknown_size_contexts"] == len(sizes)
    t = report["totals"]
    assert t["events_min"] <= live_aio_nr <= t["events_max"]
    assert report["aio_nr"] == live_aio_nr


def test_every_method_agrees_with_the_workload_and_aio_nr(guest, aio_bin):
    base = aio_nr(guest)
    assert base == 0, "other aio users in the guest would make the sums inexact"
    old = start_holder(guest, aio_bin, "50 70", name="aio-old")  # before any tracer runs
    tracers = {m: start_tracer(guest, m) for m in ("bcc", "bpftrace")}
    holders = [
        start_holder(guest, aio_bin, "-T 300 17", name="aio-threaded"),
        start_holder(guest, aio_bin, "-f 200,5 9", name="aio-forking"),
        start_holder(guest, aio_bin, "-d 1 1022 64", name="aio-destroyer"),
    ]
    gone = start_holder(guest, aio_bin, "128", name="aio-gone")
    try:
        holders[2].destroy()  # the 1022 context goes away while tracing
        gone.stop(signal.SIGKILL)  # and a whole process with its context (exit_aio)
        reports = {m: stop_tracer(guest, p) for m, p in tracers.items()}
        reports["maps"] = maps_report(guest)
        live = aio_nr(guest)
        truth: dict[int, list[int]] = {}
        for h in [old, *holders]:
            for pid, ctxs in h.by_pid().items():
                truth[pid] = [c["n"] for c in ctxs]
        truth[holders[2].proc.pid] = [64]
        assert live == sum(sum(v) for v in truth.values()), "workload truth vs aio-nr"
        new_pids = {pid for h in holders for pid in h.pids}
        check_against_truth(reports["bcc"], truth, new_pids, live)
        check_against_truth(reports["bpftrace"], truth, new_pids, live)
        check_against_truth(reports["maps"], truth, set(), live)
        for r in reports.values():
            assert gone.proc.pid not in {p["pid"] for p in r["processes"]}
        # Exact where known, plus the truth of the older contexts, is aio-nr exactly.
        old_truth = sum(sum(truth[p]) for p in old.pids)
        for m in ("bcc", "bpftrace"):
            known = sum(p["events"] for p in reports[m]["processes"] if p["events"] is not None)
            assert known + old_truth == live, m
    finally:
        for h in [old, *holders]:
            h.stop()


@pytest.mark.parametrize("method", ["maps", "bpftrace"])
def test_the_leaker_is_the_first_row(guest, aio_bin, sysctl, method):
    """The seed question: aio-nr is at aio-max-nr and io_setup fails with EAGAIN. Who?"""
    quiet = [start_holder(guest, aio_bin, "8 16", name=f"aio-quiet-{i}") for i in range(3)]
    sysctl.set("fs.aio-max-nr", aio_nr(guest) + 40 * 256)
    tracer = start_tracer(guest, method) if method != "maps" else None
    leaker = start_holder(guest, aio_bin, ",".join(["256"] * 41), name="aio-leaker --leak")
    try:
        assert sum("error" in c for c in leaker.contexts) == 1, "the 41st context must not fit"
        assert [c["error"] for c in leaker.contexts if "error" in c] == ["EAGAIN"]
        assert aio_nr(guest) == int(sysctl.get("fs.aio-max-nr"))
        report = stop_tracer(guest, tracer) if tracer else maps_report(guest)
        first = report["processes"][0]
        assert first["pid"] == leaker.proc.pid
        assert first["cmdline"].startswith("aio-leaker --leak")
        assert first["contexts"] == 40
    finally:
        for h in [*quiet, leaker]:
            h.stop()
