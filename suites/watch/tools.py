"""Running an observability tool in the guest across a hold, and reading its
timestamped output against the window.

A tool runs pinned to the CPUs the tasks do not use (so it does not take their
CPU out of idle), with the C locale and UTC, sysstat's ISO timestamps, and its
output kept by the agent; it is stopped as a user would stop it (SIGINT, which
makes most of them print their summary). Tools stamp their reports with the
guest's wall clock, to the second; a report covers the interval since the one
before it, and is judged only when that interval lies wholly inside the window.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

from harness import budget
from suites.watch.hold import HoldRun
from suites.watch.witness import Witness
from vm.channel import CommandResult
from vm.errors import CommandTimeout, OutputNotSeen

TOOL_ENV = "TZ=UTC LC_ALL=C S_TIME_FORMAT=ISO"


class ToolRun:
    def __init__(self, run: HoldRun, command: str):
        self.guest = run.guest
        self.command = command
        self.proc = run.guest.spawn(f"exec taskset -c {run.other_cpus} env {TOOL_ENV} {command}")
        self.started = time.monotonic()

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


def inside(stamps: list[float], start: float, end: float, resolution: float = 1.0) -> list[int]:
    """Indices i >= 1 of reports whose interval, from report i-1 to report i, lies
    in [start, end]: each stamp is the time its report was taken, cut down to
    `resolution` (so the true time is within one resolution after it)."""
    return [i for i in range(1, len(stamps)) if stamps[i - 1] >= start and stamps[i] + resolution <= end]


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


class ToolWitness(Witness):
    """A witness that runs a tool across each hold: started before the tasks (or,
    `follows_pids`, once their pids are known), stopped with `stop_signal` after
    they have reported, its output parsed by `parse`."""

    kind = "tool"
    follows_pids = False
    ready_text: str | None = None  # printed once it watches (a tracer attached); waited for
    ready_timeout = 180.0
    stop_signal = signal.SIGINT

    def command(self, run: HoldRun) -> str:
        raise NotImplementedError

    def parse(self, result: CommandResult, run: HoldRun):
        raise NotImplementedError

    def _launch(self, run: HoldRun) -> None:
        tool = run.scratch[self.name] = ToolRun(run, self.command(run))
        self.wait_ready(tool)

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

    def stop(self, run: HoldRun):
        result = run.scratch[self.name].stop(self.stop_signal)
        run.keep(self.name, f"$ {run.scratch[self.name].command}\n{result.stdout}\n--- stderr\n{result.stderr}")
        try:
            return self.parse(result, run)
        except (ValueError, KeyError, IndexError) as e:
            raise OutputNotSeen(f"`{run.scratch[self.name].command}`: output not understood ({e!r}):\n"
                                f"{result.stdout[-1500:]}\n{result.stderr[-500:]}") from None

    def abandon(self, run: HoldRun) -> None:
        tool = run.scratch.get(self.name)
        if tool is not None and run.guest.usable():
            tool.kill()


def reports_inside(seen, rows: list[tuple[float, object]]) -> list:
    """What each report inside the window says: `rows` are (its epoch, what it says),
    in order."""
    start, end = seen.wall_window
    return [rows[i][1] for i in inside([t for t, _ in rows], start, end)]


def unpacked(package: str, relpath: str) -> str:
    """A program of a Debian package ./bootstrap unpacked into the cache (not installed)."""
    from kernels import cache
    return str(cache.root() / "tools" / package / relpath)
