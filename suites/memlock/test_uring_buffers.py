"""io_uring registered buffers are charged to RLIMIT_MEMLOCK (every kernel).

Rules (docs/kernel-rules.md §3; io_uring/rsrc.c of 6.1.192 and 6.12.117):
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

import json
import time

import pytest

from suites.memlock.model import PAGE
from suites.memlock.workloads import LIMIT, ROOT, UNPRIVILEGED, WITHOUT_CAP, kib, stop_all

pytestmark = pytest.mark.behaviour("io-uring-buffers-memlock")

LIMIT_PAGES = LIMIT // PAGE
CHARGE = "io_uring/rsrc.c __io_account_mem: user->locked_vm + pages > RLIMIT_MEMLOCK -> ENOMEM"
PIN = "io_uring/rsrc.c io_account_mem: mm_account->pinned_vm += pages (VmPin), charged or not"


def kb(pages: int) -> str:
    return f"{pages * PAGE // 1024} kB"


@pytest.mark.catches("source-6.1-mut-uring-buffers-uncharged")
@pytest.mark.parametrize("identity", WITHOUT_CAP, ids=lambda i: i.label)
def test_registered_buffers_up_to_the_limit_and_not_a_page_more(guest, workloads, evidence, io_uring, identity):
    for pages, want in ((LIMIT_PAGES, "ok"), (LIMIT_PAGES + 1, "ENOMEM")):
        got = workloads.uring_attempt(identity, LIMIT, pages)
        evidence.check(f"register {pages} pages under a {LIMIT}-byte limit", got == want, want, got, CHARGE)
    evidence.require()


def test_cap_ipc_lock_registers_past_the_limit(guest, workloads, evidence, io_uring):
    held = workloads.hold_uring(ROOT, LIMIT, 2 * LIMIT_PAGES)
    try:
        held.check_identity(ROOT, LIMIT, evidence)
        got = json.loads(held.lines[0])["result"]
        evidence.check(f"register {2 * LIMIT_PAGES} pages with CAP_IPC_LOCK", got == "ok", "ok", got,
                       "io_uring.c io_uring_create: ctx->user unset under CAP_IPC_LOCK, nothing checked")
        vmpin = held.status()["VmPin"]
        evidence.check("VmPin", kib(vmpin) * 1024 == 2 * LIMIT, kb(2 * LIMIT_PAGES), vmpin, PIN)
    finally:
        held.stop()
    evidence.require()


@pytest.mark.parametrize("identity", [UNPRIVILEGED, ROOT], ids=lambda i: i.label)
def test_vmpin_grows_by_the_registered_pages_and_unregister_returns_them(guest, workloads, evidence, io_uring,
                                                                          identity):
    pages = LIMIT_PAGES if identity is UNPRIVILEGED else 2 * LIMIT_PAGES
    held = workloads.hold_uring(identity, LIMIT, pages)
    try:
        held.check_identity(identity, LIMIT, evidence)
        st = held.status()
        # A fresh process pins nothing else; VmLck is mlock's, not io_uring's.
        evidence.check(f"VmPin, VmLck with {pages} pages registered",
                       (kib(st["VmPin"]), kib(st["VmLck"])) == (pages * PAGE // 1024, 0),
                       f"{kb(pages)}, 0 kB", f"{st['VmPin']}, {st['VmLck']}", PIN)
        held.signal_and_wait_for(10, "UNREGISTERED")
        ok = f"UNREGISTERED {held.pid} ok" in held.lines
        evidence.check("IORING_UNREGISTER_BUFFERS", ok, "ok", held.lines[-1],
                       "io_uring/rsrc.c io_sqe_buffers_unregister")
        vmpin = held.status()["VmPin"]
        evidence.check("VmPin after unregister", kib(vmpin) == 0, "0 kB", vmpin, "io_unaccount_mem, synchronous")
    finally:
        held.stop()
    evidence.require()


def test_one_uid_shares_the_limit_and_unregister_gives_it_back_at_once(guest, workloads, evidence, io_uring):
    a = workloads.hold_uring(UNPRIVILEGED, LIMIT, 12)
    held = [a]
    try:
        a.check_identity(UNPRIVILEGED, LIMIT, evidence)
        rest = LIMIT_PAGES - 12
        for pages, want in ((rest, "ok"), (rest + 1, "ENOMEM")):
            got = workloads.uring_attempt(UNPRIVILEGED, LIMIT, pages, uid=a.uid)
            evidence.check(f"B, same uid as A (12 pages held): {pages} pages", got == want, want, got,
                           CHARGE + " (per uid, not per process)")
        got = workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES)
        evidence.check(f"C, another uid: {LIMIT_PAGES} pages", got == "ok", "ok", got, "a budget per uid")
        a.signal_and_wait_for(10, "UNREGISTERED")
        # No retry: unregistering is synchronous.
        got = workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES, uid=a.uid)
        evidence.check(f"B again right after A unregistered: {LIMIT_PAGES} pages", got == "ok", "ok", got,
                       "io_sqe_buffers_unregister unaccounts before it returns")
    finally:
        stop_all(held)
    evidence.require()


def test_exit_gives_the_limit_back(guest, workloads, evidence, io_uring):
    """Exit while registered: the charge goes once the ring's exit work has run (a
    workqueue, so possibly not at once; the test waits up to 60 s and reports).
    Control: while A holds the whole limit, the same uid cannot register a page."""
    a = workloads.hold_uring(UNPRIVILEGED, LIMIT, LIMIT_PAGES)
    try:
        a.check_identity(UNPRIVILEGED, LIMIT, evidence)
        got = workloads.uring_attempt(UNPRIVILEGED, LIMIT, 1, uid=a.uid)
        evidence.check(f"same uid while A holds {LIMIT_PAGES} pages: 1 page", got == "ENOMEM", "ENOMEM", got,
                       CHARGE + " (per uid)")
    finally:
        a.stop()
    t0 = time.monotonic()
    deadline, tries = t0 + 60, []
    while time.monotonic() < deadline:
        tries.append(workloads.uring_attempt(UNPRIVILEGED, LIMIT, LIMIT_PAGES, uid=a.uid))
        if tries[-1] == "ok":
            break
        time.sleep(0.5)
    evidence.check(f"same uid after A exited holding {LIMIT_PAGES} pages", tries[-1] == "ok" and
                   set(tries[:-1]) <= {"ENOMEM"}, "ENOMEM until the exit work ran, then ok",
                   f"{', '.join(tries)} after {time.monotonic() - t0:.1f} s",
                   "io_uring.c io_ring_exit_work -> io_sqe_buffers_unregister (a workqueue)")
    evidence.require()
