"""Progress lines on stderr with the elapsed time, for long fetches and builds."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, entry: str, quiet: bool = False):
        self.entry = entry
        self.quiet = quiet
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def step(self, what: str) -> None:
        if not self.quiet:
            print(f"[{self.elapsed:7.1f}s] {self.entry}: {what}", file=sys.stderr, flush=True)
