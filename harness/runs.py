"""A finished run read back: one Case per testcase of results/<run>/junit.xml.

The kernel comes from the testcase's `kernel` property (conftest.py writes it), the
scenario from the suite directory, and a guest-level fault from the verdict class
the framework raises (vm/errors.py) when it shows in the failure text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

GUEST_FAULTS = ("BootFailed", "KernelPanic", "GuestHung", "ChannelLost", "CommandTimeout")
LOST_GUEST = {"BootFailed", "GuestHung", "ChannelLost"}  # no verdict could be had from the kernel
_FAULT = re.compile(r"\b(" + "|".join(GUEST_FAULTS) + r")\b")
_REPEAT = re.compile(r"-\d+-\d+(?=\]$)")


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    kernel: str | None
    kernel_version: str | None
    verdict: str  # passed / failed / error / skipped
    message: str  # first line of the failure, error or skip reason
    fault: str | None  # one of GUEST_FAULTS, if the failure names one
    seconds: float

    @property
    def reason(self) -> str:
        """Why it did not pass, with the guest fault named once."""
        return (f"{self.fault}: " if self.fault and self.fault not in self.message else "") + self.message

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def scenario(self) -> str:
        """suites/<scenario>/..., or "framework" for tests/."""
        parts = Path(self.file).parts
        return parts[1] if len(parts) > 2 and parts[0] == "suites" else "framework"

    @property
    def test(self) -> str:
        """The test without its kernel (and pytest-repeat) parameter: the same test on
        another kernel has the same label."""
        name = _REPEAT.sub("", self.name)
        if self.kernel:
            name = name.replace(f"[{self.kernel}]", "").replace(f"[{self.kernel}-", "[")
        return f"{Path(self.file).stem}::{name}"


def entries(base: Path) -> set[Path]:
    """What a results directory holds now; give it to new_runs after a pytest run."""
    return set(base.iterdir()) if base.exists() else set()


def new_runs(base: Path, before: set[Path]) -> list[Path]:
    """Run directories (with a junit.xml) that appeared in base since `before`, oldest first."""
    return sorted(d for d in entries(base) - before
                  if d.is_dir() and not d.is_symlink() and (d / "junit.xml").exists())


def load(run: Path) -> list[Case]:
    junit = Path(run) / "junit.xml"
    if not junit.exists():
        return []
    cases = []
    for tc in ET.parse(junit).iter("testcase"):
        if not tc.get("name"):  # a test a signal interrupted, in runs written before conftest drops it: no verdict
            continue
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        verdict, message, text = "passed", "", ""
        for tag, v in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
            el = tc.find(tag)
            if el is not None:
                verdict, message, text = v, el.get("message") or "", el.text or ""
                break
        fault = _FAULT.search(message + "\n" + text) if verdict in ("failed", "error") else None
        file = tc.get("file") or tc.get("classname", "").replace(".", "/") + ".py"
        cases.append(Case(file, tc.get("name", ""), props.get("kernel"), props.get("kernel_version"), verdict,
                          _first_line(message), fault.group(1) if fault else None, float(tc.get("time") or 0)))
    return cases


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
