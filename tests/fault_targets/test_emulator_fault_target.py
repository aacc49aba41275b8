"""Not a test of its own: a guest that dies mid-test as the TCG stale-int3 race
kills one (an int3 oops, then the panic), or of an ordinary panic, once; run in a
child pytest by tests/test_emulator_rerun.py. IOWITNESS_EMULATOR_TARGET names a host
file that marks the first attempt; IOWITNESS_EMULATOR_OOPS says which death."""

import os
from pathlib import Path

import pytest

MARK = os.environ.get("IOWITNESS_EMULATOR_TARGET", "")
# The header the race prints (vm/console.py), logged at KERN_EMERG before the crash.
OOPS = {"int3": "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI", "plain": "sysrq: a crash with no int3 oops"}


def test_dies_once(guest):
    if guest.accel.name != "tcg":
        pytest.skip("the stale-int3 race is TCG's: under KVM a panic is the kernel's")
    if not Path(MARK).exists():
        Path(MARK).write_text(guest.label)
        line = OOPS[os.environ["IOWITNESS_EMULATOR_OOPS"]]
        guest.run(f"echo '<0>{line}' > /dev/kmsg; echo c > /proc/sysrq-trigger", timeout=30)
    assert guest.sh("echo alive") == "alive\n"


def test_after_it(guest):
    assert guest.sh("echo alive") == "alive\n"
