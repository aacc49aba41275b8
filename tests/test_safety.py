"""The guest cannot change host files or reach host services; its keys are private."""

import os
import socket
import stat
import threading
from pathlib import Path

from vm.guest import Guest


def test_guest_cannot_write_a_host_file(guest, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("host data")
    r = guest.run(f"echo guest >> {victim}; echo guest > {victim}.new")
    assert victim.read_text() == "host data"
    assert not Path(f"{victim}.new").exists()
    assert r.rc != 0 or guest.run(f"cat {victim}").stdout != "host data"  # overlay at most, never the host


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


def test_ssh_forward_listens_on_loopback_only(guest: Guest):
    listeners = Path("/proc/net/tcp").read_text().splitlines()[1:]
    mine = [ln.split()[1] for ln in listeners if ln.split()[3] == "0A" and ln.split()[1].endswith(f":{guest.port:04X}")]
    assert mine == [f"0100007F:{guest.port:04X}"]


def test_session_key_is_private_and_removed_with_the_guest(guest: Guest):
    key = guest._home / ".cache" / "virtme-ng" / ".ssh" / "id_virtme"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(guest._home.stat().st_mode) == 0o700
    assert os.stat(key).st_uid == os.getuid()
