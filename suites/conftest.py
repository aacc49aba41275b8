"""Fixtures shared by the scenario suites: guest-side workloads, devices and
modules, witness prerequisites, the scene of a test's holds, and evidence tables
that are saved to the run's results. Their library code lives beside:
suites/devices.py, suites/cpu_hog.py, suites/holds.py, suites/watch/."""

from __future__ import annotations

import pytest

from fixtures import WORKLOADS
from fixtures.build import build_c
from fixtures.modules import build_module
from harness import results
from harness.plugin.guests import call_passed, kernel_of
from suites import agreement
from suites.cpu_hog import CpuHog
from suites.devices import FrozenExt4, SlowJournalExt4, SlowNullb, SlowSwap
from suites.holds import Scene
from suites.watch.cpus import task_cpu, tool_cpus
from suites.watch.evidence import Evidence
from vm import probes
from vm.guest import Guest

_NULLB = pytest.StashKey[dict]()



@pytest.hookimpl(trylast=True)  # after pytest has grouped the items by kernel
def pytest_collection_modifyitems(items):
    """The tools' matrix (suites/tools/test_agreement.py) reads the holds of every
    scenario test on its kernel and stops the tools that print only then (the
    offcputime tools): it runs after the kernel's other tests, so none of them
    has to start those tools again (a bcc compile and a libbpf attach, 47 s per
    kernel under TCG)."""
    out, run = [], []
    for it in items + [None]:
        if run and (it is None or kernel_of(it) != kernel_of(run[0])):
            out += sorted(run, key=lambda x: x.path.name == "test_agreement.py" and x.path.parent.name == "tools")
            run = []
        if it is not None:
            run.append(it)
    items[:] = out

@pytest.fixture(scope="session")
def block_once() -> str:
    return str(build_c(WORKLOADS / "block_once.c", "-luring"))


@pytest.fixture
def cpu_hog(guest: Guest) -> CpuHog:
    return CpuHog(guest, str(build_c(WORKLOADS / "cpu_hog.c")))


@pytest.fixture
def hz(guest: Guest) -> int:
    """The guest kernel's CONFIG_HZ: the tick that samples loadavg and busy time."""
    value = probes.kconfig(guest).get("CONFIG_HZ")
    if not value:
        pytest.fail(f"{guest.kernel.name}: CONFIG_HZ unknown (kernel config not found)")
    return int(value)


@pytest.fixture
def quiet_block_polling(guest: Guest):
    """No media-change polling while witnesses are read: the guest's CD-ROM (sr0)
    is polled every 2 s by a kworker that waits in blk_execute_rq() as I/O wait
    (block/disk-events.c; events_dfl_poll_msecs, Documentation/ABI/testing/sysfs-block),
    which stray iowait and PSI io would charge to the test."""
    path = "/sys/module/block/parameters/events_dfl_poll_msecs"
    old = guest.read_text(path).strip()
    guest.write_file(path, b"0")
    yield
    if guest.usable():
        guest.write_file(path, old.encode())


@pytest.fixture
def irqs_off_task_cpu(guest: Guest):
    """Device interrupts go to the other CPUs while the tasks' CPU is watched: an
    interrupt taken from idle is charged to no /proc/stat field
    (suites/witnesses/cpu_iowait.py). Affinities the kernel manages refuse the
    write and stay (the tasks' CPU is chosen away from the busiest of those:
    suites/watch/cpus.py). One CPU: nothing to move."""
    others = tool_cpus(guest)
    if others == str(task_cpu(guest)):
        yield
        return
    saved = guest.sh("for f in /proc/irq/[0-9]*/smp_affinity_list; do echo \"$f $(cat $f)\"; done")
    guest.run(f"for f in /proc/irq/[0-9]*/smp_affinity_list; do echo {others} > $f; done 2>/dev/null")
    yield
    if guest.usable():
        restore = "; ".join(f"echo {cpus} > {path}" for path, cpus in
                            (line.split() for line in saved.splitlines() if len(line.split()) == 2))
        guest.run(f"{{ {restore}; }} 2>/dev/null")


@pytest.fixture
def delayacct(guest: Guest, sysctl) -> None:
    """Delay accounting on for tasks forked from now on (kernel.task_delayacct,
    off by default since 5.14, e4042ad49235); put back after the test. A kernel
    without CONFIG_TASK_DELAY_ACCT has no such sysctl: its witness says so."""
    if guest.run("test -w /proc/sys/kernel/task_delayacct").ok:
        sysctl.set("kernel.task_delayacct", 1)


@pytest.fixture
def dsleep(guest: Guest) -> str:
    """iowitness_dsleep built against this kernel on the host, loaded in the guest
    (the end-of-test cleanup unloads it). Returns its proc file."""
    ko = build_module(guest.kernel, "dsleep")
    guest.run(f"insmod {ko}", check=True)
    return "/proc/iowitness_dsleep"


@pytest.fixture
def slow_nullb(request, guest: Guest) -> SlowNullb:
    """The guest's slow null_blk device (see SlowNullb); loading starts here."""
    if not probes.module_available(guest, "null_blk"):
        pytest.skip(f"{guest.kernel.name}: module null_blk is neither loadable nor built in")
    devices = request.config.stash.setdefault(_NULLB, {})
    d = devices.get(id(guest))
    if d is None or d.guest is not guest:
        d = devices[id(guest)] = SlowNullb(guest)
    return d


def _removed_after(guest: Guest, fs):
    """A fixture's filesystem, removed after the test if the guest still answers."""
    yield fs
    if guest.usable():
        fs.remove()


@pytest.fixture
def frozen_ext4(guest: Guest) -> FrozenExt4:
    """An ext4 filesystem that the test can freeze; thawed and removed afterwards."""
    yield from _removed_after(guest, FrozenExt4(guest))


@pytest.fixture
def slow_journal_ext4(guest: Guest) -> SlowJournalExt4:
    """An ext4 whose journal commits take seconds; removed afterwards."""
    yield from _removed_after(guest, SlowJournalExt4(guest))


@pytest.fixture
def slow_swap(guest: Guest) -> SlowSwap:
    """Swap whose reads take seconds; switched off and removed afterwards."""
    yield from _removed_after(guest, SlowSwap(guest))


@pytest.fixture
def evidence(request, run_dir) -> Evidence:
    """The test's evidence table, written to results/<run>/evidence/ whatever the verdict."""
    kernel = kernel_of(request.node)
    ev = Evidence(request.node.nodeid, kernel)
    yield ev
    if kernel:
        agreement.of(request.config).add(kernel, ev)
    ev.save(run_dir, request.node.nodeid)
    why = ev.unasserted("passed" if call_passed(request.node) else "not passed")
    if why:
        pytest.fail(why, pytrace=False)


@pytest.fixture
def plot_path(request, run_dir):
    """Where the test's picture goes: results/<run>/plots/<test>.png."""
    return run_dir / "plots" / (results.safe_name(request.node.nodeid) + ".png")


@pytest.fixture
def scene(request, guest: Guest, block_once, hz, evidence) -> Scene:
    """The test's holds: baseline, waits, judging (suites/holds.py)."""
    return Scene(request, guest, block_once, hz, evidence)
