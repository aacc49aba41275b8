"""The run: its results directory, its guests, --resume, and the reports written at the end."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

import kernels
from harness import results, results_space, runs, summary
from kernels.errors import KernelError
from vm import probes
from vm.guest import Guest
from vm.options import GuestOptions
from vm.pool import GuestPool


class RunState:
    """What one pytest session keeps: where results go, the kernels in use and their guests."""

    def __init__(self, run_dir: Path, options: GuestOptions, worker: str | None = None):
        self.run_dir = run_dir
        self.worker = worker  # a pytest-xdist worker's id: its environment is merged at the end
        self.options = options
        self.kernels: dict[str, kernels.CachedKernel] = {}
        self.kernel_errors: dict[str, KernelError] = {}
        self.guest_facts: dict[str, dict] = {}
        self.pool = GuestPool(options, run_dir / "console", on_boot=self._booted)
        self.tools: dict | None = None  # the witnesses' programs and versions, read at the first boot

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
            if self.tools is None and self.guest_facts:
                self.tools = results.tool_versions()
            results.write_environment(self.run_dir, self.kernels, self.guest_facts, self.options,
                                      self.pool.emulator_retries, self.tools, part=self.worker)
        except OSError as e:  # a full results disk: the verdicts matter more
            print(f"iowitness: environment.json not written: {e}", file=sys.stderr)


STATE = pytest.StashKey[RunState]()


def _on_sigterm(signum, frame):
    # Turn SIGTERM into what Ctrl-C does: pytest then tears fixtures down (guests
    # shut down) and still writes its reports.
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    if config.option.collectonly:
        return  # nothing runs: no run directory
    signal.signal(signal.SIGTERM, _on_sigterm)
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # a pytest-xdist worker writes into its controller's run
        run_dir = Path(worker["iowitness_run_dir"])
    else:
        run_dir = results.new_run_dir(Path(config.getoption("results_dir")).resolve())
        if not config.option.xmlpath:
            config.option.xmlpath = str(run_dir / "junit.xml")
    options = GuestOptions(cpus=config.getoption("vm_cpus"), memory=config.getoption("vm_memory"),
                           append=tuple(config.getoption("vm_append")), accel=config.getoption("vm_accel"),
                           aslr=None if config.getoption("vm_aslr") is None else config.getoption("vm_aslr") == "on",
                           boot_timeout=config.getoption("boot_timeout"), rootfs=config.getoption("vm_rootfs"),
                           ssh=config.getoption("vm_ssh") or config.getoption("shell_after"))
    config.stash[STATE] = RunState(run_dir, options, worker["workerid"] if worker else None)
    if worker is None:
        results_space.reserve(run_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """Before JUnit is written: the reserve makes room for it on a full disk."""
    state = session.config.stash.get(STATE, None)
    if state is not None and state.worker is None:
        results_space.release(state.run_dir)


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
        if state.worker is not None:
            return  # the controller writes the reports, once every worker is done
        results.join_environment_parts(state.run_dir)
        try:
            summary.write(state.run_dir)
        except Exception as e:  # the report must never cost a run its results
            print(f"iowitness: summary not written: {e!r}", file=sys.stderr)


def _resumed_run(config) -> Path:
    run = Path(config.getoption("resume"))
    if not run.is_dir():
        run = Path(config.getoption("results_dir")) / run
    if not runs.is_run(run):
        raise pytest.UsageError(f"--resume: {config.getoption('resume')}: no junit.xml there (not a run directory)")
    return run


def pytest_collection_modifyitems(session, config, items):
    """--resume: deselect what the earlier run already gave a verdict."""
    if not config.getoption("resume"):
        return
    run = _resumed_run(config)
    done = set(runs.load(run).verdicts())
    keep = [it for it in items if it.nodeid not in done]
    gone = [it for it in items if it.nodeid in done]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep
    state = config.stash.get(STATE, None)
    if state is not None and state.worker is None:
        (state.run_dir / "resumed-from").write_text(f"{run.resolve()}\n{len(gone)} tests had a verdict there\n")


@pytest.fixture
def run_dir(request) -> Path:
    return request.config.stash[STATE].run_dir
