"""How the code is layered: one root for every error iowitness raises, and SSH's
library loaded only when SSH is asked for."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

from harness.faults import IowitnessError
from tests.conftest import REPO

PACKAGES = ("kernels", "vm", "harness", "fixtures", "suites")


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
