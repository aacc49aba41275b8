"""Where an unstamped in_iowait sleep's delay is counted from (suites/watch/stamps.py),
on blkio_stamps.bt output captured on debian-6.12-rt (3 CPUs): dd reading a null_blk
device with 100 ms completions beside a CPU hog, one of whose sleeps had its dequeue
delayed and was counted from the previous sleep's stamp (docs/kernel-rules.md §5)."""

from __future__ import annotations

from pathlib import Path

from suites.watch import stamps
from suites.watch.delays import counted_bounds
from suites.watch.procfs import USER_HZ

EVENTS = stamps.parse((Path(__file__).parent / "data" / "blkio_stamps-debian-6.12-rt.txt").read_text())


def _ticks(end: stamps.Stamp) -> int:
    """What the kernel added at that end, by its own formula: local_clock() at the
    end (placed from the stamps' clock pairs) less the stamp it counted from."""
    now = (end.t - stamps.boot_instant(EVENTS)) * 1e9
    return int((now - end.stamp) // (1e9 / USER_HZ))


def test_parse_keeps_every_kind():
    assert {e.what for e in EVENTS} == {"stamp", "unstamped", "end"}
    assert all(e.tid == 365 for e in EVENTS)


def test_a_stamped_sleep_is_not_counted_from_elsewhere():
    assert stamps.counted_from(EVENTS, 365, 24.5947, 24.6950) is None


def test_an_unstamped_sleep_counts_from_the_previous_stamp():
    c = stamps.counted_from(EVENTS, 365, 25.1000, 25.2010)
    assert c is not None and c.ended and abs(c.since - 24.999266526) < 1e-9
    end = next(e for e in EVENTS if e.what == "end" and e.t > c.unstamped_at)
    added = _ticks(end)
    # The sleep itself was one 100 ms request: 10 ticks. The kernel added 20.
    assert added == 20
    lo, hi, _ = counted_bounds(c, c.unstamped_at + 0.1, 25.2010)
    assert lo <= added <= hi
    assert not lo <= 10 <= hi  # the sleep's own length is not what this kernel adds


def test_a_first_unstamped_sleep_counts_from_boot():
    """The POSIX AIO helper thread on debian-6.12-rt (3 CPUs): a 10 s read that
    showed 24670 ticks, where the read alone allows 950 .. 1001. Born after the
    tracer started, it had no stamp of its own: counted from boot."""
    read = [stamps.Stamp("unstamped", 700, 236.650, 0), stamps.Stamp("end", 700, 246.652, 0)]
    c = stamps.counted_from(EVENTS + read, 700, 236.6, 246.8)
    assert c is not None and c.why.startswith("boot")
    lo, hi, _ = counted_bounds(c, 236.6 + 10, 246.8)
    assert lo <= 24670 <= hi
    assert not lo <= 1000 <= hi


def test_woken_before_its_dequeue_adds_nothing():
    read = [stamps.Stamp("unstamped", 701, 30.0, 0)]
    c = stamps.counted_from(EVENTS + read, 701, 29.9, 30.5)
    assert counted_bounds(c, 30.1, 30.5)[:2] == (0, 0)
