"""An evidence table: per witness, what the kernel's rules predict (and where the
rule is written), what was observed, and the verdict. A test asserts the whole
table at once, so a failure shows every witness, not just the first to disagree.

The table's model and its renderer are harness/evidence.py's (a run's reports
read it back the same way). Rows written while a witness judges a hold are tagged with the witness (`by`)
and the wait (`wait`): the agreement matrix (harness/agreement.py) is built from
those tags. A row marked `blind` predicts that the witness cannot see the wait
(by its design: what it reads does not change); it passes when the witness indeed
shows nothing, and makes the matrix cell "blind" rather than "agrees". A row
marked `known` is a documented disagreement (the witness contradicts its own
documentation, with the upstream reference): it does not fail the table; the tools
suite asserts it in a test of its own that is a strict xfail, so a release that
fixes it shows as an unexpected pass.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict

from harness.evidence import Absent, Row, Table


def _failing_part(observed: str, most: int = 1500) -> str:
    """A long observed figure cut to what failed: its items marked (NO), if any."""
    if len(observed) <= most:
        return observed
    items = observed.split("; ")
    bad = [x for x in items if "(NO)" in x]
    return (f"{len(bad)} of {len(items)} items wrong: " + "; ".join(bad))[:most] if bad else observed[:most] + " ..."


class Evidence:
    def __init__(self, title: str, kernel: str | None = None):
        self.title = title
        self.kernel = kernel  # the catalog name of the kernel it was observed on
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.absent: list[dict] = []  # witnesses that could not run on a wait, and why
        self.columns: dict[str, dict] = {}  # the witnesses that wrote rows: their title, kind, order
        self.required = False  # require() was called: the rows were asserted
        self._tags: dict = {}

    @contextmanager
    def tagged(self, by: str, wait: str, **column):
        """Rows written inside are the witness `by`'s about the wait `wait`
        (`column`: what the matrix shows of the witness: title, kind, order)."""
        self.columns.setdefault(by, column)
        old, self._tags = self._tags, {"by": by, "wait": wait}
        try:
            yield self
        finally:
            self._tags = old

    def check(self, witness: str, ok: bool, predicted: str, observed: str, source: str,
              blind: bool = False, known: str = "") -> bool:
        self.rows.append(Row(witness, predicted, observed, bool(ok), source, blind=blind, known=known, **self._tags))
        return bool(ok)

    def note(self, text: str) -> None:
        """A figure recorded for the reader, not asserted."""
        self.notes.append(text)

    def not_run(self, why: str) -> None:
        """The tagged witness did not run on this wait (not installed, needs BTF, ...)."""
        self.absent.append({**self._tags, "why": why})

    @property
    def ok(self) -> bool:
        """Every row held, documented disagreements (`known`) aside."""
        return all(r.ok for r in self.rows if not r.known)

    def table(self) -> Table:
        return Table(self.title, self.kernel, tuple(self.rows), tuple(self.notes),
                     tuple(Absent(a.get("by", ""), a.get("wait", ""), a["why"]) for a in self.absent),
                     dict(self.columns))

    def markdown(self) -> str:
        return self.table().markdown()

    def as_dict(self) -> dict:
        return {"title": self.title, "kernel": self.kernel, "ok": self.ok, "rows": [asdict(r) for r in self.rows],
                "notes": self.notes, "absent": self.absent, "columns": self.columns}

    def save(self, run_dir, name: str) -> None:
        """results/<run>/evidence/<name>.md and .json (the reports read the JSON)."""
        from harness import results, results_space
        if self.rows or self.absent:
            d = run_dir / "evidence"
            name = results.safe_name(name)
            results_space.write(run_dir, d / (name + ".md"), self.markdown())
            results_space.write(run_dir, d / (name + ".json"), json.dumps(self.as_dict(), indent=1))

    def unasserted(self, verdict: str) -> str | None:
        """Why a test that ended with `verdict` must fail for its evidence: it wrote
        rows and never asserted them, so it would pass whatever they say."""
        if self.rows and not self.required and verdict == "passed":
            return (f"{len(self.rows)} evidence rows were written and never asserted: "
                    "the test must call evidence.require()")
        return None

    def require(self) -> None:
        self.required = True
        if not self.ok:
            # The rows that failed first: a long table is cut in the middle by whoever
            # prints only the head and the tail of a log.
            failed = [f"- {r.witness}: predicted {r.predicted[:500]}; observed {_failing_part(r.observed)}"
                      for r in self.rows if not r.ok and not r.known]
            raise AssertionError("witnesses disagree with the kernel's rules:\n" + "\n".join(failed) +
                                 f"\n\n{self.markdown()}")
