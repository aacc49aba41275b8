"""aio-holders --method systemtap: iowitness's adaptation of the Stack Overflow
answer's SystemTap probe on syscall.io_setup (guru mode for the process's mm,
.return probes for the result, one machine-readable line per call; the answer's
own script, verbatim, is test_systemtap_answer.py), run in a real guest; and the
blind spot the answer documents: contexts created before it started are unknown
to it (docs/kernel-rules.md §8).

The module is built on the host against the guest kernel's headers
(fixtures/modules/stap.py: stap -p4 -r BUILD) and loaded in the guest with staprun.
Where stap cannot build it for a kernel, the test skips with stap's own line.
"""

from __future__ import annotations

import json
import signal

import pytest

from fixtures.modules.stap import StapBuildError, build_for_guest, stap_program
from fixtures.tools import aio_holders, aio_ring
from harness import results, results_space
from suites.aio.holders import aio_nr, start_holder, start_tracer, stop_tracer
from vm import probes

pytestmark = pytest.mark.behaviour("aio-holders-systemtap")

KPROBES_OPT = "/proc/sys/debug/kprobes-optimization"
OPT_RULE = ("staprun disable_kprobes_optimization() (systemtap PR13193), skipped with STAP_PR13193_OVERRIDE: "
            "fixtures/tools/aio_holders.py STAP_ENV")
RULE = "SystemTap syscall.io_setup (tapset sysc_io_setup.stp: kprobes, no debuginfo) sees calls made while it runs"


@pytest.fixture
def stap_module(guest):
    try:
        return build_for_guest(guest, aio_holders.STAP_PROG, "aio_holders_stap")
    except StapBuildError as e:
        pytest.skip(f"{guest.kernel.name}: {e}")


def test_systemtap_sees_contexts_made_after_it_and_not_before(guest, aio_bin, stap_module, evidence, request, run_dir):
    """Two contexts before the probe starts (50, 70) and two after (300, 17): the
    later ones exact (the positive control), the earlier ones only the ring range
    the maps give. And the tool leaves kprobe jump-optimization as it found it,
    where a bare staprun turns it off for the whole system."""
    c = probes.possible_cpus(guest)
    base = aio_nr(guest)
    opt = guest.run(f"cat {KPROBES_OPT}").check().stdout.strip()
    before = start_holder(guest, aio_bin, "50 70", name="aio-before-stap")
    tracer = start_tracer(guest, "systemtap", f"--stap-module {stap_module} --staprun {stap_program('staprun')}")
    after = start_holder(guest, aio_bin, "300 17", name="aio-after-stap")
    try:
        live = aio_nr(guest)
        evidence.check("aio-nr", live == base + 437, f"{base + 437}", str(live), "fs/aio.c: aio_nr += n")
        report = stop_tracer(guest, tracer)
        tracer = None
        results_space.write(run_dir, results.tools_dir(run_dir, request.node.nodeid) / "aio-holders.json",
                            json.dumps(report, indent=1))
        rows = {p["pid"]: p for p in report["processes"]}
        new = rows.get(after.proc.pid, {})
        traced = [(t["ctx"], t["events"]) for t in report.get("traced_setups", []) if t["pid"] == after.proc.pid]
        evidence.check("systemtap: contexts made after it started", (new.get("contexts"), new.get("events"))
                       == (2, 317), "2 contexts, 317 events (exact)",
                       f"{new.get('contexts')} contexts, {new.get('events')} events "
                       f"(each: {[(d.get('ctx'), d.get('events')) for d in new.get('detail', [])]}; traced: "
                       f"{traced})",
                       RULE)
        for text in report.get("notes", []):
            evidence.note(f"aio-holders --method systemtap: {text}")
        old = rows.get(before.proc.pid, {})
        lo = sum(aio_ring.events_range(aio_ring.ring_pages(n, c), c)[0] for n in (50, 70))
        hi = sum(aio_ring.events_range(aio_ring.ring_pages(n, c), c)[1] for n in (50, 70))
        seen = (old.get("events"), old.get("unknown_size_contexts"), old.get("events_min"), old.get("events_max"))
        evidence.check("systemtap: contexts made before it started (its blind spot)", seen == (None, 2, lo, hi),
                       f"size unknown for 2 contexts: range {lo}..{hi} from their rings",
                       f"events {seen[0]}, {seen[1]} unknown, range {seen[2]}..{seen[3]}",
                       RULE + "; older contexts: fixtures/tools/aio_ring.events_range (docs/kernel-rules.md §1)")
        left = guest.run(f"cat {KPROBES_OPT}").check().stdout.strip()
        evidence.check("kprobe jump-optimization after the tool's staprun", left == opt, opt, left, OPT_RULE)
        bare = bare_staprun(guest, stap_module)
        evidence.check("positive control: kprobe jump-optimization after a bare staprun", bare == "0", "0", bare,
                       OPT_RULE)
    finally:
        guest.run(f"echo {opt or 1} > {KPROBES_OPT}")  # as it was, for the tests after
        if tracer is not None:
            stop_tracer(guest, tracer)
        before.stop()
        after.stop()
    evidence.require()


def bare_staprun(guest, module) -> str:
    """staprun as a user would run it, to READY and stopped: what it leaves in KPROBES_OPT."""
    proc = guest.spawn(f"exec {stap_program('staprun')} {module}")
    try:
        guest.wait_for_output(proc, "READY", timeout=300)
    finally:
        guest.signal(proc, signal.SIGINT, group=False)
        guest.wait(proc, timeout=120)
    return guest.run(f"cat {KPROBES_OPT}").check().stdout.strip()
