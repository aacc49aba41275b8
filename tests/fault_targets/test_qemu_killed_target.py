"""Not a test of its own: QEMU killed from outside in the middle of a test, and a
test after it, run in a child pytest by tests/test_faults_in_reports.py."""

import os
import signal
import subprocess


def test_loses_its_guest(guest):
    [qemu] = subprocess.run(["pgrep", "-g", str(guest.proc.pid), "qemu-system"], capture_output=True,
                            text=True).stdout.split()
    os.kill(int(qemu), signal.SIGKILL)
    guest.run("true", timeout=30)  # the channel fails here: the verdict is the fault's


def test_after_it(guest):
    assert guest.sh("echo alive") == "alive\n"
