"""A witness of a wait: one module under suites/witnesses/ that says what it
needs, gathers what it sees of a hold, and judges it against the wait's rules.

A witness module defines a subclass of Witness and exports one instance as
WITNESS. Every hold (suites/watch/hold.py) runs every registered witness, and
check_hold (suites/watch/judge.py) asks each for its rows, so a new witness is a
new file (and its unit test): no scenario or hold code changes.

Once per guest, before a test's baseline, `setup(guest)` (attach a tracer,
start a daemon). The steps of a hold a witness may act on, each given the HoldRun:
  start             before the tasks start (a tracer, a tool that must see them block)
  tasks_ready       the tasks' pids are known, the tasks stopped at the gate (a tool
                    that follows pids)
  watching          asked until it returns None: the tasks go only once every
                    witness watches (a tool has read what it reports)
  at_window_open    the tasks all wait; the window opens
  at_window_close
  stop              the tasks have woken and reported; returns what the witness saw
  abandon           the hold failed: stop what was started
and `files()` names what it reads at every sample of the window and of the
idle baseline. `judge(ev, seen)` writes its evidence rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from suites.waits import BUSY_CPU, NO_DELAYACCT, Wait
from suites.watch.evidence import Evidence
from suites.watch.hold import Hold, HoldRun, Span
from suites.watch.per_guest import PerGuest
from vm import probes

# --tool NAME=PATH (harness/plugin/options.py): a witness's program replaced by
# the user's build, e.g. a tool maintainer's fresh one.
OVERRIDES: dict[str, str] = {}


# What a witness gathers of a hold (its stop() returns it; its judge() reads it
# back as Seen.mine): a parsed tool's output, the tracer's sleeps, ...
Mine = TypeVar("Mine")


@dataclass(frozen=True)
class Seen(Generic[Mine]):
    """What a witness judges: the hold, the idle baseline measured before it, and
    what the witness itself gathered (`mine`: None where its stop gave nothing)."""

    hold: Hold
    base: Span
    hz: int
    label: str
    hog: bool
    mine: Mine | None

    @property
    def wait(self) -> Wait:
        return self.hold.wait

    @property
    def window(self) -> Span:
        return self.hold.window

    @property
    def window_s(self) -> float:
        return self.hold.window.seconds

    @property
    def cpu(self) -> int:
        return self.hold.cpu

    @property
    def n(self) -> int:
        return self.hold.n

    @property
    def ncpu(self) -> int:
        return len(self.hold.window.cpus)

    @property
    def prefix(self) -> str:
        """The row prefix: the hold's label."""
        return f"{self.label}: " if self.label else ""

    @property
    def wall_window(self) -> tuple[float, float]:
        """The window in the guest's wall-clock time (epoch seconds), as tools stamp it."""
        run = self.hold.run
        if run is None:
            raise ValueError("a hold without its run has no wall clock")
        return run.wall(self.window.before.t), run.wall(self.window.after.t)

    @property
    def case(self) -> str:
        """The wait as a row of the agreement matrix (a hold whose tasks forked with
        delay accounting off is a row of its own: the delay witnesses are blind there)."""
        run = self.hold.run
        return (self.wait.name + (BUSY_CPU if self.hog else "")
                + (NO_DELAYACCT if run is not None and not run.delayacct else ""))


class Witness(Generic[Mine]):
    name = ""  # the matrix column and the --tool name
    title = ""  # what it is, for people
    order = 100  # where its rows go in a table
    kind = "tool"  # "proc" (iowitness reads the kernel's files), "tracer" (iowitness's own), "tool"
    programs: tuple[str, ...] = ()  # run in the guest; the first is what --tool NAME=PATH replaces
    kconfig: tuple[str, ...] = ()  # symbols it needs set (y or m)
    deferred = False  # its rows come from settle(guest), when its one process per guest is stopped
    package = ""  # the Debian package of its program (environment.json records its version)

    _why: PerGuest[str]  # per guest: why it cannot run there ("" where it can)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._why = PerGuest()

    @property
    def program(self) -> str:
        return OVERRIDES.get(self.name) or (self.programs[0] if self.programs else "")

    @property
    def overridden(self) -> bool:
        return self.name in OVERRIDES

    # -- what it needs -------------------------------------------------------
    def unavailable(self, guest) -> str | None:
        """Why it cannot run on this guest, or None (asked once per guest)."""
        if guest not in self._why:
            self._why.set(guest, self.check(guest) or "")
        return self._why.get(guest) or None

    def check(self, guest) -> str | None:
        if self.kind == "tool" and probes.online_cpus(guest) < 2:
            # A tool runs beside the tasks on the other CPUs (HoldRun.other_cpus): on
            # the tasks' own CPU it would take it out of idle, the very thing judged.
            return "needs a CPU the tasks do not use; this guest has one"
        if self.kconfig:
            cfg = probes.kconfig(guest)
            unset = [s for s in self.kconfig if cfg.get(s) not in ("y", "m")]
            if unset:
                return f"kernel without {', '.join(unset)}"
        if self.kind == "tool" and not self.program:
            return f"not packaged: give a build with --tool {self.name}=PATH"
        wanted = ([self.program] if self.program else []) + list(self.programs[1:])
        if wanted:
            from harness.requirements import missing_programs
            missing = missing_programs(guest, wanted)
            if missing:
                return f"not installed in the guest: {', '.join(missing)}"
        return None

    # -- what it reads and runs ------------------------------------------------
    def setup(self, guest) -> None:
        """Once per guest (called before each baseline and hold: keep it idempotent)."""

    def files(self, pids: tuple[int, ...], cgroup: str | None) -> list[str]:
        return []

    def start(self, run: HoldRun) -> None:
        pass

    def tasks_ready(self, run: HoldRun) -> None:
        pass

    def watching(self, run: HoldRun) -> str | None:
        """None once it watches the hold's tasks; else what it still waits for."""
        return None

    def at_window_open(self, run: HoldRun) -> None:
        pass

    def at_window_close(self, run: HoldRun) -> None:
        pass

    def stop(self, run: HoldRun) -> Mine | None:
        return None

    def abandon(self, run: HoldRun) -> None:
        pass

    # -- what it concludes -----------------------------------------------------
    def judge(self, ev: Evidence, seen: Seen[Mine]) -> None:
        raise NotImplementedError

    def judge_failed(self, ev: Evidence, seen: Seen[Mine], why: str, rc: int | None) -> None:
        """Its own process failed in the hold (`rc`: the exit status it ended with
        on its own, if it did)."""
        ev.check(f"{seen.prefix}{self.title}", False, "runs and reports", f"failed at {why}", self.program or self.name)

    def settle(self, guest) -> Evidence | None:
        """A deferred witness: stop its process on this guest and judge every hold
        it saw; the rows, tagged. Others: None."""
        return None


def baseline_ceiling(count: float, base: Span, seconds: float) -> int:
    """The most a counter may grow in `seconds` at the idle baseline's rate (+1 for flooring)."""
    return math.floor(count / base.seconds * seconds) + 1
