"""What every witness said about every wait, per kernel, over a session: the
agreement matrix's cells, gathered from the evidence tables the scenario tests
write (each row tagged with its witness and wait), and filled in by the tools
suite (suites/tools/) where a wait was not observed on a kernel yet.

MATRIX is its rows: the rows suites/waits.py declares for each wait, in its
order: the D waits that are not I/O first, then the I/O waits with the CPU idle
and with a hog on it, then the waits in S.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.agreement import Matrix
from harness.evidence import Row
from suites.waits import (
    BUSY_CPU,
    DECLARED,
    SWAP_IN,
    SWAP_IN_POLLED,
    URING_IDLE_IOWAIT,
    URING_READ,
    Wait,
)
from suites.watch.evidence import Evidence
from suites.watch.offcputime import KNOWN_EQUALITY, counts
from suites.watch.per_guest import PerGuest
from suites.witnesses.atop import ATOP_IDLE_AS_D

# Each row's unmet() per guest: the tools suite asks it in every test for the rows
# not observed yet (a wait's other class never is), and the answer cannot change
# while the guest lives; asked afresh it cost ~0.6 s a test (a BTF read, modprobe
# dry runs), ~6 min a run.
_UNMET: PerGuest[dict[str, str | None]] = PerGuest(lambda guest: {})


@dataclass(frozen=True)
class MatrixRow:
    """A row of the matrix: a wait, with or without a hog on the tasks' CPU."""

    wait: Wait
    hog: bool = False
    marks: tuple = ()  # what the wait needs of the kernel
    behaviours: tuple[str, ...] = ()  # documented behaviours its tools tests show (suites/catalog.py)

    @property
    def name(self) -> str:
        return self.wait.name + (BUSY_CPU if self.hog else "")

    @property
    def id(self) -> str:
        return self.name.replace(" ", "-").replace(",", "")

    def param(self):
        marks = [pytest.mark.behaviour(*self.behaviours)] if self.behaviours else ()
        return pytest.param(self, id=self.id, marks=marks)

    def unmet(self, guest) -> str | None:
        """Why this guest cannot show the wait (its requirement marks, and for
        io_uring and swap-in the class the kernel makes of it), or None."""
        known = _UNMET.of(guest)
        if self.name not in known:
            known[self.name] = self._unmet(guest)
        return known[self.name]

    def _unmet(self, guest) -> str | None:
        from harness.requirements import unmet_marks
        from suites.holds import io_uring_not_iowait, swap_in_not
        why = unmet_marks([m.mark for m in self.marks], guest)
        if why is None and self.wait in (URING_READ, URING_IDLE_IOWAIT):
            why = io_uring_not_iowait(guest)
        if why is None and self.wait in (SWAP_IN, SWAP_IN_POLLED):
            why = swap_in_not(guest, self.wait)
        return why


MATRIX = tuple(MatrixRow(d.wait, hog=hog, marks=d.marks, behaviours=d.behaviours) for d in DECLARED for hog in d.rows)


# (tool, wait) where the tool contradicts its own documentation: the rows saying
# so are marked (Evidence.check(known=...)) and asserted by a strict xfail of
# their own (suites/tools/test_agreement.py test_documented_disagreement).
KNOWN: dict[tuple[str, str], str] = {
    # Every wait whose __state has TASK_UNINTERRUPTIBLE among other bits (TASK_KILLABLE,
    # TASK_IDLE, TASK_FREEZABLE): in the documented bitmask, not equal to it.
    **{("offcputime-libbpf", c.name): KNOWN_EQUALITY for c in MATRIX
       if counts("bitmask", c.wait.task_state) and not counts("equality", c.wait.task_state)},
    **{("atop", c.name): ATOP_IDLE_AS_D for c in MATRIX},
}


class Agreement:
    """The session's matrices as its tests write their evidence (the model a run's
    reader builds from the files, harness/agreement.py), and which waits were
    observed on which kernel so far."""

    def __init__(self) -> None:
        self.matrices: dict[str, Matrix] = {}
        self.seen: set[tuple[str, str]] = set()  # (kernel, wait) observed this session

    def add(self, kernel: str, ev: Evidence) -> None:
        table = ev.table()
        self.matrices.setdefault(kernel, Matrix(kernel)).add(table)
        self.seen.update((kernel, r.wait) for r in table.rows if r.by and r.wait)
        self.seen.update((kernel, a.wait) for a in table.absent)

    def rows(self, kernel: str, wait: str, witness: str) -> list[Row]:
        m = self.matrices.get(kernel)
        return list(m.rows.get((wait, witness), [])) if m else []

    def absent(self, kernel: str, wait: str, witness: str) -> str | None:
        """Why the witness did not run on the wait on this kernel, or None."""
        m = self.matrices.get(kernel)
        return m.absent.get((wait, witness)) if m else None


AGREEMENT = pytest.StashKey[Agreement]()


def of(config) -> Agreement:
    """The session's agreement (created on first use)."""
    if AGREEMENT not in config.stash:
        config.stash[AGREEMENT] = Agreement()
    return config.stash[AGREEMENT]
