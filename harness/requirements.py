"""Declared needs of a test, checked against the running guest: a precise skip reason or None.

    @pytest.mark.kconfig("CONFIG_PSI", "CONFIG_HZ=250")   symbols set (y or m), or to a value
    @pytest.mark.modules("null_blk")                     loadable or built in
    @pytest.mark.needs_cmds("fsfreeze", "mkfs.ext4")     programs on the guest's PATH
    @pytest.mark.kernel_version(min="6.1.39", max=None)  upstream version range, inclusive
    @pytest.mark.features("aio-memlock")                 catalog features of the kernel entry
"""

from __future__ import annotations

import shlex

import pytest

from vm import probes

MARKERS = {
    "kconfig": "kconfig(*symbols): skip unless each CONFIG_ symbol is y/m (or =value)",
    "modules": "modules(*names): skip unless each module is loadable or built in",
    "needs_cmds": "needs_cmds(*programs): skip unless each program is on the guest's PATH",
    "kernel_version": "kernel_version(min=None, max=None): skip outside this version range",
    "features": "features(*names): skip unless the catalog entry declares these features",
}


def _vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def unmet(item: pytest.Item, guest) -> str | None:
    return unmet_marks(list(item.iter_markers()), guest)


def unmet_marks(marks, guest) -> str | None:
    """The first of these marks the guest does not meet, as a reason; None if all are met."""

    def by(name):
        return [m for m in marks if m.name == name]

    for mark in by("features"):
        missing = [f for f in mark.args if f not in guest.kernel.features]
        if missing:
            return f"{guest.kernel.name} lacks catalog feature(s): {', '.join(missing)}"
    for mark in by("kernel_version"):
        v = probes.kernel_version(guest)
        lo, hi = mark.kwargs.get("min"), mark.kwargs.get("max")
        if lo and v < _vtuple(lo):
            return f"kernel {'.'.join(map(str, v))} is older than {lo}"
        if hi and v > _vtuple(hi):
            return f"kernel {'.'.join(map(str, v))} is newer than {hi}"
    kmarks = by("kconfig")
    if kmarks:
        cfg = probes.kconfig(guest)
        if not cfg:
            return f"{guest.kernel.name}: kernel config unknown (no config file, no /proc/config.gz)"
        for mark in kmarks:
            for sym in mark.args:
                name, _, want = sym.partition("=")
                have = cfg.get(name)
                if want and have != want:
                    return f"{guest.kernel.name}: {name}={have or 'not set'}, test needs {want}"
                if not want and have not in ("y", "m"):
                    return f"{guest.kernel.name}: {name} is not set"
    for mark in by("modules"):
        for mod in mark.args:
            if not probes.module_available(guest, mod):
                return f"{guest.kernel.name}: module {mod} is neither loadable nor built in"
    cmds = [c for mark in by("needs_cmds") for c in mark.args]
    if cmds:
        missing = missing_programs(guest, cmds)
        if missing:
            return f"{guest.kernel.name}: not installed in the guest: {', '.join(missing)}"
    return None


def missing_programs(guest, programs: list[str]) -> list[str]:
    """Those of `programs` the guest's shell cannot find (one command for all)."""
    script = "; ".join(f"command -v {shlex.quote(p)} >/dev/null || echo {shlex.quote(p)}" for p in programs)
    return guest.run(script).stdout.split()
