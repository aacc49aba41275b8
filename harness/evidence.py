"""An evidence table as a run keeps it (results/<run>/evidence/<test>.json and
.md): its rows (per witness, what the kernel's rules predict and where the rule
is written, what was observed, the verdict), its notes, and the witnesses that
did not run. One model and one renderer: the test writes its .md with it
(suites/watch/evidence.py builds the table), and every report of a run reads
the tables back as these objects (harness/runs.py) and renders them the same
way, in markdown and in HTML.

A row marked `blind` predicts that the witness cannot see the wait (by its
design); one marked `known` is a documented disagreement, which does not fail
the table (suites/agreement.py KNOWN).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields

HEADER = ("witness", "predicted", "observed", "verdict", "source")


@dataclass(frozen=True)
class Row:
    witness: str
    predicted: str
    observed: str
    ok: bool
    source: str
    by: str = ""  # the witness module that wrote it (suites/witnesses/<by>.py)
    wait: str = ""  # the wait it judged (suites/waits.py name)
    blind: bool = False
    known: str = ""  # a documented disagreement: why, with the upstream reference

    def verdict(self, fail: str = "FAIL") -> str:
        """ok or `fail`, and whether the row is blind or a documented disagreement."""
        return ("ok" if self.ok else fail) + (" (blind)" if self.blind else "") + \
            (f" (known: {self.known})" if self.known else "")

    @classmethod
    def from_dict(cls, d: dict) -> Row:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Absent:
    """A witness that did not run on a wait, and why (not installed, needs BTF, ...)."""

    by: str
    wait: str
    why: str

    @property
    def text(self) -> str:
        return f"{self.by} on {self.wait}: not run ({self.why})"


@dataclass(frozen=True)
class Table:
    title: str
    kernel: str | None = None
    rows: tuple[Row, ...] = ()
    notes: tuple[str, ...] = ()
    absent: tuple[Absent, ...] = ()
    columns: dict = field(default_factory=dict)  # the witnesses that wrote rows: title, kind, order
    whole_markdown: str | None = None  # a table whose JSON was cut short: only its .md copy is whole

    @property
    def ok(self) -> bool:
        """Every row held, documented disagreements aside."""
        return all(r.ok for r in self.rows if not r.known)

    @classmethod
    def from_dict(cls, d: dict) -> Table:
        absent = tuple(Absent(a.get("by", ""), a.get("wait", ""), a.get("why", "")) for a in d.get("absent", []))
        return cls(d["title"], d.get("kernel"), tuple(Row.from_dict(r) for r in d.get("rows", [])),
                   tuple(d.get("notes", [])), absent, dict(d.get("columns", {})))

    def cells(self, fail: str = "FAIL") -> list[tuple[str, ...]]:
        """Each row's five cells, as both renderers show them (`fail`: how a failed
        verdict is written)."""
        return [(r.witness, r.predicted, r.observed, r.verdict(fail), r.source) for r in self.rows]

    def markdown(self) -> str:
        if self.whole_markdown is not None:
            return self.whole_markdown
        lines = [f"### {self.title}", "", "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
        for cells in self.cells(fail="**FAIL**"):
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        lines += [""] + [f"- {n}" for n in self.notes]
        lines += [f"- {a.text}" for a in self.absent]
        return "\n".join(lines) + "\n"

    def html(self, level: int = 3) -> str:
        e = html.escape
        if self.whole_markdown is not None:
            return f"<h{level}>{e(self.title)}</h{level}><pre>{e(self.whole_markdown)}</pre>"
        out = [f"<h{level} class='{'passed' if self.ok else 'failed'}'>{e(self.title)}</h{level}><table>",
               "<tr>" + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>"]
        for cells, r in zip(self.cells(), self.rows, strict=True):
            verdict = "passed" if r.ok or r.known else "failed"
            out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells[:3])
                       + f"<td class='{verdict}'>{e(cells[3])}</td><td>{e(str(cells[4]))}</td></tr>")
        out.append("</table>")
        out += [f"<p>{e(n)}</p>" for n in self.notes]
        if self.absent:
            out.append("<ul>" + "".join(f"<li>{e(a.text)}</li>" for a in self.absent) + "</ul>")
        return "".join(out)
