"""The run's time budget (core/budget.py): each test's seconds per kind of
work, gathered from xdist's workers, written to budget.json and printed."""

from __future__ import annotations

import json
import time

import pytest

from core import budget
from harness.plugin.session import STATE

BUDGET = pytest.StashKey[budget.Budget]()
STARTED = pytest.StashKey[float]()
WORKER_KEY = "iowitness_budget"


def pytest_configure(config):
    config.stash[BUDGET] = budget.Budget()
    config.stash[STARTED] = time.monotonic()
    if config.pluginmanager.hasplugin("xdist") and getattr(config, "workerinput", None) is None:
        config.pluginmanager.register(_FromWorkers(config), "iowitness-budget-workers")


class _FromWorkers:
    """On xdist's controller: each worker's budget, sent when it finishes."""

    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data:
            self.config.stash[BUDGET].merge(json.loads(data))


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: a wait for another worker is in the test's time
def pytest_runtest_protocol(item, nextitem):
    before, t0 = budget.LEDGER.snapshot(), time.monotonic()
    try:
        return (yield)
    finally:
        item.config.stash[BUDGET].add_test(item.nodeid, time.monotonic() - t0,
                                           budget.delta(before, budget.LEDGER.snapshot()))


def pytest_sessionfinish(session):
    config = session.config
    b = config.stash[BUDGET]
    b.add_counts(budget.LEDGER.counts)
    b.wall_s = time.monotonic() - config.stash[STARTED]
    workerout = getattr(config, "workeroutput", None)
    if workerout is not None:
        workerout[WORKER_KEY] = json.dumps(b.as_dict())
        return
    state = config.stash.get(STATE, None)
    if state is not None and b.tests:
        try:
            b.write(state.run_dir)
        except OSError as e:
            print(f"iowitness: budget.json not written: {e}")


def pytest_terminal_summary(terminalreporter):
    config = terminalreporter.config
    b = config.stash.get(BUDGET, None)
    if b is None or not b.tests or config.stash.get(STATE, None) is None:
        return
    terminalreporter.section("where the time went (budget.json)")
    for line in budget.lines(b.as_dict()):
        terminalreporter.line(line)
