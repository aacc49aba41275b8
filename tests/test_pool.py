"""GuestPool's boot bookkeeping, with the guest's boot faked from captured consoles:
a boot lost to the TCG stale-int3 race is retried once and recorded; any other
boot failure, a second race, or the race under KVM is the kernel's verdict."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from vm import pool as pool_mod
from vm.errors import KernelPanic
from vm.options import GuestOptions

DATA = Path(__file__).parent / "data"
RACE = (DATA / "console-tcg-int3-race.log").read_text()
ROOTFS = "[ 1.8] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"


def _pool(monkeypatch, consoles: list[str | None], accel: str = "tcg"):
    """A pool whose guests boot by taking the next console: None boots, text panics."""
    boots = []

    class FakeGuest:
        def __init__(self, kernel, options, log_dir, label=""):
            self.label, self.kernel = label, kernel
            self.accel = SimpleNamespace(name=accel)
            self.text = consoles.pop(0)
            boots.append(label)

        def boot(self):
            if self.text is not None:
                raise KernelPanic(f"{self.label}: kernel panic during boot")
            return self

        def console_text(self):
            return self.text or ""

        def usable(self):
            return True

    monkeypatch.setattr(pool_mod, "Guest", FakeGuest)
    return pool_mod.GuestPool(GuestOptions(), Path("/nonexistent")), boots


KERNEL = SimpleNamespace(name="debian-6.12")


def test_race_at_boot_is_booted_again_and_recorded(monkeypatch):
    pool, boots = _pool(monkeypatch, [RACE, None])
    g = pool.get(KERNEL)
    assert boots == ["debian-6.12", "debian-6.12.2"] and g.label == "debian-6.12.2"
    oops = "[    1.542656] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"
    assert pool.emulator_retries == {"debian-6.12": f"debian-6.12: {oops}"}
    assert pool.boot_failures == {}


def test_second_race_is_the_verdict_and_is_not_booted_again(monkeypatch):
    pool, boots = _pool(monkeypatch, [RACE, RACE])
    with pytest.raises(KernelPanic):
        pool.get(KERNEL)
    with pytest.raises(KernelPanic):  # remembered: no third boot
        pool.get(KERNEL)
    assert boots == ["debian-6.12", "debian-6.12.2"]


@pytest.mark.parametrize("console, accel", [(ROOTFS, "tcg"), (RACE, "kvm")])
def test_other_boot_panics_are_not_retried(monkeypatch, console, accel):
    pool, boots = _pool(monkeypatch, [console], accel=accel)
    with pytest.raises(KernelPanic):
        pool.get(KERNEL)
    assert boots == ["debian-6.12"] and pool.emulator_retries == {}


BOTH_CPUS = (DATA / "console-tcg-int3-race-both-cpus.log").read_text()


@pytest.mark.parametrize("first", [RACE, BOTH_CPUS])
def test_a_tests_own_guest_is_booted_again_after_the_race(monkeypatch, first):
    """A guest booted outside the pool (an SSH guest, another root transport) gets
    the pool's one exception; the second capture is a boot in which both vCPUs
    hit the stale int3 ([#1] and [#2]) before the panic."""
    _, boots = _pool(monkeypatch, [first, None])
    g = pool_mod.boot_own(KERNEL, GuestOptions(), Path("/nonexistent"), "debian-6.12-ssh")
    assert boots == ["debian-6.12-ssh", "debian-6.12-ssh.2"] and g.label == "debian-6.12-ssh.2"


@pytest.mark.parametrize("consoles", [[ROOTFS], [RACE, RACE]])
def test_a_tests_own_guest_fails_on_any_other_panic_or_a_second_race(monkeypatch, consoles):
    _, boots = _pool(monkeypatch, list(consoles))
    with pytest.raises(KernelPanic):
        pool_mod.boot_own(KERNEL, GuestOptions(), Path("/nonexistent"), "debian-6.12-ssh")
    assert len(boots) == len(consoles)
