"""The memlock expectations against the figures in docs/kernel-rules.md §2 (a 64 KiB
limit, today's doubled ring) and the patch header."""

import pytest

from suites.memlock.model import AioBudget, charges_aio_rings, largest_n_within

PAGES_64K = 16


@pytest.mark.parametrize("cpus", [1, 2, 15, 255])
def test_largest_n_is_1022_while_4c_is_below_it(cpus):
    assert largest_n_within(PAGES_64K, cpus) == 1022


def test_nothing_fits_once_the_4c_floor_needs_17_pages():
    assert largest_n_within(PAGES_64K, 256) == 0


@pytest.mark.parametrize(("cpus", "fit"), [(1, 16), (15, 16), (16, 8), (31, 8), (32, 5)])
def test_one_event_contexts_that_fit(cpus, fit):
    b = AioBudget(cpus, charged=True, memlock_pages=PAGES_64K, aio_room=2**31)
    assert b.held([1] * (fit + 1)) == ["ok"] * fit + ["EAGAIN"]


def test_a_refused_context_leaves_the_budget_for_a_smaller_one():
    b = AioBudget(2, charged=True, memlock_pages=PAGES_64K, aio_room=4096)
    assert b.held([1024, 1024, 1]) == ["EAGAIN", "EAGAIN", "ok"]
    assert (b.memlock_pages, b.aio_room) == (15, 4095)


def test_uncharged_kernels_stop_only_at_aio_max_nr():
    b = AioBudget(2, charged=False, memlock_pages=PAGES_64K, aio_room=4096)
    assert b.held([1024] * 4 + [1]) == ["ok"] * 4 + ["EAGAIN"]


def test_attempt_leaves_nothing_held():
    b = AioBudget(2, charged=True, memlock_pages=PAGES_64K, aio_room=100)
    assert [b.attempt(100), b.attempt(100), b.attempt(101)] == ["ok", "ok", "EAGAIN"]


def test_only_the_feature_without_the_capability_charges():
    assert charges_aio_rings(("aio-memlock",), cap_ipc_lock=False)
    assert not charges_aio_rings(("aio-memlock",), cap_ipc_lock=True)
    assert not charges_aio_rings((), cap_ipc_lock=False)


def test_as_posted_only_the_rlimit_limits():
    """No aio-max-nr (the 2009 proposal as posted): a charged user stops at the
    memlock limit, an uncharged one (CAP_IPC_LOCK) at nothing."""
    charged = AioBudget(2, charged=True, memlock_pages=PAGES_64K, aio_room=None)
    assert charged.held([1024] * 4 + [1]) == ["EAGAIN"] * 4 + ["ok"]
    exempt = AioBudget(2, charged=False, memlock_pages=PAGES_64K, aio_room=None)
    assert exempt.held([1024] * 4 + [1]) == ["ok"] * 5 and exempt.attempt(2**20) == "ok"


def test_the_posted_feature_removes_aio_max_nr():
    from suites.memlock.model import has_aio_max_nr
    assert has_aio_max_nr(("aio-memlock",)) and not has_aio_max_nr(("aio-memlock", "no-aio-max-nr"))


def test_an_atomic_t_aio_nr_wraps_where_an_unsigned_long_does_not():
    from suites.memlock.model import aio_nr_shown
    past = 2**31 - 64 + 128
    assert aio_nr_shown((), past) == 2**31 + 64
    assert aio_nr_shown(("aio-memlock", "aio-nr-atomic-t"), past) == 64 - 2**31
    assert aio_nr_shown(("aio-nr-atomic-t",), 2**31 - 1) == 2**31 - 1
