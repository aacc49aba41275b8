"""A user-space CPU hog (fixtures/workloads/cpu_hog.c) pinned to one CPU."""

from __future__ import annotations

from contextlib import contextmanager

from vm.guest import Guest


class CpuHog:
    """The hog pinned to a CPU for the length of a `with`: killed on the way out,
    whatever happened inside (its own deadline is a backstop, and the end-of-test
    reap another)."""

    def __init__(self, guest: Guest, binary: str):
        self.guest, self.binary = guest, binary

    @contextmanager
    def on(self, cpu: int, backstop_s: int = 300):
        proc = self.guest.spawn(f"exec taskset -c {cpu} {self.binary} {backstop_s}")
        try:
            self.guest.wait_for_output(proc, "READY", timeout=60)
            yield proc
        finally:
            if self.guest.usable():
                self.guest.signal(proc, 9)
                self.guest.wait(proc, timeout=30)
