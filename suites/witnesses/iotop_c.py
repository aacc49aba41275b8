"""iotop-c `iotop-c -b -t -P -d 1 -p PID` (the hold's first task: -p takes one;
reading all the guest's tasks each second costs a sixth of a CPU under TCG):
per process its IO% each second, from
taskstats' blkio_delay_total (ns): the delta over the interval, capped at 100
(iotop-c 1.23 src/views.c create_diff()); the frame's time after `|` (-t).

The kernel adds a sleep's delay when it ends (docs/kernel-rules.md §5): a task
shows IO% 0 while it waits, and its whole delay (capped) in the interval it wakes
in; delay accounting must be on (kernel.task_delayacct, set by the tests'
`delayacct` fixture) or every IO% is 0. iotop's -o ("only processes actually
doing I/O") lists a task only in an interval in which it read or wrote bytes
(src/view_batch.c: config.f.only): a read's bytes are counted when it is
submitted (block/blk-core.c, task_io_account_read()), its delay when the task
wakes, so -o never lists a task for its I/O wait. The run here is without -o;
what -o would list is read from the same frames."""

from __future__ import annotations

import math
import re
import weakref

from suites.watch.tools import ToolWitness, epoch_of_datetime
from vm.errors import OutputNotSeen

SOURCE = ("iotop-c 1.23 src/views.c: IO% = blkio_delay_total delta / interval, capped at 100; "
          "src/view_batch.c: -o lists tasks with read/write bytes only")
_FRAME = re.compile(r"^Total DISK READ.*\|\s*\w{3} (\w{3})\s+(\d+) (\d\d:\d\d:\d\d) (\d{4})")
_ROW = re.compile(r"^\s*(\d+)\s+\S+\s+\S+\s+([\d.]+)\s+\S+\s+([\d.]+)\s+\S+\s+([\d.?]+)\s+%\s+([\d.]+)\s+%")
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _frame_time(f: re.Match) -> float:
    month = _MONTHS.index(f[1]) + 1
    return epoch_of_datetime(f"{f[4]}-{month:02d}-{int(f[2]):02d} {f[3]}")


def first_frame(text: str) -> float:
    """When its first frame was stamped (inf: it printed none in the hold)."""
    for line in text.splitlines():
        f = _FRAME.match(line.strip())
        if f:
            return _frame_time(f)
    return math.inf


def check_it_prints(witness, guest, frame: str) -> None:
    """Once per guest: one frame of the tool, so that a hold in which it printed
    nothing (started late) is a start-up delay, not a tool that cannot run."""
    if guest not in witness._proven:
        out = guest.run(f"{witness.program} -b -n 1 -d 0.1 -p 1", timeout=120).check().stdout
        if frame not in out:
            raise OutputNotSeen(f"`{witness.program} -b -n 1 -p 1` printed no frame: {out[-300:]!r}")
        witness._proven.add(guest)


def parse(text: str) -> list[tuple[float, int, float, float, float]]:
    """(frame time, pid, read, write, IO%) per listed task."""
    t, rows = None, []
    for line in text.splitlines():
        f = _FRAME.match(line.strip())
        if f:
            t = _frame_time(f)
            continue
        m = _ROW.match(line)
        if m and t is not None:
            rows.append((t, int(m[1]), float(m[2]), float(m[3]), float(m[5])))
    return rows


def late_start(first: dict, end: float, began: float | None = None) -> bool:
    """The tool's first frame (`began`; inf if it printed none), or some listed
    task's first frame (stamped to the second), may not have ended before the
    window closed, while every task still waited. A task never listed in frames
    the tool printed in time is not late: that stays the tool's failure."""
    frames = [*first.values(), began]
    return any(t is not None and t + 1 > end for t in frames)


def judge_io_percent(ev, seen, tool: str, rows, cap: float, source: str, pids=None,
                     began: float | None = None) -> bool:
    """Rows shared by the iotop tools: what IO% each of the hold's tasks (or
    `pids`) shows while it waits and in all, and whether -o would list it; `began`
    is when the tool's first frame was stamped. Returns whether the tool started
    late (late_start), so the delay was not judged."""
    p, pids = seen.p, list(pids or seen.hold.pids)
    _, end = seen.wall_window
    mine = [(t, pid, r, w, io) for t, pid, r, w, io in rows if pid in pids]
    # Frames that ended before the window closed: every task still waited then.
    first = {pid: min((t for t, q, *_ in mine if q == pid), default=None) for pid in pids}
    during = [io for t, pid, _r, _w, io in mine if t > first[pid] and t + 1 <= end]
    if during:
        ev.check(f"{p}{tool} IO% while they wait", all(io == 0 for io in during),
                 "0 in each interval that ended inside the window (the delay is added when the sleep ends)",
                 ", ".join(f"{io:g}" for io in during), source, blind=seen.hold.delayed)
    else:
        ev.note(f"{p}{tool}: no frame ended while the tasks waited (it started late: a start under TCG)")
    most = {pid: max((io for _, q, _r, _w, io in mine if q == pid), default=None) for pid in pids}
    late = late_start(first, end, began)
    if late and not seen.hold.delayed:
        # Started after the window: it may list a task only if it outlived the frame.
        most = {pid: m for pid, m in most.items() if m is not None}
        ev.note(f"{p}{tool}: its first frame came after the window closed (started late: a start under TCG "
                f"on a slow host); judged on the tasks it listed: {sorted(most) or 'none'}")
    shown = ", ".join(f"{pid}: {'not listed' if m is None else f'{m:g}'}" for pid, m in most.items())
    if seen.hold.delayed:
        if late:
            # A task's first frame is the tool's base for it: shown 0 whatever it waited.
            # Only a tool that had one while the task still waited can show the delay.
            ev.note(f"{p}{tool}: its first frame came after the window closed (started late: a start under "
                    f"TCG on a slow host); it cannot show a delay added before its base: IO% in all not judged")
        else:
            ev.check(f"{p}{tool} IO% in all", all(m is not None and m >= cap for m in most.values()),
                     f"{cap:g} (capped) in the interval each wakes in: its delay, >= W, over 1 s", shown, source)
        o_listed = [pid for _, pid, r, w, io in mine if io > 0 and (r or w)]
        ev.check(f"{p}{tool} -o lists them for the wait", not o_listed,
                 "never: -o lists tasks moving bytes, and a wait's bytes are counted at submission",
                 ", ".join(map(str, o_listed)) or "not listed with its IO%", source, blind=True)
    else:
        why = "no sleep with in_iowait" if not seen.wait.iowait else "no delay record: delay accounting was off at fork"
        if most or not late:
            ev.check(f"{p}{tool} IO% in all", all(m is not None and m == 0 for m in most.values()),
                     f"0 in every interval ({why})", shown, source, blind=seen.wait.iowait)
    return late


class IotopC(ToolWitness):
    name = "iotop-c"
    title = "iotop-c -b (IO% per task)"
    order = 260
    package = "iotop-c"
    programs = ("iotop-c",)
    follows_pids = True

    _proven: weakref.WeakSet = weakref.WeakSet()

    def setup(self, guest) -> None:
        check_it_prints(self, guest, "Total DISK READ")

    def command(self, run) -> str:
        return f"{self.program} -b -t -P -d 1 -p {run.pids[0]}"

    def parse(self, result, run):
        return first_frame(result.stdout), parse(result.stdout)

    def judge(self, ev, seen) -> None:
        began, rows = seen.mine
        judge_io_percent(ev, seen, "iotop-c", rows, 100, SOURCE, pids=seen.hold.pids[:1], began=began)


WITNESS = IotopC()
