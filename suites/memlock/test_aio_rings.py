"""aio rings and RLIMIT_MEMLOCK, on mainline and on the aio-memlock patch.

Every expectation comes from suites/memlock/model.py: the ring formula
(fixtures/tools/aio_ring.py; fs/aio.c ioctx_alloc/aio_setup_ring of 6.1.192), the
guest's CPU count, aio-max-nr as set here, and whether the kernel's catalog entry
declares `aio-memlock` (kernels/patches/aio-memlock/). Mainline never charges ring
pages to RLIMIT_MEMLOCK (docs/kernel-rules.md §1, last bullet); the patch
charges them per user, EAGAIN past the limit, CAP_IPC_LOCK exempt, returned by
kill_ioctx (io_destroy, exit_aio) with aio-nr. The proposal as it was posted
(feature `no-aio-max-nr`, catalog entry source-6.1-aio-memlock-posted) also drops
aio-max-nr: the same tests, from the same model, show what then limits io_setup.
"""

from __future__ import annotations

import pytest

from fixtures.tools import aio_ring
from suites.aio.holders import aio_nr
from suites.memlock.model import (
    PAGE,
    AioBudget,
    aio_max_nr_file,
    charges_aio_rings,
    has_aio_max_nr,
    largest_n_within,
    per_process,
)
from suites.memlock.workloads import LIMIT, ROOT, UNPRIVILEGED, WITHOUT_CAP, kib, stop_all
from vm import probes

pytestmark = pytest.mark.behaviour("aio-rings-vs-memlock")

LIMIT_PAGES = LIMIT // PAGE
IDENTITIES = [*WITHOUT_CAP, ROOT]


def budget(guest, identity, aio_room: int) -> AioBudget:
    charged = charges_aio_rings(guest.kernel.features, identity.cap_ipc_lock)
    room = aio_room if has_aio_max_nr(guest.kernel.features) else None
    return AioBudget(probes.possible_cpus(guest), charged, LIMIT_PAGES, room)


def rule(model: AioBudget, features: tuple[str, ...] = ()) -> str:
    """Where the expectation comes from, for the evidence table."""
    kept = "aio-max-nr kept" if model.aio_room is not None else "aio-max-nr gone or limiting nothing"
    if model.charged and per_process(features):
        return f"aio-memlock-2009: ring pages per process (mm->locked_vm) vs RLIMIT_MEMLOCK; {kept}"
    if model.charged:
        return f"aio-memlock patch: aio_account_ring(), ring pages per user vs RLIMIT_MEMLOCK; {kept}"
    if model.aio_room is None:
        return "aio-memlock as posted: CAP_IPC_LOCK is not charged and no aio-max-nr is left to limit it"
    return "fs/aio.c ioctx_alloc: only aio-max-nr limits io_setup (no memlock accounting)"


def set_aio_max_nr(guest, sysctl, value: int) -> None:
    """Where the kernel has aio-max-nr (the posted proposal removed it)."""
    if aio_max_nr_file(guest.kernel.features):
        sysctl.set("fs.aio-max-nr", value)


def one_event_fit(guest) -> int:
    """How many one-event contexts a charged budget of LIMIT holds: 16 when c <= 15."""
    return LIMIT_PAGES // aio_ring.ring_pages(1, probes.possible_cpus(guest))


