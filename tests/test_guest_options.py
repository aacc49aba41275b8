"""Guest options reach the guest."""

import pytest

from vm import probes

pytestmark = pytest.mark.guest


def test_aslr_is_what_the_options_say(guest):
    # norandmaps (Documentation/admin-guide/kernel-parameters.txt) sets randomize_va_space to 0.
    expected = "2" if guest.aslr() else "0"
    assert guest.read_text("/proc/sys/kernel/randomize_va_space").strip() == expected
    assert ("norandmaps" in guest.read_text("/proc/cmdline").split()) == (not guest.aslr())


def test_cpus_are_what_the_options_say(guest):
    assert probes.possible_cpus(guest) == guest.options.cpus
