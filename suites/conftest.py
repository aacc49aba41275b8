"""Fixtures shared by the scenario suites: guest-side workloads and modules, the
off-CPU tracer (one per guest), witness prerequisites, and evidence tables that
are saved to the run's results."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from fixtures import WORKLOADS
from fixtures.build import build_c
from fixtures.modules import build_module
from harness import results, results_space
from suites.witnesses.evidence import Evidence
from suites.witnesses.offcpu import OffCpuTracer
from vm import probes
from vm.guest import Guest

_TRACERS = pytest.StashKey[dict]()
_NULLB = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def block_once() -> str:
    return str(build_c(WORKLOADS / "block_once.c", "-luring"))


class CpuHog:
    """fixtures/workloads/cpu_hog.c pinned to a CPU for the length of a `with`:
    killed on the way out, whatever happened inside (its own deadline is a
    backstop, and the end-of-test reap another)."""

    def __init__(self, guest: Guest, binary: str):
        self.guest, self.binary = guest, binary

    @contextmanager
    def on(self, cpu: int, backstop_s: int = 300):
        proc = self.guest.spawn(f"exec taskset -c {cpu} {self.binary} {backstop_s}")
        try:
            self.guest.wait_for_output(proc, "READY", timeout=60)
            yield proc
        finally:
            if self.guest.usable():
                self.guest.signal(proc, 9)
                self.guest.wait(proc, timeout=30)


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
def psi(guest: Guest) -> None:
    """PSI compiled in is not enough: psi=0 or CONFIG_PSI_DEFAULT_DISABLED hide it."""
    if not guest.run("test -r /proc/pressure/io").ok:
        pytest.skip(f"{guest.kernel.name}: /proc/pressure/io absent (PSI disabled at boot)")


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
def delayacct(guest: Guest, sysctl) -> None:
    """Delay accounting on for tasks forked from now on (kernel.task_delayacct,
    off by default since 5.14, e4042ad49235); put back after the test."""
    sysctl.set("kernel.task_delayacct", 1)


@pytest.fixture
def dsleep(guest: Guest) -> str:
    """iowitness_dsleep built against this kernel on the host, loaded in the guest
    (the end-of-test cleanup unloads it). Returns its proc file."""
    ko = build_module(guest.kernel, "dsleep")
    guest.run(f"insmod {ko}", check=True)
    return "/proc/iowitness_dsleep"


class SlowNullb:
    """/dev/nullb0, every request completing after NULLB_DELAY_S (null_blk
    irqmode=2: a timer per request, completion_nsec), set up once per guest.

    Loading it scans the partition table, a few reads of NULLB_DELAY_S each, in
    modprobe itself: so it is started in the background, the caller can do other
    set-up meanwhile (attach the tracer), and `device()` waits for it. udev does
    not probe nullb* (60-persistent-storage.rules lists the kernels it probes)."""

    def __init__(self, guest: Guest, delay_s: float):
        self.guest, self.delay_s = guest, delay_s
        self.path = "/dev/nullb0"
        guest.kept_modules.add("null_blk")
        self.proc = guest.spawn(f"modprobe null_blk nr_devices=1 irqmode=2 "
                                f"completion_nsec={int(delay_s * 1e9)}", keep=True)
        self.ready = False

    def device(self) -> str:
        if not self.ready:
            r = self.guest.wait(self.proc, timeout=30 * self.delay_s)
            if r.rc != 0:
                raise AssertionError(f"modprobe null_blk failed: {r.stderr.strip()}")
            # null_blk gives its requests a 5 s timeout (null_init_tag_set():
            # set->timeout = 5 * HZ), after which they fail with ETIMEDOUT.
            self.guest.write_file("/sys/block/nullb0/queue/io_timeout",
                                  str(int(self.delay_s * 6 * 1000)).encode())
            self.ready = True
        return self.path


NULLB_DELAY_S = 10.0


@pytest.fixture
def slow_nullb(request, guest: Guest) -> SlowNullb:
    """The guest's slow null_blk device (see SlowNullb); loading starts here."""
    if not probes.module_available(guest, "null_blk"):
        pytest.skip(f"{guest.kernel.name}: module null_blk is neither loadable nor built in")
    devices = request.config.stash.setdefault(_NULLB, {})
    d = devices.get(id(guest))
    if d is None or d.guest is not guest:
        d = devices[id(guest)] = SlowNullb(guest, NULLB_DELAY_S)
    return d


@pytest.fixture
def offcpu(request, guest: Guest) -> OffCpuTracer:
    """The off-CPU tracer of this guest, attached on first use and kept for the
    guest's life (a replacement guest gets a new one)."""
    tracers = request.config.stash.setdefault(_TRACERS, {})
    t = tracers.get(id(guest))
    if t is None or t.guest is not guest or not t.alive():
        t = tracers[id(guest)] = OffCpuTracer(guest)
    return t


@pytest.fixture
def evidence(request, run_dir) -> Evidence:
    """The test's evidence table, written to results/<run>/evidence/ whatever the verdict."""
    ev = Evidence(request.node.nodeid)
    yield ev
    if ev.rows:
        d = run_dir / "evidence"
        name = results.safe_name(request.node.nodeid)
        results_space.write(run_dir, d / (name + ".md"), ev.markdown())
        results_space.write(run_dir, d / (name + ".json"), json.dumps(ev.as_dict(), indent=1))  # for reports


@pytest.fixture
def plot_path(request, run_dir):
    """Where the test's picture goes: results/<run>/plots/<test>.png."""
    return run_dir / "plots" / (results.safe_name(request.node.nodeid) + ".png")
