"""The guest cannot change host files or reach host services; the agent's socket is private.
SSH's own safety (forward, keys) is in tests/test_ssh.py."""

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from tests.conftest import assert_share_refuses_writes
from vm.guest import Guest
from vm.vng import agent_socket

pytestmark = pytest.mark.guest


def test_guest_cannot_write_a_host_file(guest, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("host data")
    r = guest.run(f"echo guest >> {victim}; echo guest > {victim}.new")
    assert victim.read_text() == "host data"
    assert not Path(f"{victim}.new").exists()
    assert r.rc != 0 or guest.run(f"cat {victim}").stdout != "host data"  # overlay at most, never the host


def test_guest_cannot_write_the_shared_root_itself(guest):
    """A host directory under none of vng's overlays (/etc, /tmp, /usr, ...): a
    write there reaches the host's root as the guest sees it, 9p or virtio-fs
    (vm/rootfs.py), and must be refused, not merely hidden."""
    assert_share_refuses_writes(guest, "safety")


def test_guest_cannot_reach_a_host_loopback_service(guest):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    accepted = []

    def accept():
        srv.settimeout(15)
        try:
            accepted.append(srv.accept())
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    # 10.0.2.2 is the host as QEMU user networking presents it; restrict=on must drop it.
    r = guest.run(f"timeout 10 bash -c 'exec 3<>/dev/tcp/10.0.2.2/{port}' && echo CONNECTED", timeout=30)
    t.join()
    srv.close()
    assert "CONNECTED" not in r.stdout
    assert accepted == []


def test_the_agent_has_no_network_listener(guest: Guest):
    """The command agent serves a virtio-serial port, not a socket: no TCP
    listener in the guest, but sshd's (port 22) when it was booted with SSH."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        rows = [ln.split() for ln in guest.read_text(table).splitlines()[1:]]
        ports |= {int(r[1].rsplit(":", 1)[1], 16) for r in rows if r[3] == "0A"}
    assert ports == ({22} if guest.options.ssh else set())
    assert guest.run(f"ls -l /proc/{guest.channel.agent_pid}/fd | grep -c 'socket:'").stdout.strip() == "0"


def test_the_agent_socket_is_in_the_private_session_directory(guest: Guest):
    sock = agent_socket(guest.session_dir)
    assert stat.S_ISSOCK(sock.stat().st_mode) and sock.parent == guest.session_dir
    assert stat.S_IMODE(guest.session_dir.stat().st_mode) == 0o700 and guest.session_dir.stat().st_uid == os.getuid()