@pytest.mark.behaviour("aio-memlock-as-posted")
@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_rings_past_the_memlock_limit_up_to_aio_max_nr(guest, workloads, sysctl, evidence, identity):
    """Four 1024-event contexts (17 ring pages each when 4c <= 1024: 68 KiB, more than
    the whole 64 KiB limit) then one more past aio-max-nr."""
    c = probes.possible_cpus(guest)
    sizes = [1024] * 4 + [1]
    assert 4 * aio_ring.ring_pages(1024, c) > LIMIT_PAGES, "the premise: rings well past the limit"
    base = aio_nr(guest)
    set_aio_max_nr(guest, sysctl, base + 4096)
    model = budget(guest, identity, 4096)
    expected = model.held(sizes)
    held, results = workloads.hold_aio(identity, LIMIT, sizes)
    try:
        held.check_identity(identity, LIMIT, evidence)
        evidence.check(f"io_setup {sizes} in turn, held", results == expected, " ".join(expected),
                       " ".join(results), rule(model, guest.kernel.features))
        accepted = sum(n for n, r in zip(sizes, results, strict=True) if r == "ok")
        delta = aio_nr(guest) - base
        evidence.check("aio-nr delta", delta == accepted, f"+{accepted} (the accepted n)", f"+{delta}",
                       "fs/aio.c ioctx_alloc: aio_nr += max_reqs")
        st = held.status()
        lck = 0
        if model.charged and per_process(guest.kernel.features):
            lck = sum(aio_ring.ring_pages(n, c) for n, r in zip(sizes, results, strict=True) if r == "ok") * 4
        evidence.check("VmLck, VmPin of the holder", (kib(st["VmLck"]), kib(st["VmPin"])) == (lck, 0),
                       f"{lck} kB, 0 kB", f"{st['VmLck']}, {st['VmPin']}",
                       "fs/proc/task_mmu.c: mm->locked_vm, pinned_vm; the per-process patch charges the rings' "
                       "pages to locked_vm, mainline and the per-user patch charge neither")
    finally:
        held.stop()
    after = aio_nr(guest)
    evidence.check("aio-nr after the holder was waited for", after == base, str(base), str(after),
                   "fs/aio.c exit_aio -> kill_ioctx -> aio_nr_sub")
    evidence.require()


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_largest_single_context_under_the_limit(guest, workloads, evidence, identity):
    """The largest n whose ring fits in 16 pages (1022 when 4c <= 1022) and n + 1."""
    c = probes.possible_cpus(guest)
    n = largest_n_within(LIMIT_PAGES, c)
    model = budget(guest, identity, aio_room=2**31)
    for k in (n, n + 1):
        got = workloads.aio_attempt(identity, LIMIT, k)
        evidence.check(f"io_setup({k}), {aio_ring.ring_pages(k, c)} ring pages, c = {c}", got == model.attempt(k),
                       model.attempt(k), got, rule(model, guest.kernel.features))
    evidence.require()


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_one_event_contexts_under_the_limit(guest, workloads, evidence, identity):
    """As many one-event contexts as fit, plus one (16 + 1 when c <= 15)."""
    k = one_event_fit(guest)
    sizes = [1] * (k + 1)
    base = aio_nr(guest)
    model = budget(guest, identity, aio_room=2**31)
    expected = model.held(sizes)
    held, results = workloads.hold_aio(identity, LIMIT, sizes)
    try:
        held.check_identity(identity, LIMIT, evidence)
        evidence.check(f"{k + 1} one-event contexts, held", results == expected, _runs(expected), _runs(results),
                       rule(model, guest.kernel.features))
        delta = aio_nr(guest) - base
        evidence.check("aio-nr delta", delta == results.count("ok"), f"+{results.count('ok')}", f"+{delta}",
                       "fs/aio.c ioctx_alloc: aio_nr += max_reqs")
    finally:
        held.stop()
    evidence.check("aio-nr after exit", aio_nr(guest) == base, str(base), str(aio_nr(guest)),
                   "fs/aio.c exit_aio -> kill_ioctx -> aio_nr_sub")
    evidence.require()


def _runs(results: list[str]) -> str:
    """["ok", "ok", "EAGAIN"] -> "2 ok, 1 EAGAIN" (in order)."""
    out: list[list] = []
    for r in results:
        if out and out[-1][1] == r:
            out[-1][0] += 1
        else:
            out.append([1, r])
    return ", ".join(f"{n} {r}" for n, r in out)


@pytest.mark.behaviour("aio-memlock-as-posted")
@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_aio_max_nr_still_enforced(guest, workloads, sysctl, evidence, identity):
    """The forward port keeps aio-max-nr: with room for 100 events, 100 fits (2 ring
    pages, inside the memlock limit) and 101 does not. As posted, there is no
    aio-max-nr: 101 fits wherever the memlock limit lets it (every identity here)."""
    kept = has_aio_max_nr(guest.kernel.features)
    file = aio_max_nr_file(guest.kernel.features)
    exists = guest.run("test -e /proc/sys/fs/aio-max-nr").ok
    evidence.check("/proc/sys/fs/aio-max-nr", exists == file, "exists" if file else "absent",
                   "exists" if exists else "absent",
                   "fs/aio.c aio_sysctls" + ("" if file else ": removed (the proposal as posted)"))
    base = aio_nr(guest)
    set_aio_max_nr(guest, sysctl, base + 100)
    model = budget(guest, identity, aio_room=100)
    assert model.attempt(100) == "ok" and model.attempt(101) == ("EAGAIN" if kept else "ok")
    for n in (100, 101):
        got = workloads.aio_attempt(identity, LIMIT, n)
        evidence.check(f"io_setup({n})" + (" with aio-max-nr = aio-nr + 100" if kept else
                                           ", aio-max-nr limiting nothing" if file else ", no aio-max-nr"),
                       got == model.attempt(n), model.attempt(n), got,
                       "fs/aio.c ioctx_alloc: aio_nr + n > aio_max_nr -> EAGAIN (kept by the patch)" if kept
                       else rule(model, guest.kernel.features))
    evidence.check("aio-nr afterwards", aio_nr(guest) == base, str(base), str(aio_nr(guest)),
                   "io_setup then io_destroy: +n, -n")
    evidence.require()


