"""Command-line options and markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import registry, requirements

REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    g = parser.getgroup("iowitness")
    g.addoption("--kernel", action="append", default=[], metavar="NAME",
                help="kernel from kernels/catalog.yaml (repeatable; default: the catalog's defaults)")
    g.addoption("--vm-cpus", type=int, default=2, help="guest CPUs (default 2)")
    g.addoption("--vm-memory", default="2G", help="guest memory (default 2G)")
    g.addoption("--vm-append", action="append", default=[], metavar="PARAM",
                help="extra kernel boot parameter (repeatable), e.g. delayacct or nohz=off")
    g.addoption("--vm-accel", choices=("kvm", "tcg"), default=None,
                help="force the accelerator (default: KVM only if it is shown to work)")
    g.addoption("--vm-aslr", choices=("on", "off"), default=None,
                help="guest address-space randomization (default: off under TCG, where it makes every exec "
                     "retranslate the C library; on under KVM)")
    g.addoption("--vm-rootfs", choices=("9p", "virtiofs"), default=None,
                help="how the host's root reaches the guest, read-only (default: virtio-fs where the kernel has it, "
                     "else 9p; vm/rootfs.py)")
    g.addoption("--boot-timeout", type=float, default=300.0, help="seconds for a guest to become ready")
    g.addoption("--results-dir", default=str(REPO / "results"), help="where results/<run-id>/ goes")
    g.addoption("--resume", metavar="RUN", default=None,
                help="run only the tests that have no verdict in RUN (results/<run-id> or its path), "
                     "e.g. after an interrupted run")
    g.addoption("--shell-after", action="store_true",
                help="after each test, a shell in its guest on this terminal, before the test's cleanup "
                     "(implies --vm-ssh)")
    g.addoption("--vm-ssh", action="store_true",
                help="boot guests with SSH (a NIC and sshd; commands never need it)")
    g.addoption("--tool", action="append", default=[], metavar="NAME=PATH",
                help="run this build of a witness's tool instead of the packaged one (repeatable), e.g. "
                     "--tool offcputime-bcc=$HOME/bcc/tools/offcputime.py; the guest sees it read-only")


def pytest_configure(config):
    for name, doc in requirements.MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    tools = config.getoption("tool")
    if tools:
        registry.overrides.update(parse_tools(tools))


def parse_tools(specs: list[str]) -> dict[str, str]:
    """--tool NAME=PATH values, checked: a witness of that name, an executable file."""
    import os

    names = {w.name for w in registry.witnesses()}
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise pytest.UsageError(f"--tool {spec}: expected NAME=PATH")
        if name not in names:
            raise pytest.UsageError(f"--tool {spec}: no witness named {name} (one of {', '.join(sorted(names))})")
        full = Path(path).expanduser().resolve()
        if not full.is_file() or not os.access(full, os.X_OK):
            raise pytest.UsageError(f"--tool {spec}: {full} is not an executable file")
        out[name] = str(full)
    return out
