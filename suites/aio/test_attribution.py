"""aio-holders agrees with the workload's truth and with /proc/sys/fs/aio-nr.

Rules: docs/kernel-rules.md §1 (ring sizes bound n only to a range) and §8
(exact attribution from the io_setup tracepoints; teardown at exit via exit_aio).
"""

from __future__ import annotations

import json
import signal

import pytest

from fixtures import FIXTURES
from harness import budget
from suites.aio.holders import aio_nr, start_holder

pytestmark = pytest.mark.behaviour("aio-holders")

TOOL = FIXTURES / "tools" / "aio_holders.py"


def start_tracer(guest, method: str):
    proc = guest.spawn(f"exec /usr/bin/python3 -u {TOOL} --method {method} --json")
    with budget.spend(budget.TRACER):  # bcc compiles in the guest
        guest.wait_for_output(proc, "READY", timeout=600, stream="stderr")
    return proc


def stop_tracer(guest, proc) -> dict:
    guest.signal(proc, signal.SIGINT, group=False)  # the tool stops its own bpftrace child
    r = guest.wait(proc, timeout=120)
    assert r.rc == 0, r.stderr
    return json.loads(r.stdout)


def maps_report(guest) -> dict:
    return json.loads(guest.sh(f"/usr/bin/python3 {TOOL} --method maps --json"))


MAPS_RULE = "fixtures/tools/aio_ring.events_range: a ring's pages bound n to a range (docs/kernel-rules.md §1)"
TRACE_RULE = "io_setup's argument and result, traced (docs/kernel-rules.md §8)"


def check_against_truth(evidence, report: dict, truth: dict[int, list[int]], exact_pids: set[int],
                        live_aio_nr: int) -> None:
    """One row per process and figure: the tool's report against what the workload set up."""
    m = report["method"]
    rows = {p["pid"]: p for p in report["processes"]}
    for pid, sizes in truth.items():
        row = rows.get(pid)
        if row is None:
            evidence.check(f"{m}: pid {pid}", False, f"{len(sizes)} contexts", "no row", TRACE_RULE)
            continue
        evidence.check(f"{m}: pid {pid} contexts", row["contexts"] == len(sizes), str(len(sizes)),
                       str(row["contexts"]), "one /[aio] mapping or io_setup per context")
        rng = f"{row['events_min']}..{row['events_max']}"
        evidence.check(f"{m}: pid {pid} events range", row["events_min"] <= sum(sizes) <= row["events_max"],
                       f"contains {sum(sizes)} (the workload's n)", rng, MAPS_RULE)
        if pid in exact_pids:
            exact = row["events"] == sum(sizes) and row["unknown_size_contexts"] == 0
            evidence.check(f"{m}: pid {pid} exact events", exact, f"{sum(sizes)}, 0 unknown",
                           f"{row['events']}, {row['unknown_size_contexts']} unknown", TRACE_RULE)
        else:
            unknown = row["events"] is None and row["unknown_size_contexts"] == len(sizes)
            evidence.check(f"{m}: pid {pid} (older than the tracer)", unknown,
                           f"events unknown, {len(sizes)} unknown-size contexts",
                           f"{row['events']}, {row['unknown_size_contexts']} unknown",
                           "contexts made before the tracer started are a range, never a guess")
    t = report["totals"]
    evidence.check(f"{m}: totals range", t["events_min"] <= live_aio_nr <= t["events_max"],
                   f"contains aio-nr {live_aio_nr}", f"{t['events_min']}..{t['events_max']}", MAPS_RULE)
    evidence.check(f"{m}: aio-nr it read", report["aio_nr"] == live_aio_nr, str(live_aio_nr),
                   str(report["aio_nr"]), "/proc/sys/fs/aio-nr")


def test_every_method_agrees_with_the_workload_and_aio_nr(guest, aio_bin, evidence):
    base = aio_nr(guest)
    evidence.check("aio-nr before", base == 0, "0", str(base), "a quiet guest: other aio users would make sums inexact")
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
        held = sum(sum(v) for v in truth.values())
        evidence.check("aio-nr vs the workload's contexts", live == held, f"{held} (sum of n held)", str(live),
                       "fs/aio.c: aio_nr += n at io_setup, -= n at kill_ioctx")
        new_pids = {pid for h in holders for pid in h.pids}
        check_against_truth(evidence, reports["bcc"], truth, new_pids, live)
        check_against_truth(evidence, reports["bpftrace"], truth, new_pids, live)
        check_against_truth(evidence, reports["maps"], truth, set(), live)
        for m, r in reports.items():
            listed = gone.proc.pid in {p["pid"] for p in r["processes"]}
            evidence.check(f"{m}: the killed holder {gone.proc.pid} listed", not listed, "no",
                           "yes" if listed else "no",
                           "fs/aio.c exit_aio (traced: kprobe exit_aio; maps: the process is gone)")
        # Exact where known, plus the truth of the older contexts, is aio-nr exactly.
        old_truth = sum(sum(truth[p]) for p in old.pids)
        for m in ("bcc", "bpftrace"):
            known = sum(p["events"] for p in reports[m]["processes"] if p["events"] is not None)
            evidence.check(f"{m}: exact events + older contexts' truth", known + old_truth == live, str(live),
                           f"{known} + {old_truth}", "aio-nr is the sum of every live context's n")
    finally:
        for h in [old, *holders]:
            h.stop()
    evidence.require()


@pytest.mark.parametrize("method", ["maps", "bpftrace"])
def test_the_leaker_is_the_first_row(guest, aio_bin, sysctl, evidence, method):
    """The question an administrator asks: aio-nr is at aio-max-nr and io_setup fails with EAGAIN. Who?"""
    quiet = [start_holder(guest, aio_bin, "8 16", name=f"aio-quiet-{i}") for i in range(3)]
    sysctl.set("fs.aio-max-nr", aio_nr(guest) + 40 * 256)
    tracer = start_tracer(guest, method) if method != "maps" else None
    leaker = start_holder(guest, aio_bin, ",".join(["256"] * 41), name="aio-leaker --leak")
    try:
        errors = [c["error"] for c in leaker.contexts if "error" in c]
        evidence.check("the leaker's io_setup results", errors == ["EAGAIN"], "40 ok, the 41st EAGAIN",
                       f"{41 - len(errors)} ok, then {errors}", "fs/aio.c ioctx_alloc: aio_nr + n > aio_max_nr")
        max_nr, live = int(sysctl.get("fs.aio-max-nr")), aio_nr(guest)
        evidence.check("aio-nr", live == max_nr, f"{max_nr} (aio-max-nr)", str(live), "fs/aio.c aio_nr")
        report = stop_tracer(guest, tracer) if tracer else maps_report(guest)
        first = report["processes"][0]
        evidence.check(f"{method}: first row's pid", first["pid"] == leaker.proc.pid, str(leaker.proc.pid),
                       str(first["pid"]), "rows sorted by consumption; the leaker holds 40 x 256, the others 3 x 24")
        evidence.check(f"{method}: first row's command line", first["cmdline"].startswith("aio-leaker --leak"),
                       "aio-leaker --leak ...", first["cmdline"][:40], "/proc/<pid>/cmdline (exec -a)")
        evidence.check(f"{method}: first row's contexts", first["contexts"] == 40, "40", str(first["contexts"]),
                       "the 40 that fit")
    finally:
        for h in [*quiet, leaker]:
            h.stop()
    evidence.require()
