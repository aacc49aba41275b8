"""An evidence table: per witness, what the kernel's rules predict (and where the
rule is written), what was observed, and the verdict. A test asserts the whole
table at once, so a failure shows every witness, not just the first to disagree."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    witness: str
    predicted: str
    observed: str
    ok: bool
    source: str


class Evidence:
    def __init__(self, title: str):
        self.title = title
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def check(self, witness: str, ok: bool, predicted: str, observed: str, source: str) -> bool:
        self.rows.append(Row(witness, predicted, observed, bool(ok), source))
        return bool(ok)

    def note(self, text: str) -> None:
        """A figure recorded for the reader, not asserted."""
        self.notes.append(text)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| witness | predicted | observed | verdict | source |",
                 "|---|---|---|---|---|"]
        for r in self.rows:
            cells = (r.witness, r.predicted, r.observed, "ok" if r.ok else "**FAIL**", r.source)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict:
        return {"title": self.title, "ok": self.ok, "rows": [asdict(r) for r in self.rows], "notes": self.notes}

    def require(self) -> None:
        if not self.ok:
            raise AssertionError(f"witnesses disagree with the kernel's rules:\n{self.markdown()}")
