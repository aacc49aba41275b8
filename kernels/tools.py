"""Where the project's Python-installed tools are: vng (and the virtme-run it calls)
live beside our interpreter in the venv, which need not be on PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def vng() -> str:
    here = Path(sys.executable).parent / "vng"
    return str(here) if here.exists() else "vng"


def env(**extra: str) -> dict[str, str]:
    """The environment for running vng: the venv's bin first on PATH, since vng
    calls virtme-run and virtme-configkernel by name."""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return dict(os.environ, PATH=path, **extra)