@pytest.mark.parametrize("release", ["io_destroy", "exit"])
def test_budget_is_per_user_and_comes_back(guest, workloads, evidence, release):
    """One user fills the budget with one-event contexts in process A. Another process of
    the same uid is refused (charged kernels) while another uid is not; after A's
    io_destroy returns, or A has been waited for, the same uid fits exactly the whole
    budget again: nothing leaked, nothing left charged."""
    k = one_event_fit(guest)
    base = aio_nr(guest)
    a, a_results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * k, destroy=k)
    held = [a]
    try:
        a.check_identity(UNPRIVILEGED, LIMIT, evidence)
        full = budget(guest, UNPRIVILEGED, aio_room=2**31)
        expected = full.held([1] * k)
        evidence.check(f"A: {k} one-event contexts", a_results == expected, _runs(expected), _runs(a_results),
                       rule(full, guest.kernel.features))
        got = workloads.aio_attempt(UNPRIVILEGED, LIMIT, 1, uid=a.uid)
        own = per_process(guest.kernel.features)
        want = "ok" if own else full.attempt(1)
        evidence.check("B, same uid: io_setup(1)", got == want, want, got,
                       rule(full, guest.kernel.features) + (" (a budget per process)" if own else
                                                            " (per user, not per process)"))
        got = workloads.aio_attempt(UNPRIVILEGED, LIMIT, 1)
        evidence.check("C, another uid: io_setup(1)", got == "ok", "ok", got, "a budget per user")
        if release == "io_destroy":
            a.signal_and_wait_for(10, "DESTROYED")  # SIGUSR1: io_destroy of all k has returned
        else:
            a.stop()
            held.remove(a)
        evidence.check(f"aio-nr once A's {release} returned", aio_nr(guest) == base, str(base), str(aio_nr(guest)),
                       "fs/aio.c kill_ioctx: aio_nr_sub before io_destroy/exit_aio return")
        again, again_results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * (k + 1), uid=a.uid)
        held.append(again)
        fresh = budget(guest, UNPRIVILEGED, aio_room=2**31).held([1] * (k + 1))
        evidence.check(f"D, same uid after A's {release}: {k + 1} one-event contexts", again_results == fresh,
                       _runs(fresh), _runs(again_results),
                       rule(full, guest.kernel.features) + "; kill_ioctx gives the pages back")
    finally:
        stop_all(held)
    evidence.check("aio-nr at the end", aio_nr(guest) == base, str(base), str(aio_nr(guest)), "exit_aio")
    evidence.require()


def test_aio_rings_and_io_uring_buffers_share_one_budget(guest, workloads, evidence, io_uring):
    """The patch charges the counter io_uring's registered buffers use (user->locked_vm,
    io_uring/rsrc.c __io_account_mem): with half the budget in aio rings, io_uring fits
    the other half and not a page more. Mainline: io_uring has the whole budget and
    not a page more while the rings are held, so a kernel that began charging rings
    (to any counter io_uring checks) fails here."""
    k = one_event_fit(guest) // 2
    ring_pages = k * aio_ring.ring_pages(1, probes.possible_cpus(guest))
    a, results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * k)
    try:
        evidence.check(f"A: {k} one-event aio contexts ({ring_pages} ring pages)", results == ["ok"] * k,
                       f"{k} ok", _runs(results), "half the budget")
        # The per-process patch charges mm->locked_vm, which io_uring does not read.
        charged = charges_aio_rings(guest.kernel.features, cap_ipc_lock=False) and not per_process(
            guest.kernel.features)
        room = LIMIT_PAGES - (ring_pages if charged else 0)
        for p in (room, room + 1):
            got = workloads.uring_attempt(UNPRIVILEGED, LIMIT, p, uid=a.uid)
            want = "ok" if p <= room else "ENOMEM"
            evidence.check(f"same uid: register {p} pages with io_uring", got == want, want, got,
                           "io_uring/rsrc.c __io_account_mem on user->locked_vm"
                           + (", which the patch's aio rings share" if charged else "; mainline aio charges nothing"))
    finally:
        a.stop()
    evidence.require()
