"""One guest per kernel for the whole session, replaced when it dies.

A kernel that failed to boot is remembered: its remaining tests get the same
verdict at once instead of booting it again and again.
"""

from __future__ import annotations

from pathlib import Path

from kernels.cache import CachedKernel
from vm.errors import BootFailed, GuestError
from vm.guest import Guest, GuestOptions


class GuestPool:
    def __init__(self, options: GuestOptions, log_dir: Path, on_boot=None):
        self.options = options
        self.log_dir = log_dir
        self.on_boot = on_boot  # called with each guest after it boots
        self.guests: dict[str, Guest] = {}
        self.boot_failures: dict[str, GuestError] = {}
        self.boots: dict[str, int] = {}

    def get(self, kernel: CachedKernel) -> Guest:
        if kernel.name in self.boot_failures:
            raise self.boot_failures[kernel.name]
        g = self.guests.get(kernel.name)
        if g is not None and g.usable():
            return g
        if g is not None:
            g.kill()
        n = self.boots.get(kernel.name, 0) + 1
        self.boots[kernel.name] = n
        label = kernel.name if n == 1 else f"{kernel.name}.{n}"
        g = Guest(kernel, self.options, self.log_dir, label=label)
        try:
            g.boot()
        except GuestError as e:
            if isinstance(e, BootFailed) or n == 1:
                self.boot_failures[kernel.name] = e
            raise
        self.guests[kernel.name] = g
        if self.on_boot:
            self.on_boot(g)
        return g

    def release(self, name: str) -> None:
        g = self.guests.pop(name, None)
        if g is not None:
            g.shutdown()

    def shutdown_all(self) -> None:
        for name in list(self.guests):
            self.release(name)
