"""A finished run read back, once, as a value: the one reader of results/<run>/.

`load(run)` parses junit.xml (one Case per testcase), environment.json and the
evidence tables; every report, comparison and export takes the Run it returns.
The kernel comes from the testcase's `kernel` property, the scenario from the
suite directory, and a fault from the `fault`/`status` properties the plugin
writes when a test ends with an iowitness error (core/faults.py).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from core.faults import MISS
from harness.evidence import Table

# pytest-repeat's suffix: test[debian-6.12-2-10] is repeat 2 of 10.
_REPEAT = re.compile(r"-\d+-\d+(?=\]$)")
# A testcase that holds several outcomes (a skip at setup, then an error at
# teardown) gets the worst: an error is never hidden behind a skip.
_OUTCOMES = (("error", "error"), ("failure", "failed"), ("skipped", "skipped"))


def without_repeat(test_id: str) -> str:
    """t[debian-6.1-5-10] -> t[debian-6.1]."""
    return _REPEAT.sub("", test_id)


def without_kernel(test_id: str, kernel: str | None) -> str:
    """The kernel's part of a test id removed, wherever it sits among the
    parameters: t[k] -> t, t[k-63] -> t[63], t[63-k] -> t[63], t[1-k-2] -> t[1-2]."""
    if not kernel:
        return test_id
    return (test_id.replace(f"[{kernel}]", "").replace(f"[{kernel}-", "[")
            .replace(f"-{kernel}]", "]").replace(f"-{kernel}-", "-"))


def kernel_in(test_id: str, names) -> str | None:
    """Which of `names` is the test's kernel parameter (longest first: a
    debian-6.12 test is not debian-6.1's), or None."""
    return next((k for k in sorted(names, key=len, reverse=True) if without_kernel(test_id, k) != test_id), None)


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    kernel: str | None
    kernel_version: str | None
    verdict: str  # passed / failed / error / skipped
    message: str  # first line of the failure, error or skip reason
    fault: str | None = None  # the iowitness error that ended it, as reports name it
    status: str | None = None  # that error's outcome: FAIL, MISS or ERROR (core/faults.py)
    seconds: float = 0.0
    properties: dict = field(default_factory=dict, compare=False)
    xfailed: bool = False  # skipped as an expected failure (a strict xfail that failed as documented)

    @property
    def lost_guest(self) -> bool:
        """No verdict could be had from the kernel."""
        return self.status == MISS

    @property
    def reason(self) -> str:
        """Why it did not pass, with the fault named once."""
        return (f"{self.fault}: " if self.fault and self.fault not in self.message else "") + self.message

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def base_nodeid(self) -> str:
        """The node id without pytest-repeat's suffix: repeats of a test share it."""
        return without_repeat(self.nodeid)

    @property
    def scenario(self) -> str:
        """suites/<scenario>/..., or "framework" for tests/."""
        parts = Path(self.file).parts
        return parts[1] if len(parts) > 2 and parts[0] == "suites" else "framework"

    @property
    def test(self) -> str:
        """The test without its kernel (and repeat) parameter: the same test on
        another kernel has the same label."""
        return f"{Path(self.file).stem}::{without_kernel(without_repeat(self.name), self.kernel)}"


@dataclass(frozen=True)
class Run:
    path: Path
    cases: tuple[Case, ...]
    environment: dict
    tables: tuple[Table, ...]  # evidence tables (where only the .md copy is whole: its text)

    @property
    def name(self) -> str:
        return self.path.name

    def verdicts(self) -> dict[str, str]:
        """nodeid -> passed / failed / error / skipped."""
        return {c.nodeid: c.verdict for c in self.cases}

    def kernels(self) -> dict[str, str]:
        """Kernel name -> exact version, from environment.json."""
        return {name: k.get("version", "?") for name, k in self.environment.get("kernels", {}).items()}


def entries(base: Path) -> set[Path]:
    """What a results directory holds now; give it to new_runs after a pytest run."""
    return set(base.iterdir()) if base.exists() else set()


def new_runs(base: Path, before: set[Path]) -> list[Path]:
    """Run directories (with a junit.xml) that appeared in base since `before`, oldest first."""
    return sorted(d for d in entries(base) - before
                  if d.is_dir() and not d.is_symlink() and (d / "junit.xml").exists())


def is_run(path: Path) -> bool:
    return (Path(path) / "junit.xml").is_file()


def load(run: Path) -> Run:
    run = Path(run)
    return Run(run, tuple(_cases(run / "junit.xml")), _environment(run), tuple(_tables(run)))


def _cases(junit: Path) -> list[Case]:
    if not junit.exists():
        return []
    cases = []
    for tc in ET.parse(junit).iter("testcase"):
        if not tc.get("name"):  # a test a signal interrupted, in runs written before the plugin drops it
            continue
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        verdict, message, xfailed = "passed", "", False
        for tag, v in _OUTCOMES:
            el = tc.find(tag)
            if el is not None:
                verdict, message = v, el.get("message") or ""
                xfailed = tag == "skipped" and el.get("type") == "pytest.xfail"
                break
        failed = verdict in ("failed", "error")
        file = tc.get("file") or tc.get("classname", "").replace(".", "/") + ".py"
        cases.append(Case(file, tc.get("name", ""), props.get("kernel"), props.get("kernel_version"), verdict,
                          _first_line(message), props.get("fault") if failed else None,
                          props.get("fault_status") if failed else None, float(tc.get("time") or 0), props,
                          xfailed))
    return cases


def _environment(run: Path) -> dict:
    try:
        return json.loads((run / "environment.json").read_text())
    except (OSError, ValueError):
        return {}


def _tables(run: Path):
    for md in sorted((run / "evidence").glob("*.md")):
        try:
            yield Table.from_dict(json.loads(md.with_suffix(".json").read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            yield Table(md.stem, whole_markdown=md.read_text())


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
