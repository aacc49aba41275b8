"""The agreement matrix of a run: per kernel, what each witness (the kernel's own
counters, iowitness's tracer, the observability tools) said about each wait,
from the tagged rows of the run's evidence tables (suites/watch/evidence.py).

A cell is
  agrees      every row of the witness about the wait held
  disagrees   a row failed: the witness's number is not what the kernel's rule and
              its own documented computation give; or the tools suite's test of
              the cell failed without a row saying so (the tool wrote nothing)
  known       the rows that failed are a documented disagreement: the tool
              contradicts its own documentation (the reference says where); its
              test is a strict xfail
  fixed       a known disagreement's rows held: the test passed unexpectedly
              (XPASS), the release under test no longer does what the reference says
  error       the tools suite's test of the cell errored (the reason)
  blind       every row held, and one says the witness cannot see the wait by its
              design (its rule, not a bug of the run)
  n/a         the witness did not run on this kernel (why: not installed, no BTF)
A failed or errored test of a cell always shows, whatever its rows say.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field

from harness import registry
from harness.evidence import Row, Table
from harness.runs import Run

AGREES, DISAGREES, BLIND, NA = "agrees", "disagrees", "blind", "n/a"
KNOWN, FIXED, ERROR = "known", "fixed", "error"


@dataclass
class Matrix:
    """One kernel's cells: the tagged rows of evidence tables per (wait, witness),
    why a witness did not run on a wait, and the tools suite's test of each cell.
    A run's reader fills it from the files (matrices()); a session, as its tests
    write their tables (suites/agreement.py)."""

    kernel: str
    waits: list[str] = field(default_factory=list)
    witnesses: list[str] = field(default_factory=list)
    columns: dict[str, dict] = field(default_factory=dict)  # witness -> title, kind, order
    rows: dict[tuple[str, str], list[Row]] = field(default_factory=lambda: defaultdict(list))
    absent: dict[tuple[str, str], str] = field(default_factory=dict)
    tests: dict[tuple[str, str], list] = field(default_factory=lambda: defaultdict(list))  # its tests (runs.Case)
    _held: set[tuple] = field(default_factory=set, repr=False)

    def add(self, table: Table) -> None:
        """A table's tagged rows and absences. A row the tools suite copied from
        the scenario that judged it counts once."""
        for name, col in table.columns.items():
            self.columns.setdefault(name, col)
        for r in table.rows:
            key = (r.wait, r.by, r.witness, r.predicted, r.observed)
            if not r.by or not r.wait or key in self._held:
                continue
            self._held.add(key)
            self.rows[(r.wait, r.by)].append(r)
        for a in table.absent:
            self.absent.setdefault((a.wait, a.by), a.why)

    def cell(self, wait: str, witness: str) -> tuple[str, str]:
        """(verdict, why): the failing rows, or the blind rows' predictions; a
        failed or errored test of the cell wins over rows that say nothing of it."""
        rows = self.rows.get((wait, witness), [])
        tests = self.tests.get((wait, witness), [])
        bad = [r for r in rows if not r.ok]
        errored = [t for t in tests if t.verdict == "error"]
        if errored:
            return ERROR, errored[0].reason
        unknown = [r for r in bad if not r.known]
        if unknown:
            return DISAGREES, "; ".join(f"{r.witness}: predicted {r.predicted}, observed {r.observed}"
                                        for r in unknown)
        failed = [t for t in tests if t.verdict == "failed"]
        fixed = [t for t in failed if "XPASS" in t.message]
        if fixed:
            return FIXED, fixed[0].reason
        if failed:
            return DISAGREES, failed[0].reason
        if bad:
            return KNOWN, ("; ".join(f"{r.witness}: predicted {r.predicted}, observed {r.observed}"
                                     for r in bad) + "; known: " + "; ".join(sorted({r.known for r in bad})))
        if not rows:
            why = self.absent.get((wait, witness))
            return (NA, why) if why else ("", "")
        blind = [r for r in rows if r.blind]
        if blind:
            return BLIND, "; ".join(r.predicted for r in blind)
        return AGREES, ""


def _wait_order() -> list[str]:
    return registry.matrix_order()  # empty where the suites did not register


def matrices(run: Run) -> dict[str, Matrix]:
    kernel_of = {c.nodeid: c.kernel for c in run.cases}
    out: dict[str, Matrix] = {}
    for table in run.tables:
        kernel = table.kernel or kernel_of.get(table.title)
        if kernel and table.whole_markdown is None:
            out.setdefault(kernel, Matrix(kernel)).add(table)
    for c in run.cases:  # the tools suite's tests, each of one cell (suites/tools/test_agreement.py)
        tool, wait = c.properties.get("tool"), c.properties.get("wait")
        if c.kernel and tool and wait:
            out.setdefault(c.kernel, Matrix(c.kernel)).tests[(wait, tool)].append(c)
    order = _wait_order()
    for m in out.values():
        waits = {w for w, _ in m.rows} | {w for w, _ in m.absent} | {w for w, _ in m.tests}
        m.waits = sorted(waits, key=lambda w: (order.index(w) if w in order else len(order), w))
        names = {b for _, b in m.rows} | {b for _, b in m.absent} | {b for _, b in m.tests}
        m.witnesses = sorted(names, key=lambda b: (m.columns.get(b, {}).get("order", 999), b))
    # A run whose tables judged no wait by any witness has no matrix to show.
    return {k: m for k, m in sorted(out.items()) if m.waits and m.witnesses}


LEGEND = ("agrees / disagrees (its number is not what the kernel's counters and its own documented computation "
          "give, or its test failed) / known (it contradicts its own documentation: a strict xfail, with the "
          "reference) / fixed (a known disagreement that no longer happens: XPASS) / error (its test errored) / "
          "blind (it cannot see the wait, by its design) / n/a (it did not run)")


def own_builds(run: Run) -> list[str]:
    """The tools that ran from a user's build (--tool): each with its path and sha256."""
    tools = run.environment.get("tools", {})
    return [f"{name}: {t.get('program')} (sha256 {t.get('sha256', '?')})" for name, t in sorted(tools.items())
            if t.get("own_build")]


