"""aio rings and RLIMIT_MEMLOCK, on mainline and on the aio-memlock patch.

Every expectation comes from suites/memlock/model.py: the ring formula
(fixtures/tools/aio_ring.py; fs/aio.c ioctx_alloc/aio_setup_ring of 6.1.192), the
guest's CPU count, aio-max-nr as set here, and whether the kernel's catalog entry
declares `aio-memlock` (kernels/patches/aio-memlock/). Mainline never charges ring
pages to RLIMIT_MEMLOCK (shared/KERNEL-FACTS.md §1, last bullet but one); the patch
charges them per user, EAGAIN past the limit, CAP_IPC_LOCK exempt, returned by
kill_ioctx (io_destroy, exit_aio) with aio-nr.
"""

from __future__ import annotations

import pytest

from fixtures.tools import aio_ring
from suites.memlock.conftest import LIMIT, ROOT, UNPRIVILEGED, WITHOUT_CAP, kib, stop_all
from suites.memlock.model import PAGE, AioBudget, charges_aio_rings, largest_n_within
from vm import probes

LIMIT_PAGES = LIMIT // PAGE
IDENTITIES = [*WITHOUT_CAP, ROOT]


def aio_nr(guest) -> int:
    return int(guest.read_text("/proc/sys/fs/aio-nr"))


def budget(guest, identity, aio_room: int) -> AioBudget:
    charged = charges_aio_rings(guest.kernel.features, identity.cap_ipc_lock)
    return AioBudget(probes.possible_cpus(guest), charged, LIMIT_PAGES, aio_room)


def one_event_fit(guest) -> int:
    """How many one-event contexts a charged budget of LIMIT holds: 16 when c <= 15."""
    return LIMIT_PAGES // aio_ring.ring_pages(1, probes.possible_cpus(guest))


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_rings_past_the_memlock_limit_up_to_aio_max_nr(guest, workloads, sysctl, identity):
    """Four 1024-event contexts (17 ring pages each when 4c <= 1024: 68 KiB, more than
    the whole 64 KiB limit) then one more past aio-max-nr."""
    c = probes.possible_cpus(guest)
    sizes = [1024] * 4 + [1]
    assert 4 * aio_ring.ring_pages(1024, c) > LIMIT_PAGES, "the premise: rings well past the limit"
    base = aio_nr(guest)
    sysctl.set("fs.aio-max-nr", base + 4096)
    expected = budget(guest, identity, 4096).held(sizes)
    held, results = workloads.hold_aio(identity, LIMIT, sizes)
    try:
        held.check_identity(identity, LIMIT)
        assert results == expected
        assert aio_nr(guest) - base == sum(n for n, r in zip(sizes, results, strict=True) if r == "ok")
        st = held.status()
        # Neither mainline nor the patch (per-user locked_vm) touches the process's
        # mlock or pin counters (fs/proc/task_mmu.c: VmLck = mm->locked_vm, VmPin = pinned_vm).
        assert (kib(st["VmLck"]), kib(st["VmPin"])) == (0, 0)
    finally:
        held.stop()
    assert aio_nr(guest) == base


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_largest_single_context_under_the_limit(guest, workloads, identity):
    """The largest n whose ring fits in 16 pages (1022 when 4c <= 1022) and n + 1."""
    n = largest_n_within(LIMIT_PAGES, probes.possible_cpus(guest))
    model = budget(guest, identity, aio_room=2**31)
    got = {k: workloads.aio_attempt(identity, LIMIT, k) for k in (n, n + 1)}
    assert got == {n: model.attempt(n), n + 1: model.attempt(n + 1)}


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_one_event_contexts_under_the_limit(guest, workloads, identity):
    """As many one-event contexts as fit, plus one (16 + 1 when c <= 15)."""
    k = one_event_fit(guest)
    sizes = [1] * (k + 1)
    base = aio_nr(guest)
    expected = budget(guest, identity, aio_room=2**31).held(sizes)
    held, results = workloads.hold_aio(identity, LIMIT, sizes)
    try:
        held.check_identity(identity, LIMIT)
        assert results == expected
        assert aio_nr(guest) - base == results.count("ok")
    finally:
        held.stop()
    assert aio_nr(guest) == base


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.label)
def test_aio_max_nr_still_enforced(guest, workloads, sysctl, identity):
    """The patch keeps aio-max-nr: with room for 100 events, 100 fits (2 ring pages,
    inside the memlock limit) and 101 does not, on every kernel."""
    base = aio_nr(guest)
    sysctl.set("fs.aio-max-nr", base + 100)
    model = budget(guest, identity, aio_room=100)
    assert model.attempt(100) == "ok" and model.attempt(101) == "EAGAIN"
    assert workloads.aio_attempt(identity, LIMIT, 100) == "ok"
    assert workloads.aio_attempt(identity, LIMIT, 101) == "EAGAIN"
    assert aio_nr(guest) == base


@pytest.mark.parametrize("release", ["io_destroy", "exit"])
def test_budget_is_per_user_and_comes_back(guest, workloads, release):
    """One user fills the budget with one-event contexts in process A. Another process of
    the same uid is refused (charged kernels) while another uid is not; after A's
    io_destroy returns, or A has been waited for, the same uid fits exactly the whole
    budget again: nothing leaked, nothing left charged."""
    k = one_event_fit(guest)
    base = aio_nr(guest)
    a, a_results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * k, destroy=k)
    held = [a]
    try:
        a.check_identity(UNPRIVILEGED, LIMIT)
        assert a_results == ["ok"] * k
        full = budget(guest, UNPRIVILEGED, aio_room=2**31)
        full.held([1] * k)  # what A holds
        assert workloads.aio_attempt(UNPRIVILEGED, LIMIT, 1, uid=a.uid) == full.attempt(1)
        assert workloads.aio_attempt(UNPRIVILEGED, LIMIT, 1) == "ok", "another uid has its own budget"
        if release == "io_destroy":
            a.signal_and_wait_for(10, "DESTROYED")  # SIGUSR1: io_destroy of all k has returned
        else:
            a.stop()
            held.remove(a)
        assert aio_nr(guest) == base
        again, again_results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * (k + 1), uid=a.uid)
        held.append(again)
        assert again_results == budget(guest, UNPRIVILEGED, aio_room=2**31).held([1] * (k + 1))
    finally:
        stop_all(held)
    assert aio_nr(guest) == base


def test_aio_rings_and_io_uring_buffers_share_one_budget(guest, workloads, io_uring):
    """The patch charges the counter io_uring's registered buffers use (user->locked_vm,
    io_uring/rsrc.c __io_account_mem): with half the budget in aio rings, io_uring fits
    the other half and not a page more. Mainline: io_uring has the whole budget."""
    k = one_event_fit(guest) // 2
    ring_pages = k * aio_ring.ring_pages(1, probes.possible_cpus(guest))
    a, results = workloads.hold_aio(UNPRIVILEGED, LIMIT, [1] * k)
    try:
        assert results == ["ok"] * k
        charged = charges_aio_rings(guest.kernel.features, cap_ipc_lock=False)
        room = LIMIT_PAGES - (ring_pages if charged else 0)
        left = LIMIT_PAGES - ring_pages
        got = {p: workloads.uring_attempt(UNPRIVILEGED, LIMIT, p, uid=a.uid) for p in (left, left + 1)}
        assert got == {p: "ok" if p <= room else "ENOMEM" for p in (left, left + 1)}
    finally:
        a.stop()
