"""aio-nr accounting, io_setup's errors, exhaustion at aio-max-nr, and release.

Rules: docs/kernel-rules.md §1; fs/aio.c of 6.1.192 (identical in 6.12):
ioctx_alloc charges max_reqs = n (:753, :780) against aio-max-nr (:813 global check),
teardown subtracts the same n (aio_nr_sub(ctx->max_reqs), :837 kill_ioctx and :884).
The "fs: aio: fix the increment of aio-nr and counting against aio-max-nr" fix (2017,
v4.13) is what makes the delta n rather than the doubled ring size.

Every test fills an evidence table (witness, prediction and its source, observation)
and asserts it whole at the end, so a failure shows every witness.
"""

from __future__ import annotations

import re
import signal

import pytest

from fixtures.tools import aio_ring
from suites.aio.holders import aio_maps, aio_nr, start_holder
from vm import probes

# Sizes spanning the edges: the 4c floor of the ring (c = possible CPUs, read in the
# guest), the one-page/two-page boundary (62/63), three pages (127/128), and larger.
SIZES = ["1", "4c-1", "4c", "4c+1", "62", "63", "127", "128", "1022", "1024", "4096"]

ACCOUNT = "fs/aio.c ioctx_alloc: aio_nr += max_reqs (= n since the 2017 fix, v4.13)"
RELEASE = "fs/aio.c kill_ioctx: aio_nr_sub(ctx->max_reqs)"
EXIT = "fs/aio.c exit_aio -> kill_ioctx, from exit_mm, before the task is a zombie"
LIMIT = "fs/aio.c ioctx_alloc: aio_nr + nr_events > aio_max_nr -> -EAGAIN"
MAPS_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) .* (/\[aio\] \(deleted\))$")


def resolve(size: str, c: int) -> int:
    return eval(size.replace("4c", f"(4*{c})"))  # noqa: S307 - our own literal table above


def check_aio_nr(evidence, guest, witness: str, expected: int, source: str) -> int:
    got = aio_nr(guest)
    evidence.check(witness, got == expected, str(expected), str(got), source)
    return got


