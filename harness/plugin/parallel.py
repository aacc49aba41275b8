"""Many guests at once: --shard I/N (one slice of the run per machine, joined
later by `python -m suites merge`) and pytest-xdist's workers on one machine.

Under xdist every test of a kernel goes to one worker (`--dist loadscope`, the
default here, with a kernel's tests as one scope), so each kernel boots once;
the workers write into the controller's run directory. `-n auto` starts no
more workers than the host has room for: its CPUs divided by each guest's
vCPUs (a starved vCPU loses ticks, which the witnesses count) and its free
memory divided by each guest's. When more workers were asked for than that
(`-n 2` on this project's 2-core machine), a test marked `alone` (timing-
sensitive: it counts ticks) runs while no other worker runs a test: each test
holds a shared lock, an `alone` one an exclusive lock, taken in turn so neither
side starves. Within the host's room the workers' vCPUs do not starve each
other and nothing waits.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from core import budget
from harness import shards
from harness.plugin.guests import kernel_of
from harness.plugin.session import STATE

RUN_DIR_KEY = "iowitness_run_dir"
TAKE_TURNS = pytest.StashKey[bool]()
ALONE = "alone"


def pytest_addoption(parser):
    parser.getgroup("iowitness").addoption(
        "--shard", default=None, metavar="I/N",
        help="run only shard I of N (by kernel first: each kernel's tests stay together); "
             "join the runs with `iowitness merge`")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{ALONE}: timing-sensitive (counts ticks): under pytest-xdist it runs "
                                       "while no other test runs")
    spec = config.getoption("shard")
    if spec:
        try:
            shards.parse(spec)
        except ValueError as e:
            raise pytest.UsageError(str(e)) from None
    worker = getattr(config, "workerinput", None)
    # Decided once per worker, before its guests take the host's memory.
    config.stash[TAKE_TURNS] = worker is not None and oversubscribed(
        int(worker["workercount"]), config.getoption("vm_cpus"), config.getoption("vm_memory"))
    if config.pluginmanager.hasplugin("xdist") and worker is None:
        config.pluginmanager.register(_Controller(config), "iowitness-xdist-controller")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if getattr(config.option, "numprocesses", None) and config.option.dist == "no":
        config.option.dist = "loadscope"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope (the default here with -n): a scope is a kernel's tests."""
    if config.option.dist != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    from harness import runs
    from harness.plugin.guests import selected_kernels

    names = selected_kernels(config)

    class KernelScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shards.group_of(nodeid, runs.kernel_in(nodeid, names))

    return KernelScheduling(config, log)


def host_room(cpus: int, memory: str) -> int:
    """Guests this host runs without starving their vCPUs or its memory."""
    host_cpus = len(os.sched_getaffinity(0))
    avail = _mem_available()
    per_guest = _bytes(memory) + (256 << 20)  # QEMU's own and virtiofsd's memory beside the guest's
    by_mem = avail // per_guest if avail else host_cpus
    return max(1, min(host_cpus // max(1, cpus), by_mem))


def _mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    size = size.strip().upper().rstrip("B")
    return int(float(size[:-1]) * units[size[-1]]) if size[-1:] in units else int(size)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    return host_room(config.getoption("vm_cpus"), config.getoption("vm_memory"))


class _Controller:
    """On xdist's controller: the workers share its run directory."""

    def __init__(self, config):
        self.config = config

    def pytest_configure_node(self, node):
        state = self.config.stash.get(STATE, None)
        if state is not None:
            node.workerinput[RUN_DIR_KEY] = str(state.run_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    spec = config.getoption("shard")
    if spec:
        index, n = shards.parse(spec)
        mine = shards.select([(it.nodeid, kernel_of(it)) for it in items], index, n)
        gone = [it for it in items if it.nodeid not in mine]
        if gone:
            config.hook.pytest_deselected(items=gone)
            items[:] = [it for it in items if it.nodeid in mine]
        state = config.stash.get(STATE, None)
        if state is not None and getattr(config, "workerinput", None) is None:
            (state.run_dir / "shard").write_text(f"{index}/{n}\n")


@contextmanager
def _turn(run_dir: Path, exclusive: bool):
    """A readers-writer lock across the workers, fair: a writer waiting in the
    turnstile keeps new readers out."""
    with open(run_dir / ".turnstile.lock", "a") as turn, open(run_dir / ".alone.lock", "a") as lock:
        fcntl.flock(turn, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def oversubscribed(workers: int, cpus: int, memory: str) -> bool:
    """More guests at once than the host has room for: `alone` tests must wait."""
    return workers > host_room(cpus, memory)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not item.config.stash[TAKE_TURNS]:
        return (yield)
    lock = _turn(item.config.stash[STATE].run_dir, item.get_closest_marker(ALONE) is not None)
    with budget.spend(budget.TURN):
        lock.__enter__()
    try:
        return (yield)
    finally:
        lock.__exit__(None, None, None)
