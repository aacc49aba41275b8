"""What io_setup should return under a memlock limit, from the ring formula.

Mainline (fs/aio.c of 6.1.192 and 6.12.117): ring pages are not charged to
RLIMIT_MEMLOCK at all; only aio-max-nr limits io_setup (ioctx_alloc's global check,
EAGAIN). A kernel whose catalog entry declares the `aio-memlock` feature carries
kernels/patches/aio-memlock/: each context's ring pages (aio_ring.ring_pages) are
charged to the calling user's locked_vm against the caller's RLIMIT_MEMLOCK, EAGAIN
when they do not fit, nothing charged with CAP_IPC_LOCK, given back by io_destroy
and exit. A kernel that also declares `no-aio-max-nr` carries the proposal as it
was posted (0002): no aio-max-nr at all, the rlimit the only limit, so a task with
CAP_IPC_LOCK is limited by nothing here. A kernel that declares
`aio-memlock-per-process` carries the posting's own semantics
(kernels/patches/aio-memlock-2009/): the pages are charged to the calling
process's mm->locked_vm (VmLck), so each process has a budget of its own and
io_uring's (per user) is not shared; `aio-max-nr-deprecated` keeps the sysctl
writable, limiting nothing. docs/kernel-rules.md §1-§2.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.tools import aio_ring

FEATURE = "aio-memlock"
NO_AIO_MAX_NR = "no-aio-max-nr"
PER_PROCESS = "aio-memlock-per-process"
DEPRECATED = "aio-max-nr-deprecated"
ATOMIC_T = "aio-nr-atomic-t"
PAGE = 4096


def charges_aio_rings(features: tuple[str, ...], cap_ipc_lock: bool) -> bool:
    return FEATURE in features and not cap_ipc_lock


def has_aio_max_nr(features: tuple[str, ...]) -> bool:
    """Whether aio-max-nr limits io_setup."""
    return NO_AIO_MAX_NR not in features and DEPRECATED not in features


def aio_max_nr_file(features: tuple[str, ...]) -> bool:
    """Whether /proc/sys/fs/aio-max-nr exists (and takes writes)."""
    return NO_AIO_MAX_NR not in features


def aio_nr_shown(features: tuple[str, ...], count: int) -> int:
    """What /proc/sys/fs/aio-nr shows for a counter that reached `count`: mainline's
    unsigned long through proc_doulongvec_minmax (64 bits on x86_64), or, where the
    kernel declares `aio-nr-atomic-t`, the atomic_t's int through proc_dointvec
    (kernels/patches/aio-memlock-2009/0001): wrapped to 32 bits, signed."""
    if ATOMIC_T in features:
        return (count + 2**31) % 2**32 - 2**31
    return count % 2**64


def per_process(features: tuple[str, ...]) -> bool:
    """Rings charged to each process's locked_vm, not to its user's."""
    return FEATURE in features and PER_PROCESS in features


@dataclass
class AioBudget:
    """One user's state as io_setup sees it: memlock pages left (if charged) and
    room left under aio-max-nr (None: the kernel has no aio-max-nr)."""

    cpus: int
    charged: bool
    memlock_pages: int
    aio_room: int | None

    def io_setup(self, n: int) -> str:
        if self.aio_room is not None and n > self.aio_room:
            return "EAGAIN"  # aio_nr + n > aio_max_nr (fs/aio.c ioctx_alloc)
        pages = aio_ring.ring_pages(n, self.cpus)
        if self.charged and pages > self.memlock_pages:
            return "EAGAIN"  # the patch's aio_account_ring()
        if self.charged:
            self.memlock_pages -= pages
        if self.aio_room is not None:
            self.aio_room -= n
        return "ok"

    def held(self, sizes: list[int]) -> list[str]:
        """The results of io_setup for each n in turn, every accepted context kept."""
        return [self.io_setup(n) for n in sizes]

    def attempt(self, n: int) -> str:
        """One io_setup(n) that is destroyed again at once (aio_workload -x)."""
        saved = (self.memlock_pages, self.aio_room)
        result = self.io_setup(n)
        self.memlock_pages, self.aio_room = saved
        return result


def sweep(budget: AioBudget, cap: int) -> tuple[int, int]:
    """The 2009 posting's test program: io_setup(n) then io_destroy for n = 1, 2, ...
    until one fails (or n passes `cap`), then one-event contexts, held, until one
    fails (or `cap` of them): the largest n that fitted and how many contexts."""
    n = 0
    while n < cap and budget.attempt(n + 1) == "ok":
        n += 1
    k = 0
    while k < cap and budget.io_setup(1) == "ok":
        k += 1
    return n, k


def largest_n_within(pages: int, cpus: int) -> int:
    """The largest n whose ring fits in `pages` pages (ring_pages grows with n)."""
    lo, hi = 0, aio_ring.MAX_N
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if aio_ring.ring_pages(mid, cpus) <= pages:
            lo = mid
        else:
            hi = mid - 1
    return lo