@pytest.mark.behaviour("aio-nr-accounting")
@pytest.mark.catches("source-6.1-mut-aio-nr-doubled")
@pytest.mark.parametrize("size", SIZES)
def test_aio_nr_grows_by_n_and_ring_has_predicted_pages(guest, aio_bin, evidence, size):
    c = probes.possible_cpus(guest)
    n = resolve(size, c)
    evidence.note(f"n = {size} = {n}; possible CPUs c = {c} (read in the guest)")
    before = aio_nr(guest)
    h = start_holder(guest, aio_bin, str(n))
    try:
        check_aio_nr(evidence, guest, "aio-nr while held", before + n, ACCOUNT)
        [ctx] = h.contexts
        maps = aio_maps(guest, ctx["pid"])
        evidence.check("[aio] mappings of the holder", len(maps) == 1, "1", str(len(maps)),
                       "fs/aio.c aio_setup_ring: one shared mapping of the anon inode per context")
        m = MAPS_RE.match(maps[0]) if maps else None
        evidence.check("mapping line shape", m is not None, "start-end rw-s ... /[aio] (deleted)",
                       maps[0] if maps else "none", "fs/aio.c aio_private_file: name [aio], unlinked")
        pages = aio_ring.ring_pages(n, c)
        if m:
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            evidence.check("mapping start", start == ctx["ctx"], f"{ctx['ctx']:#x} (the aio_context_t)",
                           f"{start:#x}", "fs/aio.c ioctx_alloc: ctx->user_id = ctx->mmap_base")
            evidence.check("ring pages", (end - start) // 4096 == pages,
                           f"{pages} = PFN_UP(32 + 32*(2*max(n, 4c) + 2))", str((end - start) // 4096),
                           "fs/aio.c aio_setup_ring (:502-519)")
            evidence.check("mapping permissions", m.group(3) == "rw-s", "rw-s", m.group(3),
                           "fs/aio.c aio_setup_ring: do_mmap PROT_READ|PROT_WRITE, MAP_SHARED")
        evidence.check("ring header magic", ctx["magic"] == aio_ring.AIO_RING_MAGIC,
                       f"{aio_ring.AIO_RING_MAGIC:#x}", f"{ctx['magic']:#x}", "fs/aio.c AIO_RING_MAGIC")
        evidence.check("ring header nr", ctx["ring_nr"] == aio_ring.ring_nr(pages),
                       f"{aio_ring.ring_nr(pages)} = (4096*P - 32)/32", str(ctx["ring_nr"]),
                       "fs/aio.c aio_setup_ring: ring->nr = nr_events after rounding up to pages")
    finally:
        h.stop()
    check_aio_nr(evidence, guest, "aio-nr after the holder was waited for", before, EXIT)
    evidence.require()


def test_io_setup_errors(guest, aio_bin, sysctl, evidence):
    def attempt(witness: str, args: str, expected: str, source: str) -> None:
        got = guest.sh(f"{aio_bin} -x {args}").strip()
        evidence.check(witness, got == expected, expected, got, source)

    max_nr = int(sysctl.get("fs.aio-max-nr"))
    check_aio_nr(evidence, guest, "aio-nr before (a quiet guest, for exact limits)", 0, "nothing else uses aio")
    attempt("io_setup(0)", "0", "EINVAL", "fs/aio.c io_setup: !nr_events -> EINVAL")
    attempt("io_setup(4) with *ctxp != 0", "4 -z", "EINVAL", "fs/aio.c io_setup: ctx != 0 -> EINVAL")
    attempt(f"io_setup(aio-max-nr = {max_nr})", str(max_nr), "ok", LIMIT + " (equality fits)")
    attempt(f"io_setup(aio-max-nr + 1 = {max_nr + 1})", str(max_nr + 1), "EAGAIN", LIMIT)
    overflow = "fs/aio.c ioctx_alloc: nr_events > 0x10000000/sizeof(io_event) after doubling -> EINVAL"
    attempt(f"io_setup({aio_ring.MAX_N + 1}), the doubled ring overflows", str(aio_ring.MAX_N + 1), "EINVAL",
            overflow)
    attempt("io_setup((unsigned)-1)", "-1", "EINVAL", overflow)
    sysctl.set("fs.aio-max-nr", 2**31 - 1)
    attempt(f"io_setup({aio_ring.MAX_N + 1}) with aio-max-nr 2^31-1", str(aio_ring.MAX_N + 1), "EINVAL",
            overflow + ", checked before the limit")
    evidence.require()


@pytest.mark.behaviour("aio-max-nr-exhaustion")
@pytest.mark.catches("source-6.1-mut-aio-nr-doubled", "source-6.1-mut-aio-nr-late-sub")
def test_exhaustion_at_the_limit(guest, aio_bin, sysctl, evidence):
    base = aio_nr(guest)
    sizes = [100, 120, 80]
    sysctl.set("fs.aio-max-nr", base + sum(sizes))
    evidence.note(f"aio-max-nr set to aio-nr + {sum(sizes)} = {base + sum(sizes)}")
    holders = [start_holder(guest, aio_bin, f"-d 1 {n}") for n in sizes]
    try:
        check_aio_nr(evidence, guest, f"aio-nr with {sizes} held", base + sum(sizes), ACCOUNT)
        got = guest.sh(f"{aio_bin} -x 1").strip()
        evidence.check("io_setup(1) at the limit", got == "EAGAIN", "EAGAIN", got, LIMIT)
        [as_it_returned] = holders[2].destroy().values()  # frees exactly 80
        evidence.check("aio-nr read by the workload as io_destroy of the 80 returned",
                       as_it_returned == base + sum(sizes) - 80, str(base + sum(sizes) - 80), str(as_it_returned),
                       RELEASE + ", before io_destroy returns")
        check_aio_nr(evidence, guest, "aio-nr when io_destroy of the 80 returned", base + sum(sizes) - 80, RELEASE)
        got = guest.sh(f"{aio_bin} -x 81").strip()
        evidence.check("io_setup(81), one more than was freed", got == "EAGAIN", "EAGAIN", got, LIMIT)
        got = guest.sh(f"{aio_bin} -x 80").strip()
        evidence.check("io_setup(80), exactly what was freed", got == "ok", "ok", got, LIMIT + " (equality fits)")
    finally:
        for h in holders:
            h.stop()
    check_aio_nr(evidence, guest, "aio-nr after every holder was waited for", base, EXIT)
    evidence.require()


@pytest.mark.behaviour("aio-max-nr-exhaustion")
@pytest.mark.catches("source-6.1-mut-aio-nr-late-sub")
def test_capacity_returns_when_io_destroy_returns(guest, aio_bin, evidence):
    base = aio_nr(guest)
    h = start_holder(guest, aio_bin, "-d 2 300 40 7")
    try:
        check_aio_nr(evidence, guest, "aio-nr with 300, 40, 7 held", base + 347, ACCOUNT)
        [as_it_returned] = h.destroy().values()  # read after both io_destroy calls returned
        evidence.check("aio-nr read by the workload as io_destroy(300), io_destroy(40) returned",
                       as_it_returned == base + 7, str(base + 7), str(as_it_returned),
                       RELEASE + ": before io_destroy returns, not later from free_ioctx's RCU work "
                       "(the comment above aio_nr_sub in kill_ioctx says why)")
        check_aio_nr(evidence, guest, "aio-nr when io_destroy(300), io_destroy(40) returned", base + 7,
                     RELEASE + ", before io_destroy returns (it waits for ctx->rq_wait)")
        left = len(aio_maps(guest, h.pids[0]))
        evidence.check("[aio] mappings left", left == 1, "1 (the 7's)", str(left),
                       "fs/aio.c kill_ioctx: vm_munmap of the ring")
    finally:
        h.stop()
    evidence.require()


@pytest.mark.behaviour("aio-max-nr-exhaustion")
@pytest.mark.catches("source-6.1-mut-aio-nr-exit-leak")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["exit", "sigkill"])
def test_capacity_returns_when_waitpid_returns(guest, aio_bin, evidence, sig):
    base = aio_nr(guest)
    h = start_holder(guest, aio_bin, "-T -f 33,44 500 6")  # threaded parent, forked child
    parent = h.proc.pid
    [child] = [p for p in h.pids if p != parent]
    mine = h.by_pid()
    # What the workload did, as it says (a note: the rows below are the kernel's view).
    evidence.note(f"parent {parent}: contexts {sorted(c['n'] for c in mine[parent])} set up by threads "
                  f"{sorted({c['tid'] for c in mine[parent]})}; child {child}: {sorted(c['n'] for c in mine[child])}")
    check_aio_nr(evidence, guest, "aio-nr with both processes holding", base + 500 + 6 + 33 + 44, ACCOUNT)
    try:
        guest.run(f"kill -{int(sig)} {child}", check=True)
        guest.sh(f"until grep -q '^State:.Z' /proc/{child}/status; do sleep 0.05; done", timeout=30)
        check_aio_nr(evidence, guest, f"aio-nr once the child ({sig.name}) is a zombie", base + 506,
                     EXIT + " (so before the parent's waitpid could return)")
    finally:
        # The parent: the agent's waitpid on it has returned when stop() does.
        h.stop(sig)
    check_aio_nr(evidence, guest, f"aio-nr when waitpid on the parent ({sig.name}) returned", base, EXIT)
    evidence.require()
