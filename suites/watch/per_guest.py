"""What a witness (or a reading several share) knows of each guest: a daemon it
started, what the kernel offers. Kept per guest object, not by the guest's name:
a guest booted again after a fault is a new guest and starts afresh; dropped
with the guest."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from vm.guest import Guest

Known = TypeVar("Known")


class PerGuest(Generic[Known]):
    """`of(guest)` makes it with `make` on first use; `get` and `set` for state
    made elsewhere (a daemon started in setup)."""

    def __init__(self, make: Callable[[Guest], Known] | None = None) -> None:
        self._of: weakref.WeakKeyDictionary[Guest, Known] = weakref.WeakKeyDictionary()
        self._make = make

    def of(self, guest: Guest) -> Known:
        if guest not in self._of:
            if self._make is None:
                raise KeyError(f"nothing known of {guest} yet")
            self._of[guest] = self._make(guest)
        return self._of[guest]

    def get(self, guest: Guest) -> Known | None:
        return self._of.get(guest)

    def set(self, guest: Guest, value: Known) -> None:
        self._of[guest] = value

    def pop(self, guest: Guest) -> Known | None:
        """What was known of the guest, forgotten."""
        return self._of.pop(guest, None)

    def __contains__(self, guest: Guest) -> bool:
        return guest in self._of
