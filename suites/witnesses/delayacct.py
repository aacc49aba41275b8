"""Each task's delayacct blkio ticks (/proc/<pid>/stat field 42), from the
window's start to the report it prints after waking: the delay of a sleep is
added when it ends (docs/kernel-rules.md §5)."""

from __future__ import annotations

from suites.watch.delays import judge_delay
from suites.watch.witness import Witness

SOURCE = ("kernel/delayacct.c: blkio delay from __schedule() to ttwu while in_iowait; "
          "/proc/pid/stat field 42")


class DelayAcct(Witness):
    name = "delayacct"
    title = "delayacct blkio (/proc/pid/stat field 42)"
    order = 70
    kind = "proc"
    kconfig = ("CONFIG_TASK_DELAY_ACCT",)

    def judge(self, ev, seen) -> None:
        h = seen.hold
        judge_delay(ev, seen, f"{seen.p}delayacct blkio", {pid: h.blkio_ticks(pid) for pid in h.pids}, SOURCE,
                    sign="+")


WITNESS = DelayAcct()
