"""The iowitness pytest plugin: kernels as parameters, one guest per kernel, honest verdicts.

Tests that take the `guest` fixture run once per selected kernel (ids like
`test_x[debian-6.12]`), grouped so each kernel boots once. Around each such
test the guest's kernel log is marked and sliced, and an oops/BUG/WARNING or a
taint change fails the test; what the test left behind is undone.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from _pytest import junitxml  # its xml_key: the LogXML object, to drop nameless entries

import kernels
from harness import figures, requirements, results, results_space, summary
from harness.ktap_guest import KtapStream
from kernels.errors import KernelError
from vm import isolation, probes
from vm.guest import Guest, GuestOptions
from vm.pool import GuestPool

REPO = Path(__file__).resolve().parent


def pytest_addoption(parser):
    g = parser.getgroup("iowitness")
    g.addoption("--kernel", action="append", default=[], metavar="NAME",
                help="kernel from kernels/catalog.yaml (repeatable; default: the catalog's defaults)")
    g.addoption("--vm-cpus", type=int, default=2, help="guest CPUs (default 2)")
    g.addoption("--vm-memory", default="2G", help="guest memory (default 2G)")
    g.addoption("--vm-append", action="append", default=[], metavar="PARAM",
                help="extra kernel boot parameter (repeatable), e.g. delayacct or nohz=off")
    g.addoption("--vm-accel", choices=("kvm", "tcg"), default=None,
                help="force the accelerator (default: KVM only if it is shown to work)")
    g.addoption("--vm-aslr", choices=("on", "off"), default=None,
                help="guest address-space randomization (default: off under TCG, where it makes every exec "
                     "retranslate the C library; on under KVM)")
    g.addoption("--boot-timeout", type=float, default=300.0, help="seconds for a guest to become ready")
    g.addoption("--results-dir", default=str(REPO / "results"), help="where results/<run-id>/ goes")
    g.addoption("--resume", metavar="RUN", default=None,
                help="run only the tests that have no verdict in RUN (results/<run-id> or its path), "
                     "e.g. after an interrupted run")
    g.addoption("--shell-after", action="store_true",
                help="after each test, a shell in its guest on this terminal, before the test's cleanup "
                     "(implies --vm-ssh)")
    g.addoption("--vm-ssh", action="store_true",
                help="boot guests with SSH (a NIC and sshd; commands never need it)")


def _on_sigterm(signum, frame):
    # Turn SIGTERM into what Ctrl-C does: pytest then tears fixtures down (guests
    # shut down) and still writes its reports.
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    for name, doc in requirements.MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    if getattr(config, "workerinput", None) is not None:
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    run_dir = results.new_run_dir(Path(config.getoption("results_dir")).resolve())
    if not config.option.xmlpath:
        config.option.xmlpath = str(run_dir / "junit.xml")
    options = GuestOptions(cpus=config.getoption("vm_cpus"), memory=config.getoption("vm_memory"),
                           append=tuple(config.getoption("vm_append")), accel=config.getoption("vm_accel"),
                           aslr=None if config.getoption("vm_aslr") is None else config.getoption("vm_aslr") == "on",
                           boot_timeout=config.getoption("boot_timeout"),
                           ssh=config.getoption("vm_ssh") or config.getoption("shell_after"))
    config.stash[STATE] = _State(run_dir, options)
    results_space.reserve(run_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """Before JUnit is written: the reserve makes room for it on a full disk, and
    the test a signal interrupted is left without a testcase (it has no verdict;
    --resume runs it again)."""
    state = session.config.stash.get(STATE, None)
    if state is not None:
        results_space.release(state.run_dir)
    xml = session.config.stash.get(junitxml.xml_key, None)
    if xml is not None:
        # pytest's junitxml opens an entry for a test's duration at its setup
        # report; interrupted before its call report, the entry has no name and
        # would be written as a nameless <testcase> that readers count as a pass.
        # A finished entry has been finalized (its state cleared, its XML kept).
        xml.node_reporters_ordered[:] = [r for r in xml.node_reporters_ordered
                                         if not hasattr(r, "attrs") or r.attrs.get("name")]


class _State:
    def __init__(self, run_dir: Path, options: GuestOptions):
        self.run_dir = run_dir
        self.options = options
        self.kernels: dict[str, kernels.CachedKernel] = {}
        self.kernel_errors: dict[str, KernelError] = {}
        self.guest_facts: dict[str, dict] = {}
        self.pool = GuestPool(options, run_dir / "console", on_boot=self._booted)
        self.ktap: dict[str, KtapStream] = {}  # per kernel: the stream of its current guest
        self.ktap_done: dict[str, int] = {}

    def ktap_stream(self, g: Guest, session) -> KtapStream:
        """The KTAP document of this boot of the kernel's guest, begun on first use."""
        name = g.kernel.name
        stream = self.ktap.get(name)
        if stream is None or stream.guest is not g:
            planned = sum(1 for it in session.items if "guest" in it.fixturenames
                          and getattr(it, "callspec", None) and it.callspec.params.get("kernel_name") == name)
            stream = KtapStream(g, f"iowitness run {self.run_dir.name} on {name} ({probes.release(g)})",
                                planned - self.ktap_done.get(name, 0))
            self.ktap[name] = stream
        return stream

    def ktap_result(self, g: Guest, node, verdict: str, reason: str = "") -> None:
        name = g.kernel.name
        self.ktap_done[name] = self.ktap_done.get(name, 0) + 1
        if g.usable():
            self.ktap_stream(g, node.session).result(_ktap_name(node, name), verdict, reason)

    def _booted(self, guest: Guest) -> None:
        self.guest_facts[guest.label] = {
            "kernel": guest.kernel.name, "release": probes.release(guest), "accel": guest.accel.name,
            "accel_reason": guest.accel.reason, "boot_seconds": round(guest.boot_seconds, 1),
            "aslr": guest.aslr(),
            "command": guest.command_line(),
        }
        self.write_environment()

    def write_environment(self) -> None:
        try:
            results.write_environment(self.run_dir, self.kernels, self.guest_facts, self.options,
                                      self.pool.emulator_retries)
        except OSError as e:  # a full results disk: the verdicts matter more
            print(f"iowitness: environment.json not written: {e}", file=sys.stderr)


