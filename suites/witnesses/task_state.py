"""The tasks' state letter, /proc/<pid>/stat field 3, in every sample of the window."""

from __future__ import annotations

from suites.watch.witness import Witness

SOURCE = "proc(5) /proc/pid/stat field 3; docs/kernel-rules.md §6"


class TaskState(Witness):
    name = "state"
    title = "task state (/proc/pid/stat)"
    order = 10
    kind = "proc"

    def judge(self, ev, seen) -> None:
        states = seen.hold.states()
        ev.check(f"{seen.prefix}task state", states == {seen.wait.state}, f"{seen.wait.state} in every sample",
                 f"{''.join(sorted(states))} in {len(seen.window.samples)} samples", SOURCE)


WITNESS = TaskState()
