"""How the code is layered: floors that import only downwards, one root for every
error iowitness raises, and SSH's library loaded only when SSH is asked for."""

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys

from core.faults import IowitnessError
from tests.conftest import REPO

PACKAGES = ("core", "kernels", "vm", "harness", "fixtures", "suites")
# Each package's floor: it may import its own floor and those below, never above
# (core: faults and the time budget; kernels: the catalog and builds; vm and
# fixtures: booting guests and what runs in them; harness: pytest's side; suites).
FLOORS = {"core": 0, "kernels": 1, "vm": 2, "fixtures": 2, "harness": 3, "suites": 4}


def _imports(path):
    """Every absolute import in a file, at its top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_import_goes_up_a_floor():
    up = set()
    for package, floor in FLOORS.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                if FLOORS.get(top, -1) > floor:
                    up.add((str(path.relative_to(REPO)), name))
    assert up == set(), "imports up a floor"


def test_no_two_classes_share_a_name():
    # "Go to definition" and a reader's grep find one class per name.
    where: dict[str, list[str]] = {}
    for package in (*PACKAGES, "tests"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    where.setdefault(node.name, []).append(str(path.relative_to(REPO)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def _modules():
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(REPO / package)], prefix=f"{package}."):
            if ".test_" in info.name or info.name.endswith((".conftest", "__main__", ".agent")):
                continue
            yield importlib.import_module(info.name)


def test_every_error_class_has_the_one_root():
    own = {cls for m in _modules() for _, cls in inspect.getmembers(m, inspect.isclass)
           if issubclass(cls, BaseException) and cls.__module__.split(".")[0] in PACKAGES}
    strays = sorted(f"{c.__module__}.{c.__name__}" for c in own if not issubclass(c, IowitnessError)
                    and not c.__name__.startswith("_"))
    assert len(own) > 10 and strays == []


def test_the_core_does_not_import_paramiko():
    code = ("import sys, vm.guest, vm.pool, harness.plugin.guests, harness.plugin.session; "
            "print('paramiko' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
