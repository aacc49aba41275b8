"""Ctrl-C, SIGTERM and even SIGKILL of pytest leave no QEMU and no guest session
directory (keys, sockets) behind; results stay valid."""

import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import REPO, child_command, child_env, first_kernel
from tests.helpers import alive, qemu_pids

pytestmark = pytest.mark.guest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_to_pytest_leaves_no_qemu(tmp_path, sig, request):
    kernel = first_kernel(request.config, default="debian-6.1")
    flag = tmp_path / "ready"
    child_tmp = tmp_path / "tmp"  # the child's guests make their session dirs here
    child_tmp.mkdir()
    before = qemu_pids()
    child = subprocess.Popen(
        child_command("tests/fault_targets/test_holds_a_guest.py", "--kernel", kernel,
                      "--results-dir", str(tmp_path / "results")),
        cwd=REPO, env=child_env(IOWITNESS_FAULT_TARGET=str(flag), TMPDIR=str(child_tmp)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        # What a terminal's Ctrl-C reaches: a process that has not inherited an
        # ignored SIGINT (a shell's `cmd &` ignores it, and Python then never
        # installs its KeyboardInterrupt handler).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 600
        while not flag.exists():
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the child's guest never became ready"
            time.sleep(1)
        ours = qemu_pids() - before
        assert ours, "no QEMU process appeared for the child's guest"
        assert list(child_tmp.glob("iowitness-vm-*")), "the child's guest has no session dir in its TMPDIR"
        child.send_signal(sig)
        child.wait(timeout=120)
        deadline = time.monotonic() + 60  # SIGKILL: the reaper needs a moment
        while any(alive(p) for p in ours) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [p for p in ours if alive(p)], f"QEMU {ours} outlived pytest after {sig.name}"
        while list(child_tmp.glob("iowitness-vm-*")) and time.monotonic() < deadline:
            time.sleep(0.5)  # SIGKILL: the reaper removes it after the kill
        left = list(child_tmp.glob("iowitness-vm-*"))
        assert not left, f"the guest's session dir {left} outlived pytest after {sig.name}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if sig != signal.SIGKILL:
        junit = next((tmp_path / "results").glob("*/junit.xml"))
        cases = list(ET.parse(junit).iter("testcase"))  # written and well-formed
        # Every testcase names its test, and the interrupted one has none: it got no
        # verdict (pytest's junitxml wrote a nameless one before the plugin dropped it).
        assert [c.get("name") for c in cases] == [f"test_first[{kernel}]"]
        assert all(c.get("classname") for c in cases)
        assert not [c for c in cases if c.get("name", "").startswith("test_hold_the_guest_until_interrupted")]
