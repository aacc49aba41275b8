"""What the harness learns from the suites above it without importing them: the
witnesses, the documented behaviours, the agreement matrix's waits in order, and
where a user's own build of a tool replaces the installed one (--tool). The
suites fill it in (suites/registration.py), from the root conftest.py under
pytest and from the `iowitness` command; until then it is empty, and each reader
says what it does without."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# () -> every witness (objects with .name, .package, .programs, .own_build)
witnesses: Callable[[], list[Any]] = list
behaviours: dict[str, str] = {}  # behaviour name -> what it shows (suites/catalog.py)
matrix_order: Callable[[], list[str]] = list  # the agreement matrix's waits, in order
overrides: dict[str, str] = {}  # witness name -> the user's build (--tool NAME=PATH)
