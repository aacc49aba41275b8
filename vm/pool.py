"""One guest per kernel for the whole session, replaced when it dies.

A kernel that failed to boot is remembered: its remaining tests get the same
verdict at once instead of booting it again and again. One exception: a boot
under TCG that dies of the emulator's stale-int3 race (vm/console.py) is booted
once more, and the retry is recorded (`emulator_retries`) and reported; the same
oops a second time is the kernel's verdict.
"""

from __future__ import annotations

from pathlib import Path

from core import budget
from kernels.cache import CachedKernel
from vm import console
from vm.errors import BootFailed, EmulatorFault, GuestError, KernelPanic
from vm.guest import Guest
from vm.options import GuestOptions


def emulator_race(g: Guest, e: GuestError) -> str | None:
    """The int3 oops line if `e` is the guest's death by the stale-int3 race under TCG."""
    if not isinstance(e, (KernelPanic, EmulatorFault)) or g.accel is None or g.accel.name != "tcg":
        return None
    return console.emulator_int3(g.console_text())


def boot_own(kernel: CachedKernel, options: GuestOptions, log_dir: Path, label: str) -> Guest:
    """A guest of a test's own, outside the pool, with the pool's one exception:
    a boot killed by the stale-int3 race is booted once more (as `label`.2)."""
    g = Guest(kernel, options, log_dir, label=label)
    try:
        return g.boot()
    except GuestError as e:
        if emulator_race(g, e) is None:
            raise
    return Guest(kernel, options, log_dir, label=f"{label}.2").boot()


class GuestPool:
    def __init__(self, options: GuestOptions, log_dir: Path, on_boot=None):
        self.options = options
        self.log_dir = log_dir
        self.on_boot = on_boot  # called with each guest after it boots
        self.guests: dict[str, Guest] = {}
        self.boot_failures: dict[str, GuestError] = {}
        self.boots: dict[str, int] = {}
        self.booted: set[str] = set()  # kernels that booted at least once this session
        self.emulator_retries: dict[str, str] = {}  # kernel -> "label: oops line" of the boot retried

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
        if n > 1:
            g.boot_kind = budget.REBOOT
        try:
            g.boot()
        except GuestError as e:
            race = emulator_race(g, e)
            if race and kernel.name not in self.emulator_retries:
                self.emulator_retries[kernel.name] = f"{label}: {race}"
                return self.get(kernel)
            if isinstance(e, BootFailed) or kernel.name not in self.booted:
                self.boot_failures[kernel.name] = e
            raise
        self.guests[kernel.name] = g
        self.booted.add(kernel.name)
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