def text(m: Matrix) -> str:
    width = max([len(w) for w in m.waits] + [4])
    lines = [f"{m.kernel}", " " * width + "  " + "  ".join(m.witnesses)]
    for w in m.waits:
        cells = []
        for b in m.witnesses:
            verdict, _ = m.cell(w, b)
            cells.append((verdict or "-").ljust(len(b)))
        lines.append(f"{w:{width}}  " + "  ".join(cells))
    notes = [f"  {b} on {w}: {verdict} - {why}" for w in m.waits for b in m.witnesses
             for verdict, why in [m.cell(w, b)] if verdict in (DISAGREES, KNOWN, FIXED, ERROR, BLIND, NA) and why]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def markdown(m: Matrix) -> str:
    lines = [f"### {m.kernel}", "", "| wait | " + " | ".join(m.witnesses) + " |", "|---" * (len(m.witnesses) + 1) + "|"]
    for w in m.waits:
        lines.append(f"| {w} | " + " | ".join(m.cell(w, b)[0] or "-" for b in m.witnesses) + " |")
    return "\n".join(lines) + "\n"


_CLASS = {AGREES: "passed", DISAGREES: "failed", KNOWN: "failed", FIXED: "failed", ERROR: "failed",
          BLIND: "skipped", NA: "na", "": ""}


def page(m: Matrix) -> str:
    e = html.escape
    out = [f"<h3>{e(m.kernel)}</h3><table class='agreement'><tr><th>wait</th>"
           + "".join(f"<th title='{e(m.columns.get(b, {}).get('title', b))}'>{e(b)}</th>" for b in m.witnesses)
           + "</tr>"]
    for w in m.waits:
        cells = []
        for b in m.witnesses:
            verdict, why = m.cell(w, b)
            cells.append(f"<td class='{_CLASS[verdict]}' title='{e(why)}'>{e(verdict or '-')}</td>")
        out.append(f"<tr><th>{e(w)}</th>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)
