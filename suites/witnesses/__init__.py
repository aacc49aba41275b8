"""The witnesses of a wait, one module each: every module here that exports
WITNESS (a suites.watch.witness.Witness) is registered, and every hold runs it.

iowitness's own readings of the kernel (task state, wchan, loadavg,
procs_blocked, per-CPU iowait, PSI, delayacct), its off-CPU tracer, and the
observability tools people read (vmstat, top, ps, mpstat, pidstat, iostat, sar,
iotop, atop, offcputime, node_exporter), each judged against the kernel's rule
for the wait (docs/kernel-rules.md) through what the tool reads and computes
(docs/tools.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path


@cache
def registered() -> tuple:
    found = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = importlib.import_module(f"{__name__}.{info.name}")
        witness = getattr(module, "WITNESS", None)
        if witness is not None:
            found.append(witness)
    names = [w.name for w in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two witnesses share a name: {sorted(names)}")
    return tuple(sorted(found, key=lambda w: (w.order, w.name)))


def by_name(name: str):
    return next((w for w in registered() if w.name == name), None)
