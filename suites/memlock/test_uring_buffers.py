"""io_uring registered buffers are charged to RLIMIT_MEMLOCK (every kernel).

Rules (shared/KERNEL-FACTS.md §3; io_uring/rsrc.c of 6.1.192 and 6.12.117):
io_account_mem() adds the pinned pages to the ring creator's user->locked_vm and
fails with ENOMEM past the caller's RLIMIT_MEMLOCK (__io_account_mem); the ring is
created with ctx->user unset under CAP_IPC_LOCK (io_uring.c io_uring_create:
ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK)), so nothing is checked then;
mm->pinned_vm (VmPin) grows either way (ctx->mm_account is always set);
IORING_UNREGISTER_BUFFERS unaccounts before it returns, a ring's teardown at exit
later, from io_ring_exit_work. liburing's test/io_uring_register.c
test_memlock_exceeded does the same dance.
"""

from __future__ import annotations

import time

import pytest

from suites.memlock.conftest import LIMIT, ROOT, UNPRIVILEGED, WITHOUT_CAP, kib, stop_all
from suites.memlock.model import PAGE

LIMIT_PAGES = LIMIT // PAGE


@pytest.mark.parametrize("identity", WITHOUT_CAP, ids=lambda i: i.label)
def test_registered_buffers_up_to_the_limit_and_not_a_page_more(guest, workloads, io_uring, identity):
    got = {p: workloads.uring_attempt(identity, LIMIT, p) for p in (LIMIT_PAGES, LIMIT_PAGES + 1)}
    assert got == {LIMIT_PAGES: "ok", LIMIT_PAGES + 1: "ENOMEM"}


def test_cap_ipc_lock_registers_past_the_limit(guest, workloads, io_uring):
    held = workloads.hold_uring(ROOT, LIMIT, 2 * LIMIT_PAGES)
    try:
        held.check_identity(ROOT, LIMIT)
        assert kib(held.status()["VmPin"]) == 2 * LIMIT_PAGES * PAGE // 1024, "pinned_vm grows without a charge"
    finally:
        held.stop()


@pytest.mark.parametrize("identity", [UNPRIVILEGED, ROOT], ids=lambda i: i.label)
def test_vmpin_grows_by_the_registered_pages_and_unregister_returns_them(guest, workloads, io_uring, identity):
    pages = LIMIT_PAGES if identity is UNPRIVILEGED else 2 * LIMIT_PAGES
    held = workloads.hold_uring(identity, LIMIT, pages)
    try:
        held.check_identity(identity, LIMIT)
        st = held.status()
        # A fresh process pins nothing else; VmLck is mlock's, not io_uring's.
        assert (kib(st["VmPin"]), kib(st["VmLck"])) == (pages * PAGE // 1024, 0)
        held.signal_and_wait_for(10, "UNREGISTERED")
        assert f"UNREGISTERED {held.pid} ok" in held.lines
        assert kib(held.status()["VmPin"]) == 0
    finally:
        held.stop()


def test_one_uid_shares_the_limit_and_unregister_gives_it_back_at_once(guest, workloads, io_uring):
    a = workloads.hold_uring(UNPRIVILEGED, LIMIT, 12)
    held = [a]
    try:
        a.check_identity(UNPRIVILEGED, LIMIT)
        rest = LIMIT_PAGES - 12
        same = {p: workloads.uring_attempt(UNPRIVILEGED, LIMIT, p, uid=a.uid) for p in (rest, rest + 1)}
        assert same == {rest: "ok", rest + 1: "ENOMEM"}, "per uid, not per process"
        assert workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES) == "ok", "another uid has its own"
        a.signal_and_wait_for(10, "UNREGISTERED")
        assert f"UNREGISTERED {a.pid} ok" in a.lines
        # No retry: unregistering is synchronous.
        assert workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES, uid=a.uid) == "ok"
    finally:
        stop_all(held)


def test_exit_gives_the_limit_back(guest, workloads, io_uring):
    """Exit while registered: the charge goes once the ring's exit work has run (a
    workqueue, so possibly not at once; the test waits up to 60 s and reports)."""
    a = workloads.hold_uring(UNPRIVILEGED, LIMIT, LIMIT_PAGES)
    a.stop()
    deadline, tries = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        tries.append(workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES, uid=a.uid))
        if tries[-1] == "ok":
            break
        time.sleep(0.5)
    assert tries[-1] == "ok", f"uid {a.uid} still charged 60 s after exit: {tries}"
    assert set(tries[:-1]) <= {"ENOMEM"}, tries
