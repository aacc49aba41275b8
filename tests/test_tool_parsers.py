"""The tool witnesses' parsers, on output captured from the tools in a
debian-6.12 guest (tests/data/tools/: 3 tasks in O_DIRECT reads on CPU 1, pids
381-383), and their judgements on made-up readings that a tool with a bug would
give."""

from __future__ import annotations

from pathlib import Path

from suites.witnesses import vmstat

DATA = Path(__file__).parent / "data" / "tools"


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_vmstat_columns_and_time_after_the_line_since_boot():
    rows = vmstat.parse(text("vmstat.txt"))
    assert len(rows) == 12
    t, cols = rows[3]
    assert t == 1796007601.0 and (cols["b"], cols["wa"]) == (3, 44)
