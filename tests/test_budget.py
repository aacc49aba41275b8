"""The run's time budget (core/budget.py): nested spends, merged workers, the report."""

from __future__ import annotations

import time

from core import budget


def test_a_nested_spend_takes_its_time_out_of_the_enclosing_one():
    ledger = budget.Ledger()
    with ledger.spend("hold"):
        time.sleep(0.05)
        with ledger.spend("tracer"):
            time.sleep(0.1)
        time.sleep(0.05)
    assert 0.09 < ledger.seconds["tracer"] < 0.2
    assert 0.09 < ledger.seconds["hold"] < 0.2  # the two outer sleeps, not the tracer's
    assert ledger.counts == {"hold": 1, "tracer": 1}


def test_an_open_spend_counts_in_a_snapshot():
    ledger = budget.Ledger()
    with ledger.spend("boot"):
        time.sleep(0.05)
        assert ledger.snapshot()["boot"] >= 0.05
    assert "boot" not in budget.delta(ledger.snapshot(), ledger.snapshot())


def test_workers_budgets_add_up_and_the_rest_is_everything_else(tmp_path):
    a, b = budget.Budget(), budget.Budget()
    a.add_test("t1[k1]", 10.0, {budget.BOOT: 4.0, budget.WINDOW: 5.0})
    b.add_test("t2[k2]", 20.0, {budget.BOOT: 6.0})
    b.add_counts({budget.BOOT: 1})
    total = budget.Budget()
    total.merge(a.as_dict())
    total.merge(b.as_dict())
    total.wall_s = 21.0
    totals = total.totals()
    assert totals[budget.BOOT] == 10.0 and totals[budget.WINDOW] == 5.0
    assert totals[budget.OTHER] == 1.0 + 14.0
    total.write(tmp_path)
    again = budget.load(tmp_path)
    assert again.totals() == totals and again.wall_s == 21.0
    text = "\n".join(budget.lines(again.as_dict()))
    assert "boots" in text and "(1x)" in text and "t2[k2]" in text
