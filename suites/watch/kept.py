"""A bpftrace program kept for a guest's life, read a piece at a time: what it
has printed so far, complete lines only, parsed (suites/watch/reads.py,
suites/watch/stamps.py)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from suites.watch.offcpu import spawn_kept_bpftrace
from vm.errors import AgentError, OutputNotSeen
from vm.guest import Guest

T = TypeVar("T")


class KeptTracer(Generic[T]):
    def __init__(self, guest: Guest, program, headers: tuple[str, ...], parse: Callable[[str], list[T]],
                 args: str = "", ring_pages: int = 0):
        self.guest = guest
        self.proc = spawn_kept_bpftrace(guest, program, headers, args, ring_pages=ring_pages)
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

    def items(self) -> list[T]:
        """Everything it has printed, complete lines only."""
        _, data = self.guest.poll_from(self.proc, self._offset)
        self._offset += len(data)
        data = self._tail + data.replace(b"\0", b"")
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        self._items += self._parse(data[:cut].decode("utf-8", "replace"))
        return self._items


K = TypeVar("K", bound=KeptTracer)


class PerGuest(Generic[K]):
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
