"""How the host's root reaches the guest (vm/rootfs.py): the choice from the
kernel's config, the virtiofsd shim's read-only bind (with a stand-in for the
daemon), and a real guest booted over the transport the others do not use."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import kernels
from tests.conftest import assert_share_refuses_writes, first_kernel
from vm import probes, rootfs
from vm.errors import BootFailed
from vm.guest import Guest
from vm.options import GuestOptions
from vm.pool import boot_own

BOTH = {"CONFIG_NET_9P": "m", "CONFIG_NET_9P_VIRTIO": "m", "CONFIG_9P_FS": "m", "CONFIG_FUSE_FS": "y",
        "CONFIG_VIRTIO_FS": "y"}
CLOUD = {"CONFIG_FUSE_FS": "y", "CONFIG_VIRTIO_FS": "y"}  # Debian's cloud flavour: no 9p at all


def test_the_transport_follows_the_kernel_config():
    assert rootfs.choose(BOTH, None, "k") == rootfs.PREFERRED[0]
    assert rootfs.choose(CLOUD, None, "k") == "virtiofs"
    assert rootfs.choose({}, None, "k") == rootfs.PREFERRED[0]  # config unknown: try the preferred one
    assert rootfs.choose(BOTH, "virtiofs", "k") == "virtiofs"
    with pytest.raises(BootFailed, match="cannot mount its root over 9p"):
        rootfs.choose(CLOUD, "9p", "k")
    with pytest.raises(BootFailed, match="neither 9p"):
        rootfs.choose({"CONFIG_FUSE_FS": "y"}, None, "k")
    assert rootfs.vng_args("9p") == ["--force-9p"] and rootfs.vng_args("virtiofs") == []
    assert rootfs.path_for("virtiofs", "/usr/bin").startswith(f"{rootfs.SHIM_DIR}:")


STAND_IN = r'''#!/usr/bin/env python3
"""Stands in for QEMU's virtiofsd: listens where asked, tries to write into its
source, says what happened, and waits to be stopped."""
import os, socket, sys
args = sys.argv[1:]
sock = next(a.split("=", 1)[1] for a in args if a.startswith("--socket-path="))
opts = [args[i + 1] for i, a in enumerate(args) if a == "-o"]
source = next(o.split("=", 1)[1] for o in opts if o.startswith("source="))
outcomes = []
for rel in os.environ["STAND_IN_TARGETS"].split(":"):
    try:
        open(os.path.join(source, rel), "w").write("x")
        outcomes.append("wrote")
    except OSError as e:
        outcomes.append(f"refused {e.errno}")
open(os.environ["STAND_IN_REPORT"], "w").write(f"{source}\n{' '.join(outcomes)}\n{' '.join(args)}\n")
s = socket.socket(socket.AF_UNIX)
s.bind(sock)
s.listen(1)
signal_wait = __import__("signal").sigwait({__import__("signal").SIGTERM})
'''


def _shim(tmp_path: Path, shared: Path, targets: list[str], *extra: str) -> tuple[subprocess.Popen, Path, Path]:
    daemon = tmp_path / "daemon"
    daemon.write_text(STAND_IN)
    daemon.chmod(0o755)
    report, sock = tmp_path / "report", tmp_path / "fs.sock"
    env = dict(os.environ, IOWITNESS_C_VIRTIOFSD=str(daemon), STAND_IN_REPORT=str(report),
               STAND_IN_TARGETS=":".join(targets))
    p = subprocess.Popen([str(rootfs.SHIM_DIR / "virtiofsd"), "--syslog", "--no-announce-submounts", *extra,
                          "--socket-path", str(sock), "--shared-dir", str(shared), "--sandbox", "none",
                          "--cache", "always"], env=env)
    deadline = time.monotonic() + 20
    while not Path(f"{sock}.pid").exists():
        assert p.poll() is None and time.monotonic() < deadline, "the shim never wrote the pid file"
        time.sleep(0.05)
    return p, report, sock


@pytest.mark.skipif(os.geteuid() != 0, reason="the read-only bind needs root (unshare -m, mount)")
def test_the_shim_serves_a_read_only_bind_and_goes_with_its_daemon(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "host-file").write_text("host")
    p, report, sock = _shim(tmp_path, shared, ["host-file", "new-file"], "--readonly")
    try:
        source, outcomes, args = report.read_text().splitlines()
        assert outcomes == "refused 30 refused 30"  # EROFS: the bind is read-only
        assert not (shared / "new-file").exists() and (shared / "host-file").read_text() == "host"
        assert source != str(shared) and "cache=always" in args and "--syslog" not in args
        assert int(Path(f"{sock}.pid").read_text()) == p.pid  # what virtme-ng signals at its exit
        # The bind lived in the daemon's mount namespace only.
        assert not any(source in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    finally:
        p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) is not None
    assert not Path(source).exists()  # its mount point is removed


@pytest.mark.skipif(os.geteuid() != 0, reason="the read-only bind needs root (unshare -m, mount)")
def test_the_hosts_root_is_read_only_with_every_mount_below_it(tmp_path):
    """What virtme-ng shares: "/". Each mount under it (here /dev/shm, /proc's
    sysctls, the test's own directory) is made read-only, not the top one alone."""
    (tmp_path / "host-file").write_text("host")
    victims = [f"{tmp_path}/host-file"[1:], "dev/shm/iowitness-rootfs-victim", "proc/sys/kernel/domainname"]
    p, report, _ = _shim(tmp_path, Path("/"), victims, "--readonly")
    try:
        assert report.read_text().splitlines()[1] == " ".join(["refused 30"] * 3)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        Path("/dev/shm/iowitness-rootfs-victim").unlink(missing_ok=True)
    assert (tmp_path / "host-file").read_text() == "host"


def test_the_shim_answers_virtme_ngs_probes():
    shim = str(rootfs.SHIM_DIR / "virtiofsd")
    assert subprocess.run([shim, "--version"], capture_output=True).returncode == 0
    assert "--readonly" in subprocess.run([shim, "--help"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def other_guest(request, tmp_path_factory):
    """The first kernel booted over the transport it does not use by default (the
    default one is every other test's guest, tests/test_safety.py among them)."""
    k = kernels.ensure(first_kernel(request.config))
    can = rootfs.supported(probes.host_kconfig(k))
    other = [t for t in rootfs.CHOICES if t in can and t != can[0]]
    if not other:
        pytest.skip(f"{k.name} mounts its root one way only: {', '.join(can)}")
    g = boot_own(k, GuestOptions(accel=request.config.getoption("vm_accel"), rootfs=other[0],
                                 boot_timeout=request.config.getoption("boot_timeout")),
                 tmp_path_factory.mktemp("other-rootfs-guest"), f"{k.name}-{other[0]}")
    yield g
    g.shutdown()


@pytest.mark.guest
def test_a_guest_over_the_other_transport_runs_and_cannot_write_the_host(other_guest: Guest):
    g = other_guest
    mounts = [ln.split() for ln in g.read_text("/proc/mounts").splitlines()]
    assert [m[2] for m in mounts if m[1] == "/"][-1] == g.rootfs, mounts[:3]
    assert g.run("uname -r").stdout.strip() == g.kernel.version
    assert_share_refuses_writes(g, "rootfs")  # under none of vng's overlays: the export itself
