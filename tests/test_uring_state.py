"""The io_uring wait predictor (suites/watch/uring_state.py) and the read wait's
class by kernel (suites/holds.py), on captured text and stated versions."""

from __future__ import annotations

import pytest

from core.faults import IowitnessError
from suites import holds
from suites.waits import URING_READ, URING_READ_SCHEDULE
from suites.watch import uring_state

# What the reader printed on debian-6.12: one NOP submitted and reaped, then the wait.
CAPTURED = ("READY\n"
            "uring_wait pid=612 inflight=1023 cached_refs=1023\n"
            "uring_wait pid=613 inflight=1023 cached_refs=1023\n"
            "uring_wait pid=614 inflight=10")


class _Reader:
    def __init__(self, text):
        self.text = text

    def states_of(self, pids, timeout=10):
        got = uring_state.parse(self.text)
        return {p: got[p] for p in pids if p in got}


def test_parse_keeps_complete_lines_only():
    assert set(uring_state.parse(CAPTURED)) == {612, 613}
    assert uring_state.parse(CAPTURED)[612] == uring_state.WaitState(1023, 1023)


def test_predicted_from_the_count_the_kernel_reads():
    iowait, why = uring_state.predict(_Reader(CAPTURED), [612, 613])
    assert iowait and "inflight count 1023 (1023 cached refs)" in why
    idle = "uring_wait pid=7 inflight=0 cached_refs=0\n"
    assert uring_state.predict(_Reader(idle), [7])[0] is False
    # A task not seen waiting, or a reader that could not attach: the code's rule.
    assert uring_state.predict(_Reader(CAPTURED), [612, 614])[0] is True
    assert uring_state.predict("no BTF", [1]) == (True, f"no BTF: by the code, {uring_state.FALLBACK}")
    with pytest.raises(IowitnessError):
        uring_state.predict(_Reader(CAPTURED + "0 cached_refs=0\nuring_wait pid=615 inflight=0 cached_refs=0\n"),
                            [612, 615])


@pytest.mark.parametrize("version, wait", [((6, 1, 38), URING_READ_SCHEDULE), ((6, 1, 39), URING_READ),
                                           ((6, 4, 16), URING_READ_SCHEDULE), ((6, 5, 0), URING_READ),
                                           ((6, 12, 57), URING_READ), ((7, 0, 0), URING_READ)])
def test_a_read_waited_for_is_judged_on_every_kernel(monkeypatch, version, wait):
    class VersionedGuest:  # what uring_read_class reads of a guest: its kernel's name
        class kernel:
            name = "k"

    monkeypatch.setattr(holds.probes, "kernel_version", lambda guest: version)
    assert holds.uring_read_class(VersionedGuest()) is wait
