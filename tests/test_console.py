"""Panic and oops detection on captured console text."""

from pathlib import Path

from vm import console

PANIC_LOG = """[   40.1] sysrq: Trigger a crash
[   40.2] Kernel panic - not syncing: sysrq triggered crash
[   40.3] CPU: 0 PID: 321 Comm: sh Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2
"""


def test_panic_found_with_context():
    found = console.find_panic("[ 1.0] booting\n" + PANIC_LOG)
    assert found.splitlines()[0].endswith("Kernel panic - not syncing: sysrq triggered crash")
    assert "sysrq: Trigger a crash" in found


def test_no_panic_in_a_clean_boot():
    assert console.find_panic("[ 1.0] virtme-ng-init: udev is done\n") is None


def test_trouble_lines():
    log = ("[ 5.0] ok\n[ 6.0] WARNING: CPU: 1 PID: 9 at fs/aio.c:100 kill_ioctx+0x1\n"
           "[ 7.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n")
    assert [ln.split("] ")[1][:7] for ln in console.trouble_lines(log)] == ["WARNING", "BUG: ke"]


RACE_LOG = (Path(__file__).parent / "data" / "console-tcg-int3-race.log").read_text()  # a CI boot, QEMU 7.2 TCG


def test_emulator_int3_race_is_recognised():
    assert console.emulator_int3(RACE_LOG) == "[    1.542656] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"
    assert console.find_panic(RACE_LOG).splitlines()[0].endswith("Fatal exception in interrupt")


def test_other_panics_are_not_the_emulator_race():
    assert console.emulator_int3(PANIC_LOG) is None
    assert console.emulator_int3("[ 1.8] Kernel panic - not syncing: VFS: Unable to mount root fs\n") is None


def test_an_int3_oops_the_guest_lived_through_does_not_explain_a_later_panic():
    lived = "[ 1.0] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[ 1.1] ---[ end trace ]---\n"
    later = "[ 9.0] BUG: unable to handle page fault\n[ 9.0] Oops: 0000 [#2] PREEMPT SMP NOPTI\n" \
            "[ 9.1] Kernel panic - not syncing: Fatal exception\n"
    assert console.emulator_int3(lived + later) is None
    assert console.emulator_int3(lived) is None  # no panic: the guest lived
