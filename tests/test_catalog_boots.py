"""Every Debian kernel the catalog offers boots here and is what the catalog says
(kernels/check.py: uname, the command channel, declared features). What a flavour
lacks for the scenarios is reported, not failed: those tests skip with the reason.
`python -m kernels check --record` runs the same check and records it."""

import pytest

from kernels import check


@pytest.mark.parametrize("name", check.debian_entries())
def test_the_catalog_entry_boots(name, request, tmp_path, record_property):
    seen = check.check_entry(name, accel=request.config.getoption("vm_accel"), log_dir=tmp_path)
    record_property("kernel_check", seen.line())
    assert seen.ok, seen.line()
