"""What `iowitness check --record` last saw of each catalog entry, booted here,
and what a test run recorded with `--record-run` (kernels/seen.yaml), shown by
`python -m kernels list`."""

from __future__ import annotations

from pathlib import Path

import yaml

from kernels import catalog
from kernels.catalog import DebianEntry

SEEN = Path(__file__).resolve().parent / "seen.yaml"


def debian_entries() -> list[str]:
    return [n for n, e in catalog.load().items() if isinstance(e, DebianEntry)]


def load_seen() -> dict:
    return yaml.safe_load(SEEN.read_text()) or {} if SEEN.exists() else {}


def write(seen: dict) -> None:
    tmp = SEEN.with_suffix(".part")
    tmp.write_text("# What `iowitness check --record` last saw of each entry (booted here), and\n"
                   "# under `suites` what the last run recorded with `--record-run RUN` passed.\n"
                   + yaml.safe_dump(seen, sort_keys=True))
    tmp.replace(SEEN)
