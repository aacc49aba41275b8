"""The few markdown forms iowitness's own reports use (a title, bold lines, pipe
tables, indented code lines) as HTML: enough for a bisection's or a series' report to
be a page of its own and a section of a run's summary.html, without a markdown
library."""

from __future__ import annotations

import html


def body(text: str, level: int = 1) -> str:
    """The report as an HTML fragment; its '# ' title becomes an <h{level}>."""
    e = html.escape
    out: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-") for c in cells):
                rows.append(cells)
            continue
        if rows:
            out.append("<table>" + "".join(
                "<tr>" + "".join(f"<{t}>{e(c.replace('**', ''))}</{t}>" for c in r) + "</tr>"
                for t, r in (("th" if i == 0 else "td", r) for i, r in enumerate(rows))) + "</table>")
            rows = []
        if line.startswith("# "):
            out.append(f"<h{level}>{e(line[2:])}</h{level}>")
        elif line.startswith("    "):
            out.append(f"<pre>{e(line[4:])}</pre>")
        elif line.strip():
            out.append(f"<p>{e(line.replace('**', ''))}</p>")
    return "".join(out)


def page(title: str, text: str) -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
            "table{border-collapse:collapse}</style></head><body>" + body(text) + "</body></html>\n")
