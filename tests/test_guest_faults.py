"""Faults on a real guest: a panic is a panic, a hang is a timeout, the next test goes on."""

import pytest

from vm.errors import CommandTimeout, KernelPanic

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
