"""The page a person reads first: results/<run>/summary.md and summary.html.

A kernel x scenario matrix (pass / fail / skip counts, guest faults named), then the
reports a command attached to the run (reports/*.md: a bisection names its first bad
commit in that revision's failing run), then every test that did not pass with its
reason, then the evidence tables the scenario tests wrote, then the plots. The HTML
page is self-contained (styles inline, plots embedded as data: URIs) so it can be
mailed or attached to a CI job.

    python -m harness.summary RUN_DIR      # (re)write both files, print the .md path
"""

from __future__ import annotations

import base64
import html
import os
import sys
from collections import defaultdict
from pathlib import Path

from harness import agreement, ktap, report_page, runs
from harness.runs import Case, Run

ORDER = ("failed", "error", "skipped", "passed")
MARK = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}


def matrix(cases: list[Case]) -> tuple[list[str], list[str], dict]:
    """Scenarios, kernels, and per (scenario, kernel) a count per verdict."""
    cells: dict = defaultdict(lambda: defaultdict(int))
    for c in cases:
        cells[(c.scenario, c.kernel or "host")][c.verdict] += 1
    scenarios = sorted({s for s, _ in cells}, key=lambda s: (s == "framework", s))
    kernels = sorted({k for _, k in cells}, key=lambda k: (k == "host", k))
    return scenarios, kernels, cells


def cell_text(counts: dict) -> str:
    if not counts:
        return "-"
    return ", ".join(f"{counts[v]} {MARK[v]}" for v in ORDER if counts.get(v))


def run_again(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.properties.get("rerun_after")]


def not_passed(cases: list[Case]) -> list[Case]:
    return sorted((c for c in cases if c.verdict != "passed"), key=lambda c: (ORDER.index(c.verdict), c.nodeid))


def attached(run: Run) -> list[str]:
    """The reports attached to the run, in name order."""
    return [p.read_text() for p in sorted((run.path / "reports").glob("*.md"))]


