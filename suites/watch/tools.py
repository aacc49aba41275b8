"""Running an observability tool in the guest across a hold, and reading its
output against what the kernel's counters were when it read them.

A tool runs pinned to the CPUs the tasks do not use (so it does not take their
CPU out of idle), with the C locale and UTC, sysstat's ISO timestamps, and its
output kept by the agent; it is stopped as a user would stop it (SIGINT, which
makes most of them print their summary), and how it exits is judged against
what its source says it does then. The kernel tells when it read each file
(suites/watch/reads.py): each report is paired with the reading it was computed
from (its stamp, to the second, must fit), and is judged when the hold's samples
bracket both readings of its interval (suites/watch/bracket.py).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core import budget
from suites.watch import bracket, reads
from suites.watch.hold import HoldRun
from suites.watch.reads import EITHER, Instant, Read
from suites.watch.witness import Witness
from vm.channel import CommandResult
from vm.errors import CommandTimeout, OutputNotSeen

TOOL_ENV = "TZ=UTC LC_ALL=C S_TIME_FORMAT=ISO"


@dataclass(frozen=True)
class ToolSeen:
    """What a tool's run in a hold left: its output as parsed, how it exited,
    and what the kernel saw it (and its children) read."""

    parsed: Any
    rc: int | None
    reads: tuple[Read, ...]
    command: str
    lag: tuple[float, float] = EITHER  # when it stamps a report, against its read (reads.place())
    stdout: str = ""  # as printed (suites/watch/capture.py keeps it to judge again)
    extra: Any = None  # what else the witness gathered in the hold (JSON)
    first: int | None = None  # readings before its first report (reads.place())


class ToolRun:
    def __init__(self, run: HoldRun, command: str):
        self.guest = run.guest
        self.command = command
        self.proc = run.guest.spawn(f"exec taskset -c {run.other_cpus} env {TOOL_ENV} {command}")
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> CommandResult:
        return self.guest.poll(self.proc)

    def wait_for(self, text: str, timeout: float = 60, stream: str = "both") -> CommandResult:
        return self.guest.wait_for_output(self.proc, text, timeout=timeout, stream=stream)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> CommandResult:
        """Signal it as a user would; its output once it has exited. A tool that
        does not exit by then is killed, and that is its failure."""
        r = self.guest.poll(self.proc)
        if r.rc is None:
            self.guest.signal(self.proc, sig, group=sig == signal.SIGKILL)
            try:
                r = self.guest.wait(self.proc, timeout=timeout)
            except CommandTimeout:
                self.kill()
                raise OutputNotSeen(f"`{self.command}` did not exit within {timeout}s of signal {sig}") from None
        return r

    def kill(self) -> None:
        if self.guest.usable():
            self.guest.signal(self.proc, signal.SIGKILL)


def epoch_of_clock(hms: str, near: float) -> float:
    """An HH:MM:SS wall-clock time (UTC) as epoch seconds: the instance of it
    closest to `near` (a report shortly before or after midnight)."""
    h, m, s = (int(x) for x in hms.split(":"))
    day = datetime.fromtimestamp(near, UTC).replace(hour=h, minute=m, second=s, microsecond=0)
    candidates = [day + timedelta(days=d) for d in (-1, 0, 1)]
    return min((c.timestamp() for c in candidates), key=lambda t: abs(t - near))


def epoch_of_datetime(text: str) -> float:
    """'YYYY-MM-DD HH:MM:SS' or ISO 8601 (UTC) as epoch seconds."""
    text = text.strip().replace("T", " ").rstrip("Z")
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


class ToolWitness(Witness[ToolSeen]):
    """A witness that runs a tool across each hold: started before the tasks (or,
    `follows_pids`, once their pids are known and they wait at the gate), watching
    once the kernel saw it read each of `reads_what` (of each task it follows),
    stopped with `stop_signal` after they have reported, its output parsed by
    `parse`, its exit status judged against `stopped_exit`."""

    kind = "tool"
    follows_pids = False
    ready_text: str | None = None  # printed once it watches (a tracer attached); waited for
    ready_timeout = 180.0
    stop_signal = signal.SIGINT
    reads_what: tuple[str, ...] = ("stat",)  # what it reads (suites/watch/reads.py), per task for pstat/taskstats
    stopped_exit: frozenset[int] = frozenset({0})  # its exit status when stopped so (negative: killed by that signal)
    exit_source = ""  # where its source says so
    stamp_lag = reads.EITHER  # takes a report's time just BEFORE or AFTER its read (suites/watch/reads.py)
    first_report_reading: int | None = None  # readings of the file before its first report, where its source says

    def check(self, guest) -> str | None:
        why = super().check(guest)
        if why is None and self.reads_what:
            why = reads.unavailable(guest)
        return why

    def setup(self, guest) -> None:
        if self.reads_what:
            reads.tracer(guest)

    def followed(self, run: HoldRun) -> tuple[int, ...]:
        """The tasks whose own files it reads (pstat, taskstats)."""
        return run.pids

    def my_reads(self, run: HoldRun) -> list[Read]:
        """Its (and its children's) reads in this hold, and the hold's tasks' wake-ups."""
        tool = self._tool(run)
        got = reads.tracer(run.guest).since(run.started)
        return reads.by_program(got, tool.pid) + [x for x in got if x.what == "wake" and x.task in run.pids]

    def _tool(self, run: HoldRun) -> ToolRun:
        tool = run.state_of(self.name, ToolRun)
        if tool is None:
            raise OutputNotSeen(f"{self.name} was not started in this hold")
        return tool

    def watching(self, run: HoldRun) -> str | None:
        tool = run.state_of(self.name, ToolRun)
        if tool is None:
            return None
        r = tool.output()
        if r.rc is not None:
            raise OutputNotSeen(f"`{tool.command}` exited {r.rc} before it watched: {r.stderr.strip()[-300:]}",
                                rc=r.rc)
        if not self.reads_what:
            return None
        mine = self.my_reads(run)
        missing = []
        for what in self.reads_what:
            if what in ("pstat", "taskstats"):
                missing += [f"{what} of {pid}" for pid in self.followed(run)
                            if not any(x.what == what and x.task == pid for x in mine)]
            elif not any(x.what == what for x in mine):
                missing.append(what)
        return f"the kernel saw no read yet of {', '.join(missing)}" if missing else None

    def command(self, run: HoldRun) -> str:
        raise NotImplementedError

    def parse(self, result: CommandResult, run: HoldRun):
        raise NotImplementedError

    def _launch(self, run: HoldRun) -> None:
        self.wait_ready(run.state(self.name, lambda: ToolRun(run, self.command(run))))

    def wait_ready(self, tool: ToolRun) -> None:
        """Until it watches: by default, until it prints `ready_text`."""
        if self.ready_text:
            with budget.spend(budget.TRACER):
                tool.wait_for(self.ready_text, timeout=self.ready_timeout)

    def start(self, run: HoldRun) -> None:
        if not self.follows_pids:
            self._launch(run)

    def tasks_ready(self, run: HoldRun) -> None:
        if self.follows_pids:
            self._launch(run)

    def stop(self, run: HoldRun) -> ToolSeen:
        tool = self._tool(run)
        result = tool.stop(self.stop_signal)
        run.keep(self.name, f"$ {tool.command}\n{result.stdout}\n--- stderr\n{result.stderr}\n--- exit {result.rc}")
        mine = tuple(self.my_reads(run)) if self.reads_what else ()
        extra = self.extra(run)
        try:
            parsed = self.reparse(result, run, extra)
        except (ValueError, KeyError, IndexError) as e:
            raise OutputNotSeen(f"`{tool.command}` (exit {result.rc}): output not understood ({e!r}):\n"
                                f"{result.stdout[-1500:]}\n{result.stderr[-500:]}") from None
        run.keep(f"{self.name}.reads", "".join(f"{x.what} {x.tgid} {x.tid} {x.ppid} {x.task} {x.t0:.6f} {x.t1:.6f} "
                                                f"{x.gppid}\n" for x in mine) + f"wall offset {run.wall_offset:.6f}\n")
        return ToolSeen(parsed, result.rc, mine, tool.command, self.stamp_lag, result.stdout, extra,
                        self.first_report_reading)

    def extra(self, run: HoldRun) -> Any:
        """What else it gathered in the hold, beside the tool's output (JSON)."""
        return None

    def reparse(self, result: CommandResult, run: HoldRun, extra: Any):
        """Its output, parsed, with what else it gathered."""
        return self.parse(result, run)

    def judge(self, ev, seen) -> None:
        ts = seen.mine
        if ts is None:
            raise OutputNotSeen(f"{self.name} gave nothing to judge")
        how = signal.Signals(self.stop_signal).name
        ev.check(f"{seen.prefix}{self.name} exit status", ts.rc in self.stopped_exit,
                 f"{' or '.join(map(str, sorted(self.stopped_exit)))} when stopped with {how} "
                 f"(negative: killed by that signal; {self.exit_source})", f"{ts.rc}", self.exit_source)
        self.judge_output(ev, seen, ts)

    def judge_failed(self, ev, seen, why: str, rc: int | None) -> None:
        super().judge_failed(ev, seen, why, rc)
        if rc is not None:  # it ended before it was stopped: a crash shows as what it is
            ev.check(f"{seen.prefix}{self.name} exit status", False, "still running until stopped with "
                     f"{signal.Signals(self.stop_signal).name} ({self.exit_source})", f"{rc}, on its own",
                     self.exit_source)

    def judge_output(self, ev, seen, ts: ToolSeen) -> None:
        raise NotImplementedError

    def abandon(self, run: HoldRun) -> None:
        tool = run.state_of(self.name, ToolRun)
        if tool is not None and run.guest.usable():
            tool.kill()


@dataclass(frozen=True)
class Timed:
    """A report paired with the readings of its interval: from `start` to `end`."""

    start: Instant
    end: Instant
    says: Any


def timed(seen, rows: list[tuple[float, Any]], what: str = "stat", task: int = 0) -> list[Timed]:
    """Each report (its stamp, what it says; in the order printed) with its interval's
    two readings, as the kernel saw the tool read `what` (of `task`)."""
    readings = reads.rounds(list(seen.mine.reads), what, task)
    where = reads.place([t for t, _ in rows], readings, seen.hold.run.wall_offset, seen.mine.lag, seen.mine.first)
    return [Timed(readings[j - 1], readings[j], says) for (_, says), j in zip(rows, where, strict=True)
            if j is not None and j >= 1]


def inside_window(seen, reports: list[Timed]) -> list[Timed]:
    """The reports whose interval's readings the window's samples bracket: every
    task waited all through them."""
    samples = seen.window.samples
    return [r for r in reports if bracket.inside(samples, r.start) and bracket.inside(samples, r.end)]


def no_report(ev, seen, tool: str, source: str, printed: int) -> None:
    """The row of a tool that printed nothing the window can judge: a failure."""
    ev.check(f"{seen.prefix}{tool}: reports inside the window", False,
             "at least one report whose interval the window's samples bracket (every tool watched before the "
             "tasks went)", f"none of {printed} reports", source)


def unpacked(package: str, relpath: str) -> str:
    """A program of a Debian package ./bootstrap unpacked into the cache (not installed)."""
    from kernels import cache
    return str(cache.root() / "tools" / package / relpath)
