"""The agreement matrix of a run: per kernel, what each witness (the kernel's own
counters, iowitness's tracer, the observability tools) said about each wait,
from the tagged rows of the run's evidence tables (suites/watch/evidence.py).

A cell is
  agrees      every row of the witness about the wait held
  disagrees   a row failed: the witness's number is not what the kernel's rule and
              its own documented computation give
  blind       every row held, and one says the witness cannot see the wait by its
              design (its rule, not a bug of the run)
  n/a         the witness did not run on this kernel (why: not installed, no BTF)
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field

from harness.runs import Run

AGREES, DISAGREES, BLIND, NA = "agrees", "disagrees", "blind", "n/a"


@dataclass
class Matrix:
    kernel: str
    waits: list[str] = field(default_factory=list)
    witnesses: list[str] = field(default_factory=list)
    columns: dict[str, dict] = field(default_factory=dict)  # witness -> title, kind, order
    rows: dict[tuple[str, str], list[dict]] = field(default_factory=lambda: defaultdict(list))
    absent: dict[tuple[str, str], str] = field(default_factory=dict)

    def cell(self, wait: str, witness: str) -> tuple[str, str]:
        """(verdict, why): the failing rows, or the blind rows' predictions."""
        rows = self.rows.get((wait, witness), [])
        if not rows:
            why = self.absent.get((wait, witness))
            return (NA, why) if why else ("", "")
        bad = [r for r in rows if not r["ok"]]
        if bad:
            return DISAGREES, "; ".join(f"{r['witness']}: predicted {r['predicted']}, observed {r['observed']}"
                                        for r in bad)
        blind = [r for r in rows if r.get("blind")]
        if blind:
            return BLIND, "; ".join(r["predicted"] for r in blind)
        return AGREES, ""


def _wait_order() -> list[str]:
    try:
        from suites.agreement import MATRIX
        return [c.name for c in MATRIX]
    except Exception:  # a run read where the suites are not importable
        return []


def matrices(run: Run) -> dict[str, Matrix]:
    kernel_of = {c.nodeid: c.kernel for c in run.cases}
    out: dict[str, Matrix] = {}
    seen: set = set()
    for table in run.tables:
        kernel = table.get("kernel") or kernel_of.get(table.get("title", ""))
        if not kernel or "rows" not in table:
            continue
        m = out.setdefault(kernel, Matrix(kernel))
        for name, col in table.get("columns", {}).items():
            m.columns.setdefault(name, col)
        for r in table["rows"]:
            if not r.get("by") or not r.get("wait"):
                continue
            key = (kernel, r["wait"], r["by"], r["witness"], r["predicted"], r["observed"])
            if key in seen:  # the tools suite copies the rows it judged
                continue
            seen.add(key)
            m.rows[(r["wait"], r["by"])].append(r)
        for a in table.get("absent", []):
            m.absent.setdefault((a["wait"], a["by"]), a["why"])
    order = _wait_order()
    for m in out.values():
        waits = {w for w, _ in m.rows} | {w for w, _ in m.absent}
        m.waits = sorted(waits, key=lambda w: (order.index(w) if w in order else len(order), w))
        names = {b for _, b in m.rows} | {b for _, b in m.absent}
        m.witnesses = sorted(names, key=lambda b: (m.columns.get(b, {}).get("order", 999), b))
    return dict(sorted(out.items()))


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
             for verdict, why in [m.cell(w, b)] if verdict in (DISAGREES, BLIND, NA) and why]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def markdown(m: Matrix) -> str:
    lines = [f"### {m.kernel}", "", "| wait | " + " | ".join(m.witnesses) + " |", "|---" * (len(m.witnesses) + 1) + "|"]
    for w in m.waits:
        lines.append(f"| {w} | " + " | ".join(m.cell(w, b)[0] or "-" for b in m.witnesses) + " |")
    return "\n".join(lines) + "\n"


_CLASS = {AGREES: "passed", DISAGREES: "failed", BLIND: "skipped", NA: "na", "": ""}


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