def markdown(run: Run) -> str:
    cases = run.cases
    env = run.kernels()
    scenarios, kernels, cells = matrix(cases)
    lines = [f"# iowitness run {run.name}", ""]
    lines += [f"Kernels: {', '.join(f'{k} ({v})' for k, v in env.items()) or 'none'}", ""]
    lines += ["| scenario | " + " | ".join(kernels) + " |", "|---" * (len(kernels) + 1) + "|"]
    for s in scenarios:
        lines.append(f"| {s} | " + " | ".join(cell_text(cells.get((s, k), {})) for k in kernels) + " |")
    for text in attached(run):
        lines += ["", "#" + text if text.startswith("# ") else text]
    mats = agreement.matrices(run)
    if mats:
        lines += ["", "## Agreement: what each witness said of each wait", "",
                  agreement.LEGEND + "; why in the evidence below.", ""]
        builds = agreement.own_builds(run)
        if builds:
            lines += ["Tools run from a user's build (--tool):", ""] + [f"- {b}" for b in builds] + [""]
        for m in mats.values():
            lines += [agreement.markdown(m)]
    bad = not_passed(cases)
    if bad:
        lines += ["", "## Not passed", ""]
        lines += [f"- **{MARK[c.verdict]}** `{c.nodeid}` — {c.reason}" for c in bad]
    again = run_again(cases)
    if again:
        lines += ["", "## Run again (the first attempt's guest was lost to the emulator; vm/console.py)", ""]
        lines += [f"- **{MARK[c.verdict]}** `{c.nodeid}` — after: {c.properties['rerun_after']}" for c in again]
    if run.tables:
        lines += ["", "## Evidence", ""]
        lines += [t.markdown() for t in run.tables]
    plots = sorted((run.path / "plots").glob("*.png"))
    if plots:
        lines += ["", "## Plots", ""] + [f"- [{p.stem}](plots/{p.name})" for p in plots]
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:sans-serif;margin:2em;max-width:110em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#eee}
.passed{background:#d7f5d7}.failed,.error{background:#f8c8c8}.skipped{background:#f3f0c8}.mixed{background:#f8e0b0}
.na{background:#e4e4e4}table.agreement th,table.agreement td{font-size:85%}
code{font-size:90%}img{max-width:100%;border:1px solid #ccc}"""


def _cell_class(counts: dict) -> str:
    present = [v for v in ORDER if counts.get(v)]
    if not present:
        return ""
    if "failed" in present or "error" in present:
        return "failed"
    return present[0] if len(present) == 1 else "mixed" if "passed" in present else present[0]


def page(run: Run) -> str:
    cases = run.cases
    env = run.kernels()
    scenarios, kernels, cells = matrix(cases)
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>iowitness {e(run.name)}</title>"
           f"<style>{_CSS}</style></head><body>", f"<h1>iowitness run {e(run.name)}</h1>"]
    out.append("<p>Kernels: " + e(", ".join(f"{k} ({v})" for k, v in env.items()) or "none") + "</p>")
    out.append("<table id='matrix'><tr><th>scenario</th>" + "".join(f"<th>{e(k)}</th>" for k in kernels) + "</tr>")
    for s in scenarios:
        row = "".join(f"<td class='{_cell_class(cells.get((s, k), {}))}'>{e(cell_text(cells.get((s, k), {})))}</td>"
                      for k in kernels)
        out.append(f"<tr><th>{e(s)}</th>{row}</tr>")
    out.append("</table>")
    out += [f"<section class='report'>{report_page.body(text, level=2)}</section>" for text in attached(run)]
    mats = agreement.matrices(run)
    if mats:
        out.append("<h2 id='agreement'>Agreement: what each witness said of each wait</h2><p>"
                   + html.escape(agreement.LEGEND) + ". Hover a cell for why; the rows are in the evidence below.</p>")
        builds = agreement.own_builds(run)
        if builds:
            out.append("<p>Tools run from a user's build (--tool):</p><ul>"
                       + "".join(f"<li>{html.escape(b)}</li>" for b in builds) + "</ul>")
        out += [agreement.page(m) for m in mats.values()]
    bad = not_passed(cases)
    if bad:
        out.append("<h2>Not passed</h2><table><tr><th>verdict</th><th>test</th><th>reason</th></tr>")
        out += [f"<tr class='{c.verdict}'><td>{MARK[c.verdict]}</td><td><code>{e(c.nodeid)}</code></td>"
                f"<td>{e(c.reason)}</td></tr>" for c in bad]
        out.append("</table>")
    again = run_again(cases)
    if again:
        out.append("<h2>Run again</h2><p>The first attempt's guest was lost to the emulator (vm/console.py); "
                   "the verdict is the second attempt's.</p><ul>")
        out += [f"<li>{MARK[c.verdict]} <code>{e(c.nodeid)}</code>, after: {e(c.properties['rerun_after'])}</li>"
                for c in again]
        out.append("</ul>")
    if run.tables:
        out.append("<h2>Evidence</h2>")
    out += [t.html() for t in run.tables]
    plots = sorted((run.path / "plots").glob("*.png"))
    if plots:
        out.append("<h2>Plots</h2>")
    for p in plots:
        data = base64.b64encode(p.read_bytes()).decode()
        out.append(f"<h3>{e(p.stem)}</h3><img alt='{e(p.stem)}' src='data:image/png;base64,{data}'>")
    out.append("</body></html>")
    return "\n".join(out)


def write(run: Path) -> Path:
    """Both files, each replaced atomically (a reader never sees half a page), and
    the KTAP documents beside them."""
    run = runs.load(run)
    ktap.write(run)
    for name, text in (("summary.md", markdown(run)), ("summary.html", page(run))):
        tmp = run.path / f".{name}.tmp{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, run.path / name)
    return run.path / "summary.md"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not runs.is_run(Path(args[0])):
        print("usage: iowitness summary RUN_DIR (a results/<run-id> with a junit.xml)", file=sys.stderr)
        return 2
    print(write(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
