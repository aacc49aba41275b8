"""The evidence table's one model and renderer (harness/evidence.py): the test's
.md, the run's summary.md and summary.html all show the same cells, blind and
documented-disagreement rows and witnesses that did not run included."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from harness import runs, summary
from harness.evidence import Absent, Row, Table
from tests.helpers import make_run

TABLE = Table(
    "suites/x/test_x.py::t[debian-6.12]", "debian-6.12",
    (Row("CPU 1 iowait", "+0 | none", "+577", False, "kernel/sched/cputime.c", by="cpu_iowait", wait="w"),
     Row("iostat %iowait", "0 (it reads nothing that moves)", "0", True, "sysstat", blind=True),
     Row("atop D count as documented", "3..3", "64", False, "atop", known="atop#256")),
    ("W 6.0 s",), (Absent("pidstat", "w", "not installed"),))


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.items: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "li"):
            self._in = tag
            (self.rows[-1] if tag == "td" else self.items).append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "td":
            self.rows[-1][-1] += data
        elif self._in == "li":
            self.items[-1] += data


def _markdown_cells(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith(("| witness", "|---"))]
    return [[c.replace("\\|", "|").replace("**", "") for c in re.split(r"(?<!\\) \| ", ln[2:-2])] for ln in lines]


def test_markdown_and_html_show_the_same_cells():
    html = _Cells()
    html.feed(TABLE.html())
    assert _markdown_cells(TABLE.markdown()) == [r for r in html.rows if r] == [list(c) for c in TABLE.cells()]
    assert TABLE.cells()[1][3] == "ok (blind)" and TABLE.cells()[2][3] == "FAIL (known: atop#256)"
    assert html.items == ["pidstat on w: not run (not installed)"]
    assert "- pidstat on w: not run (not installed)" in TABLE.markdown()
    assert not TABLE.ok  # the first row failed; the known one alone would not fail it


def test_a_table_reads_back_as_written():
    back = Table.from_dict(json.loads(json.dumps({
        "title": TABLE.title, "kernel": TABLE.kernel, "ok": TABLE.ok, "notes": list(TABLE.notes),
        "rows": [r.__dict__ for r in TABLE.rows], "absent": [a.__dict__ for a in TABLE.absent], "columns": {}})))
    assert back == TABLE


def test_the_summary_shows_every_row_the_evidence_keeps(tmp_path):
    run = make_run(tmp_path)
    d = {"title": TABLE.title, "kernel": TABLE.kernel, "ok": False, "notes": list(TABLE.notes), "columns": {},
         "rows": [r.__dict__ for r in TABLE.rows], "absent": [a.__dict__ for a in TABLE.absent]}
    (run / "evidence" / "x.json").write_text(json.dumps(d))
    (run / "evidence" / "x.md").write_text(TABLE.markdown())
    loaded = runs.load(run)
    md, page = summary.markdown(loaded), summary.page(loaded)
    for text in ("ok (blind)", "(known: atop#256)", "pidstat on w: not run (not installed)"):
        assert text in md and text in page
    assert TABLE.markdown() in md
