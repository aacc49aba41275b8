"""aio-nr accounting, io_setup's errors, exhaustion at aio-max-nr, and release.

Rules: shared/KERNEL-FACTS.md §1; fs/aio.c of 6.1.192 (identical in 6.12):
ioctx_alloc charges max_reqs = n (:753, :780) against aio-max-nr (:813 global check),
teardown subtracts the same n (aio_nr_sub(ctx->max_reqs), :837 kill_ioctx and :884).
The "fs: aio: fix the increment of aio-nr and counting against aio-max-nr" fix (2017,
v4.13) is what makes the delta n rather than the doubled ring size.
"""

from __future__ import annotations

import re
import signal

import pytest

from fixtures.tools import aio_ring
from suites.aio.conftest import aio_nr, start_holder
from vm import probes

# Sizes spanning the edges: the 4c floor of the ring (c = possible CPUs, read in the
# guest), the one-page/two-page boundary (62/63), three pages (127/128), and larger.
SIZES = ["1", "4c-1", "4c", "4c+1", "62", "63", "127", "128", "1022", "1024", "4096"]


def resolve(size: str, c: int) -> int:
    return eval(size.replace("4c", f"(4*{c})"))  # noqa: S307 - our own literal table above


def aio_maps(guest, pid: int) -> list[str]:
    return [ln for ln in guest.read_text(f"/proc/{pid}/maps").splitlines() if "/[aio]" in ln]


@pytest.mark.parametrize("size", SIZES)
def test_aio_nr_grows_by_n_and_ring_has_predicted_pages(guest, aio_bin, size):
    c = probes.possible_cpus(guest)
    n = resolve(size, c)
    before = aio_nr(guest)
    h = start_holder(guest, aio_bin, str(n))
    try:
        assert aio_nr(guest) - before == n, "aio-nr must grow by exactly n (fs/aio.c max_reqs)"
        [ctx] = h.contexts
        [line] = aio_maps(guest, ctx["pid"])
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) .* (/\[aio\] \(deleted\))$", line)
        assert m, line
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        pages = aio_ring.ring_pages(n, c)
        assert start == ctx["ctx"], "the ring mapping starts at the aio_context_t returned"
        assert (end - start) // 4096 == pages
        assert m.group(3) == "rw-s"
        assert ctx["magic"] == aio_ring.AIO_RING_MAGIC
        assert ctx["ring_nr"] == aio_ring.ring_nr(pages)
        lo, hi = aio_ring.events_range(pages, c)
        assert lo <= n <= hi
    finally:
        h.stop()
    assert aio_nr(guest) == before


def test_io_setup_errors(guest, aio_bin, sysctl):
    def attempt(args: str) -> str:
        return guest.sh(f"{aio_bin} -x {args}").strip()

    max_nr = int(sysctl.get("fs.aio-max-nr"))
    assert aio_nr(guest) == 0, "the guest must be quiet for exact limits"
    assert attempt("0") == "EINVAL"  # nr_events == 0 (io_setup, :1362)
    assert attempt("4 -z") == "EINVAL"  # *ctxp != 0 (io_setup, :1362)
    assert attempt(str(max_nr)) == "ok"  # exactly the limit fits
    assert attempt(str(max_nr + 1)) == "EAGAIN"  # max_reqs > aio_max_nr (:773)
    assert attempt(str(aio_ring.MAX_N + 1)) == "EINVAL"  # doubled ring overflows (:768)
    assert attempt("-1") == "EINVAL"  # (unsigned)-1: the same overflow check
    sysctl.set("fs.aio-max-nr", 2**31 - 1)
    assert attempt(str(aio_ring.MAX_N + 1)) == "EINVAL", "the overflow check comes before the limit"


def test_exhaustion_at_the_limit(guest, aio_bin, sysctl):
    base = aio_nr(guest)
    sizes = [100, 120, 80]
    sysctl.set("fs.aio-max-nr", base + sum(sizes))
    holders = [start_holder(guest, aio_bin, f"-d 1 {n}") for n in sizes]
    try:
        assert aio_nr(guest) == base + sum(sizes)
        assert guest.sh(f"{aio_bin} -x 1").strip() == "EAGAIN"
        holders[2].destroy()  # frees exactly 80
        assert aio_nr(guest) == base + sum(sizes) - 80
        assert guest.sh(f"{aio_bin} -x 81").strip() == "EAGAIN"
        assert guest.sh(f"{aio_bin} -x 80").strip() == "ok"
    finally:
        for h in holders:
            h.stop()
    assert aio_nr(guest) == base


def test_capacity_returns_when_io_destroy_returns(guest, aio_bin):
    base = aio_nr(guest)
    h = start_holder(guest, aio_bin, "-d 2 300 40 7")
    try:
        assert aio_nr(guest) == base + 347
        h.destroy()  # DESTROYED is printed only after both io_destroy calls returned
        assert aio_nr(guest) == base + 7
        assert len(aio_maps(guest, h.pids[0])) == 1
    finally:
        h.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["exit", "sigkill"])
def test_capacity_returns_when_waitpid_returns(guest, aio_bin, sig):
    base = aio_nr(guest)
    h = start_holder(guest, aio_bin, "-T -f 33,44 500 6")  # threaded parent, forked child
    parent = h.proc.pid
    [child] = [p for p in h.pids if p != parent]
    mine = h.by_pid()
    assert sorted(c["n"] for c in mine[parent]) == [6, 500]
    assert all(c["tid"] != parent for c in mine[parent]), "parent's contexts come from its second thread"
    assert sorted(c["n"] for c in mine[child]) == [33, 44]
    assert aio_nr(guest) == base + 500 + 6 + 33 + 44
    try:
        # The child: exit_mm -> exit_aio runs before it becomes a zombie, i.e. before the
        # moment its parent's waitpid could return.
        guest.run(f"kill -{int(sig)} {child}", check=True)
        guest.sh(f"until grep -q '^State:.Z' /proc/{child}/status; do sleep 0.05; done", timeout=30)
        assert aio_nr(guest) == base + 506
    finally:
        # The parent: the agent's waitpid on it has returned when stop() does.
        h.stop(sig)
    assert aio_nr(guest) == base
