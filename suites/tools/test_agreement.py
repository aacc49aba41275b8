"""Does each observability tool tell the truth about each wait, on this kernel?

One test per (tool, wait, kernel): the tool's rows for that wait, as a hold
judged them (each row: what the tool showed, what the kernel's rule and the
tool's own computation predict, the sources). A wait the scenario suites
(dstate, busy_cpu) observed on this kernel in the same session is taken from
them; the waits they did not are observed here, all on the first test that needs
one (baseline, each wait's hold, every witness), so the tools that are stopped to
be read (the offcputime tools) trace them in one go. A tool that is not
installed skips with why; a tool that cannot see a wait by design passes on rows
saying so (the agreement matrix calls it blind). Where a tool contradicts its own
documentation (suites/agreement.py KNOWN), the rows saying so are left to a test
of their own, a strict xfail: the matrix says "known" with the reference, and a
release that fixes it fails that test as an unexpected pass ("fixed").

    python -m suites tools [--kernel K ...]     # these tests, then the matrix per kernel
"""

from __future__ import annotations

import pytest

from harness.plugin.guests import kernel_of
from suites import agreement
from suites.agreement import KNOWN, MATRIX
from suites.holds import HOLD_FIXTURES, Scene, uring_idle_class
from suites.waits import URING_IDLE_IOWAIT
from suites.watch.evidence import Evidence
from suites.witnesses import registered

# Alone (a test may hold), but the hold fixtures only where it does: most tests
# here read stored rows, and moving every IRQ's affinity there and back cost
# ~1.2 s a test (cProfile: 286 tests, ~6 min a run).
pytestmark = pytest.mark.alone
TOOLS = [w for w in registered() if w.kind == "tool"]


def observe_missing(request, guest, block_once, hz, store) -> None:
    """Every wait this session's tests need that was not observed on this kernel
    yet (and that it can show), in one scene, judged by every witness."""
    kernel = guest.kernel.name
    needed = {it.callspec.params["case"].name for it in request.session.items
              if it.originalname in ("test_tool", "test_documented_disagreement") and kernel_of(it) == kernel}
    missing = [c for c in MATRIX if c.name in needed and (kernel, c.name) not in store.seen and not c.unmet(guest)]
    if not missing:
        return
    for name in HOLD_FIXTURES:
        request.getfixturevalue(name)
    ev = Evidence(f"{kernel}: waits observed by the tools suite", kernel)
    scene = Scene(request, guest, block_once, hz, ev)
    scene.setup(*(c.wait for c in missing))
    decide = uring_idle_class(scene) if any(c.wait is URING_IDLE_IOWAIT for c in missing) else None
    scene.baseline()
    for c in missing:
        scene.hold(c.wait, hog=c.hog, decide=decide if c.wait is URING_IDLE_IOWAIT else None)
    store.add(kernel, ev)
    ev.save(request.getfixturevalue("run_dir"), f"tools-observed-{kernel}")


@pytest.mark.parametrize("case", [c.param() for c in MATRIX])
@pytest.mark.parametrize("tool", TOOLS, ids=[w.name for w in TOOLS])
def test_tool(tool, case, guest, block_once, hz, request, evidence, record_property):
    cell_rows(tool, case, guest, block_once, hz, request, evidence, record_property)
    evidence.require()


def settle_deferred(request, guest, store) -> None:
    """The rows of the witnesses that judge only when stopped, for this guest's holds."""
    kernel = guest.kernel.name
    for w in registered():
        if w.deferred:
            settled = w.settle(guest)
            if settled.rows:
                settled.kernel = kernel
                store.add(kernel, settled)
                settled.save(request.getfixturevalue("run_dir"), f"{w.name}-{guest.label}")


def cell_rows(tool, case, guest, block_once, hz, request, evidence, record_property) -> None:
    """The tool's rows about the wait on this guest's kernel, into the test's evidence."""
    record_property("tool", tool.name)
    record_property("wait", case.name)
    why = case.unmet(guest)
    if why:
        pytest.skip(why)
    store = agreement.of(request.config)
    kernel = guest.kernel.name
    observe_missing(request, guest, block_once, hz, store)
    settle_deferred(request, guest, store)
    rows = store.rows(kernel, case.name, tool.name)
    if not rows and tool.deferred and store.absent(kernel, case.name, tool.name) is None:
        # It prints only when stopped: the holds it traced were on a guest that was
        # lost before that (a fault in another test). Observe the wait again here.
        store.seen.discard((kernel, case.name))
        observe_missing(request, guest, block_once, hz, store)
        settle_deferred(request, guest, store)
        rows = store.rows(kernel, case.name, tool.name)
    with evidence.tagged(tool.name, case.name, title=tool.title, kind=tool.kind, order=tool.order):
        for r in rows:
            evidence.check(r.witness, r.ok, r.predicted, r.observed, r.source, blind=r.blind, known=r.known)
    why = store.absent(kernel, case.name, tool.name)
    if not rows and why:
        pytest.skip(f"{tool.name} on {case.name}: {why}")
    assert rows, f"{tool.name} wrote no row about {case.name} on {kernel}"


def _known_params():
    cases = {c.name: c for c in MATRIX}
    tools = {w.name: w for w in TOOLS}
    return [pytest.param(tools[t], cases[w], id=f"{t}-{cases[w].id}",
                         marks=pytest.mark.xfail(strict=True, reason=f"documented disagreement: {why}"))
            for (t, w), why in KNOWN.items() if t in tools and w in cases]


@pytest.mark.parametrize(("tool", "case"), _known_params())
def test_documented_disagreement(tool, case, guest, block_once, hz, request, evidence, record_property):
    """The rows where the tool does not do what its own documentation says
    (each names the upstream reference): expected to fail; a release that
    fixes it passes them, and this strict xfail fails as XPASS."""
    cell_rows(tool, case, guest, block_once, hz, request, evidence, record_property)
    evidence.required = True  # asserted here, the known rows only: test_tool asserts the rest
    known = [r for r in evidence.rows if r.known]
    assert known, f"{tool.name} on {case.name}: no row of the documented disagreement"
    bad = [r for r in known if not r.ok]
    assert not bad, "still as documented upstream: " + "; ".join(f"{r.witness}: {r.observed}" for r in bad)
