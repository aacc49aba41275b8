"""Kernels as parameters, one guest per kernel, and each test isolated on it.

Around each test that takes `guest`: its requirement markers are checked (an
unmet one skips it with the reason), the kernel log is marked, and afterwards
the log since the marker is part of the verdict (an oops, BUG or WARNING or a
taint change fails the test) and what the test left behind is undone. Each
test's result is also written into the guest's kernel log as KTAP.
"""

from __future__ import annotations

import pytest

import kernels
from core import budget
from harness import requirements, results, results_space
from harness.ktap_guest import KtapStream
from harness.plugin.session import STATE
from harness.runs import without_kernel
from kernels.errors import KernelError
from vm import isolation, probes
from vm.errors import KernelComplained
from vm.guest import Guest
from vm.sysctl import Sysctls

SNAP = pytest.StashKey[tuple]()
REPORTS = pytest.StashKey[dict]()
KTAP = pytest.StashKey["Ktap"]()


def selected_kernels(config) -> list[str]:
    names = config.getoption("kernel") or kernels.catalog.defaults()
    return list(dict.fromkeys(names))


def kernel_of(item) -> str | None:
    """The kernel a collected test runs on (its kernel_name parameter), or None."""
    spec = getattr(item, "callspec", None)
    return spec.params.get("kernel_name") if spec else None


def pytest_generate_tests(metafunc):
    if "kernel_name" in metafunc.fixturenames:
        names = selected_kernels(metafunc.config)
        # scope="session" groups the tests by kernel: each kernel boots once.
        metafunc.parametrize("kernel_name", names, ids=names, scope="session", indirect=True)


class Ktap:
    """Per kernel, the KTAP document of its current guest's boot (harness/ktap_guest.py)."""

    def __init__(self, run_name: str):
        self.run_name = run_name
        self.streams: dict[str, KtapStream] = {}
        self.done: dict[str, int] = {}

    def stream(self, g: Guest, session) -> KtapStream:
        """Begun on first use after each boot, planning the tests still to run there."""
        name = g.kernel.name
        stream = self.streams.get(name)
        if stream is None or stream.guest is not g:
            planned = sum(1 for it in session.items if "guest" in it.fixturenames and kernel_of(it) == name)
            stream = KtapStream(g, f"iowitness run {self.run_name} on {name} ({probes.release(g)})",
                                planned - self.done.get(name, 0))
            self.streams[name] = stream
        return stream

    def result(self, g: Guest, node, verdict: str, reason: str = "") -> None:
        name = g.kernel.name
        self.done[name] = self.done.get(name, 0) + 1
        if g.usable():
            self.stream(g, node.session).result(without_kernel(node.nodeid, name), verdict, reason)


def _ktap(config) -> Ktap:
    if KTAP not in config.stash:
        config.stash[KTAP] = Ktap(config.stash[STATE].run_dir.name)
    return config.stash[KTAP]


@pytest.fixture(scope="session")
def kernel_name(request):
    return request.param


@pytest.fixture(scope="session")
def kernel(request, kernel_name) -> kernels.CachedKernel:
    """The selected kernel, fetched or built on first use, sha256-verified."""
    state = request.config.stash[STATE]
    if kernel_name in state.kernel_errors:
        pytest.fail(str(state.kernel_errors[kernel_name]), pytrace=False)
    try:
        with budget.spend(budget.KERNEL):
            k = kernels.ensure(kernel_name)
    except KernelError as e:
        state.kernel_errors[kernel_name] = e
        pytest.fail(f"kernel unavailable: {e}", pytrace=False)
    state.kernels[kernel_name] = k
    yield k
    state.pool.release(kernel_name)  # the next kernel's tests start after this one's guest is down


@pytest.fixture
def guest(request, kernel) -> Guest:
    """The kernel's guest for this test: booted if needed, cleaned up afterwards."""
    state = request.config.stash[STATE]
    ktap = _ktap(request.config)
    g = state.pool.get(kernel)
    node = request.node
    for prop in (("kernel", kernel.name), ("kernel_version", kernel.version), ("accel", g.accel.name)):
        node.user_properties.append(prop)
    ktap.stream(g, request.session)
    reason = requirements.unmet(node, g)
    if reason:
        ktap.result(g, node, "skipped", reason)
        pytest.skip(reason)
    snap = isolation.begin(g, node.nodeid)
    node.stash[SNAP] = (g, snap)
    yield g
    ktap.result(g, node, *verdict_so_far(node))
    if g.usable():
        undone = isolation.restore(g, snap)
        if undone:
            _save(state.run_dir, "dmesg/" + kernel.name, node.nodeid, "\n".join(undone), ".cleanup")


def verdict_so_far(node) -> tuple[str, str]:
    """The test's verdict as far as setup and call tell (the guest fixture's teardown
    is the last moment its guest is sure to be up)."""
    for rep in node.stash.get(REPORTS, {}).values():
        if rep.skipped:
            return "skipped", _message(rep)
        if rep.failed:
            return "failed", _message(rep)
    return "passed", ""


def call_passed(node) -> bool:
    """The test's body ran to its end and passed (not interrupted, not skipped)."""
    rep = node.stash.get(REPORTS, {}).get("call")
    return rep is not None and rep.passed


def _message(rep) -> str:
    crash = getattr(rep.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "setup":  # a new attempt (a test run again): none of the last one's reports
        item.stash[REPORTS] = {}
    item.stash.setdefault(REPORTS, {})[rep.when] = rep
    return rep


def _save(run_dir, sub: str, test_id: str, text: str, suffix: str) -> None:
    results_space.write(run_dir, run_dir / sub / (results.safe_name(test_id) + suffix + ".log"), text)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """--shell-after: before the fixtures are finalized, so what the test set up
    (device, module, sysctls, tracer) is still there to look at."""
    entry = item.stash.get(SNAP, None)
    if item.config.getoption("shell_after") and entry and entry[0].usable():
        entry[0].interactive_shell(f"\n--- {item.nodeid}: the guest before cleanup; exit to go on ---\n")
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: the kernel's log is part of the verdict."""
    outcome = yield
    entry = item.stash.get(SNAP, None)
    if entry is None:
        return outcome
    g, snap = entry
    if not g.usable():
        return outcome
    state = item.config.stash[STATE]
    log = isolation.kernel_log_since(g, snap)
    _save(state.run_dir, "dmesg/" + g.kernel.name, item.nodeid, log, "")
    bad = isolation.trouble(g, snap, log)
    if bad:
        raise KernelComplained("the kernel complained during this test:\n" + "\n".join(bad[:20]))
    return outcome


@pytest.fixture
def sysctl(guest):
    """Sysctls set by the test, each put back when it ends (vm/sysctl.py)."""
    s = Sysctls(guest)
    yield s
    if guest.usable():
        s.restore()
