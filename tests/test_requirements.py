"""Requirement markers, checked against a real guest: met ones pass, unmet ones give
a precise reason."""

import re

import pytest

from harness import requirements
from vm import probes

pytestmark = pytest.mark.guest


@pytest.mark.kconfig("CONFIG_AIO", "CONFIG_PSI=y")
@pytest.mark.modules("null_blk")
@pytest.mark.kernel_version(min="6.1")
def test_met_requirements_do_not_skip(guest, request):
    assert requirements.unmet(request.node, guest) is None


@pytest.mark.parametrize("mark, reason", [
    (pytest.mark.kconfig("CONFIG_IOWITNESS_NO_SUCH_SYMBOL"), "CONFIG_IOWITNESS_NO_SUCH_SYMBOL is not set"),
    (pytest.mark.kconfig("CONFIG_HZ=1"), "CONFIG_HZ="),
    (pytest.mark.modules("iowitness_no_such_module"), "module iowitness_no_such_module is neither loadable"),
    (pytest.mark.kernel_version(max="5.0"), "is newer than 5.0"),
    (pytest.mark.features("aio-memlock-nonexistent"), "lacks catalog feature(s): aio-memlock-nonexistent"),
], ids=["kconfig", "kconfig-value", "module", "version", "feature"])
def test_unmet_requirements_name_the_reason(guest, request, mark, reason):
    request.node.add_marker(mark)
    got = requirements.unmet(request.node, guest)
    assert got is not None and reason in got, got
    assert got.startswith(guest.kernel.name) or "kernel " in got


def test_kernel_version_reads_the_real_sublevel(guest):
    """Debian's release name (6.1.0-56-amd64) hides the sublevel; the probe must find
    the upstream version that the fetched package records (6.1.192-2 -> 6.1.192)."""
    packages = guest.kernel.manifest.get("packages")
    if not packages:
        pytest.skip(f"{guest.kernel.name} is not a Debian package kernel")
    expected = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", packages[0]["version"]).groups())
    assert probes.kernel_version(guest) == expected
