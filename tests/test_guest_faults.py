"""Faults on a real guest, each named by its verdict, and the next test goes on on a
new guest: a panic, a hanging command (a timeout; the guest is fine), the agent
killed inside the guest, QEMU killed or stopped from outside (sshd killed: tests/test_ssh.py)."""

import os
import signal
import subprocess

import pytest

from vm import channel, liveness
from vm.errors import ChannelLost, CommandTimeout, GuestError, GuestHung, KernelPanic

pytestmark = pytest.mark.guest

_panicked: dict[str, str] = {}


def test_panic_mid_test_is_reported_as_a_panic(guest):
    with pytest.raises(KernelPanic) as exc:
        guest.run("echo c > /proc/sysrq-trigger", timeout=120)
    assert "Kernel panic - not syncing" in str(exc.value)
    assert "sysrq" in str(exc.value)
    assert not guest.alive()
    _panicked[guest.kernel.name] = guest.label


def test_next_test_runs_on_a_new_guest(guest):
    if guest.kernel.name not in _panicked:
        pytest.fail("the panic test did not run first on this kernel")
    assert guest.label != _panicked[guest.kernel.name]
    assert guest.sh("echo alive") == "alive\n"


def test_hanging_command_times_out_and_the_guest_answers_after(guest):
    with pytest.raises(CommandTimeout):
        guest.run("cat /dev/zero | sleep 1000", timeout=5)
    assert guest.ping() < 30


def _qemu_pid(guest) -> int:
    """QEMU runs in vng's process group."""
    out = subprocess.run(["pgrep", "-g", str(guest.proc.pid), "qemu-system"], capture_output=True, text=True)
    [pid] = out.stdout.split()
    return int(pid)


def test_agent_killed_in_the_guest_is_channel_lost(guest):
    with pytest.raises(ChannelLost, match="agent channel was lost.*agent ended in the guest.*still answers"):
        guest.run(f"kill -9 {guest.channel.agent_pid}", timeout=30)
    assert not guest.usable()


def test_qemu_killed_from_outside_is_named(guest):
    os.kill(_qemu_pid(guest), signal.SIGKILL)
    with pytest.raises(GuestError, match="QEMU exited"):
        guest.run("true", timeout=30)


def test_stopped_qemu_is_a_hung_guest(guest, monkeypatch):
    """SIGSTOP freezes every vCPU at once, as a hung kernel would look from outside.
    A stopped QEMU answers nothing at all: the diagnosis is the same with short
    waits (the defaults, 60 s past the command and 30 s for the ping loop, are for
    a slow TCG guest under load and cost 90 s here)."""
    monkeypatch.setattr(channel, "REPLY_GRACE_S", 5.0)
    monkeypatch.setattr(liveness, "PING_TIMEOUT_S", 5.0)
    qemu = _qemu_pid(guest)
    os.kill(qemu, signal.SIGSTOP)
    try:
        with pytest.raises(GuestHung, match="stopped answering"):
            guest.run("true", timeout=5)
    finally:
        os.kill(qemu, signal.SIGCONT)


def test_each_fault_left_a_fresh_guest_for_the_next_test(guest):
    assert guest.sh("echo alive") == "alive\n"
