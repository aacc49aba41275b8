"""A bpftrace program kept for a guest's life, read a piece at a time: what it
has printed so far, complete lines only, parsed (suites/watch/reads.py,
suites/watch/stamps.py, suites/watch/offcpu.py)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from core import budget
from suites.watch.cpus import tool_cpus
from vm import probes
from vm.errors import AgentError, OutputNotSeen
from vm.guest import Guest

T = TypeVar("T")


def spawn_kept_bpftrace(guest: Guest, program, headers: tuple[str, ...], args: str = "",
                        attach_timeout: float = 300, ring_pages: int = 0):
    """A bpftrace program kept for the guest's life, off the tasks' CPU, once it
    prints READY. Without BTF (source builds leave it off) it learns the kernel's
    types from `headers` (lib/modules/<release>/build, published with the build).
    `ring_pages`: its perf ring buffer per CPU (BPFTRACE_PERF_RB_PAGES, 64 by
    default), for a program whose events come in bursts."""
    include = "" if probes.has_btf(guest) else "".join(f"--include {h} " for h in headers)
    env = f"env BPFTRACE_PERF_RB_PAGES={ring_pages} " if ring_pages else ""
    proc = guest.spawn(f"exec taskset -c {tool_cpus(guest)} {env}bpftrace -B line {include}{program} {args}",
                       keep=True)
    with budget.spend(budget.TRACER):
        guest.wait_for_output(proc, "READY", timeout=attach_timeout)
    return proc


class KeptTracer(Generic[T]):
    def __init__(self, guest: Guest, program, headers: tuple[str, ...], parse: Callable[[str], list[T]],
                 args: str = "", ring_pages: int = 0, attach_timeout: float = 300):
        self.guest = guest
        self.proc = spawn_kept_bpftrace(guest, program, headers, args, attach_timeout, ring_pages)
        self._parse = parse
        self._offset = 0
        self._items: list[T] = []
        self._tail = b""

    def alive(self) -> bool:
        """Still tracing (asked for no output: the whole of it runs to megabytes)."""
        if not self.guest.usable():
            return False
        try:
            rc, _ = self.guest.poll_from(self.proc, 1 << 40)
        except AgentError:  # forgotten by the end-of-test reap: gone
            return False
        return rc is None

    def read(self) -> None:
        """What it printed since the last read, complete lines only, parsed and
        handed to keep()."""
        _, data = self.guest.poll_from(self.proc, self._offset)
        self._offset += len(data)
        data = self._tail + data.replace(b"\0", b"")
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        self.keep(self._parse(data[:cut].decode("utf-8", "replace")))

    def keep(self, new: list[T]) -> None:
        """Kept as they are; a tracer that folds its events as they come (offcpu.py)
        keeps only what it folds them into."""
        self._items += new

    def items(self) -> list[T]:
        """Everything it has printed, complete lines only."""
        self.read()
        return self._items


K = TypeVar("K", bound=KeptTracer)


class KeptPerGuest(Generic[K]):
    """One kept tracer per guest, attached on first use; one that would not attach
    is not tried again on that guest (every witness that needs it asks)."""

    def __init__(self, make: Callable[[Guest], K], what: str):
        self._make = make
        self._what = what
        self._tracers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._failed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, guest: Guest) -> K:
        if guest in self._failed:
            raise OutputNotSeen(self._failed[guest])
        t = self._tracers.get(guest)
        if t is None or not t.alive():
            try:
                t = self._tracers[guest] = self._make(guest)
            except OutputNotSeen as e:
                self._failed[guest] = f"{self._what} did not attach: {e}"
                raise
        return t
