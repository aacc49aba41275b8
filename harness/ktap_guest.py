"""KTAP from the guest side: each test's result written into the guest's kernel log.

One KTAP document per boot of a guest (Documentation/dev-tools/ktap.rst, version 1):
the version line, a comment naming run and kernel, and a plan counting the tests
still to run on that kernel; then, as each test ends, its result line. The guest's
console log (results/<run>/console/) then reads like a kselftest run, so tools that
take KTAP out of a console (tools/testing/kunit/kunit.py parse, KernelCI's log
parsers) read it. A test whose guest died gets no line: the parser reports it as
crashed, which it is. The host-side documents (harness/ktap.py) hold every verdict.
"""

from __future__ import annotations

from vm import console

LINE_MAX = 900  # under printk's LOG_LINE_MAX (1024 - 32): one record per line


def _clean(text: str) -> str:
    # "#" starts a directive in a result line; a reason quoting an oops must not look
    # like a new one to the console watchers (vm/console.py).
    line = (text.strip().splitlines() or [""])[0].replace("#", "_")
    if console.TROUBLE.search(line):
        return "the kernel logged an oops, BUG or WARNING (see the test's dmesg slice)"
    return line[:LINE_MAX]


class KtapStream:
    def __init__(self, guest, title: str, planned: int):
        self.guest = guest
        self.number = 0
        for line in ("KTAP version 1", f"# {_clean(title)}", f"1..{planned}"):
            self._emit(line)

    def _emit(self, line: str) -> None:
        self.guest.write_file("/dev/kmsg", line.encode() + b"\n")  # finalizes the record (see vm/isolation.py)

    def result(self, name: str, verdict: str, reason: str = "") -> None:
        self.number += 1
        name = _clean(name) or "_"
        if verdict == "skipped":
            self._emit(f"ok {self.number} {name} # SKIP {_clean(reason)}")
            return
        if verdict != "passed" and reason:
            self._emit(f"# {_clean(reason)}")
        self._emit(f"{'ok' if verdict == 'passed' else 'not ok'} {self.number} {name}")