STATE = pytest.StashKey[_State]()


def pytest_terminal_summary(terminalreporter):
    state = terminalreporter.config.stash.get(STATE, None)
    if state is not None and state.pool.emulator_retries:
        terminalreporter.section("boots retried (TCG stale-int3 race, see vm/console.py)")
        for kernel, what in state.pool.emulator_retries.items():
            terminalreporter.line(f"{kernel}: {what}; console kept in {state.run_dir / 'console'}")


def pytest_unconfigure(config):
    state = config.stash.get(STATE, None)
    if state is not None:
        state.pool.shutdown_all()
        state.write_environment()
        try:
            summary.write(state.run_dir)
        except Exception as e:  # the report must never cost a run its results
            print(f"iowitness: summary not written: {e!r}", file=sys.stderr)


def _resumed_run(config) -> Path:
    run = Path(config.getoption("resume"))
    if not run.is_dir():
        run = Path(config.getoption("results_dir")) / run
    if not (run / "junit.xml").is_file():
        raise pytest.UsageError(f"--resume: {config.getoption('resume')}: no junit.xml there (not a run directory)")
    return run


def pytest_collection_modifyitems(session, config, items):
    """--resume: deselect what the earlier run already gave a verdict."""
    if not config.getoption("resume"):
        return
    run = _resumed_run(config)
    done = set(figures.verdicts(run))
    keep = [it for it in items if it.nodeid not in done]
    gone = [it for it in items if it.nodeid in done]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep
    state = config.stash.get(STATE, None)
    if state is not None:
        (state.run_dir / "resumed-from").write_text(f"{run.resolve()}\n{len(gone)} tests had a verdict there\n")


def selected_kernels(config) -> list[str]:
    names = config.getoption("kernel") or kernels.catalog.defaults()
    return list(dict.fromkeys(names))


def pytest_generate_tests(metafunc):
    if "kernel_name" in metafunc.fixturenames:
        names = selected_kernels(metafunc.config)
        # scope="session" groups the tests by kernel: each kernel boots once.
        metafunc.parametrize("kernel_name", names, ids=names, scope="session", indirect=True)


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
    g = state.pool.get(kernel)
    node = request.node
    for prop in (("kernel", kernel.name), ("kernel_version", kernel.version), ("accel", g.accel.name)):
        node.user_properties.append(prop)
    state.ktap_stream(g, request.session)
    reason = requirements.unmet(node, g)
    if reason:
        state.ktap_result(g, node, "skipped", reason)
        pytest.skip(reason)
    snap = isolation.begin(g, node.nodeid)
    node.stash[SNAP] = (g, snap)
    yield g
    state.ktap_result(g, node, *_verdict(node))
    if g.usable():
        undone = isolation.restore(g, snap)
        if undone:
            _save(state.run_dir, "dmesg/" + kernel.name, node.nodeid, "\n".join(undone), ".cleanup")


SNAP = pytest.StashKey[tuple]()
REPORTS = pytest.StashKey[dict]()


def _ktap_name(node, kernel: str) -> str:
    return node.nodeid.replace(f"[{kernel}]", "").replace(f"[{kernel}-", "[")


def _verdict(node) -> tuple[str, str]:
    """The test's verdict as far as setup and call tell (the guest fixture's teardown
    is the last moment its guest is sure to be up)."""
    for rep in node.stash.get(REPORTS, {}).values():
        if rep.skipped:
            return "skipped", _message(rep)
        if rep.failed:
            return "failed", _message(rep)
    return "passed", ""


def _message(rep) -> str:
    crash = getattr(rep.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    item.stash.setdefault(REPORTS, {})[rep.when] = rep
    return rep


def _save(run_dir: Path, sub: str, test_id: str, text: str, suffix: str) -> None:
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
        raise AssertionError("the kernel complained during this test:\n" + "\n".join(bad[:20]))
    return outcome


class Sysctls:
    """Set sysctls in the guest; every one is put back when the test ends."""

    def __init__(self, guest: Guest):
        self.guest = guest
        self.saved: dict[str, str] = {}

    @staticmethod
    def path(name: str) -> str:
        return "/proc/sys/" + name.replace(".", "/")

    def get(self, name: str) -> str:
        return self.guest.read_text(self.path(name)).strip()

    def set(self, name: str, value) -> None:
        if name not in self.saved:
            self.saved[name] = self.get(name)
        self.guest.write_file(self.path(name), str(value).encode())

    def restore(self) -> None:
        for name, value in reversed(list(self.saved.items())):
            self.guest.write_file(self.path(name), value.encode())


@pytest.fixture
def sysctl(guest):
    s = Sysctls(guest)
    yield s
    if guest.usable():
        s.restore()


@pytest.fixture
def run_dir(request) -> Path:
    return request.config.stash[STATE].run_dir
