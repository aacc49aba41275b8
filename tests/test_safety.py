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


def test_agent_listens_on_the_guests_loopback_only(guest: Guest):
    from vm.channel import AGENT_PORT
    rows = [ln.split() for ln in guest.read_text("/proc/net/tcp").splitlines()[1:]]
    listening = [r[1] for r in rows if r[3] == "0A" and r[1].endswith(f":{AGENT_PORT:04X}")]
    assert listening == [f"0100007F:{AGENT_PORT:04X}"]


def test_the_guests_host_key_is_the_one_made_for_it(guest: Guest):
    """The host knows the key to expect: a server with any other key is refused."""
    import paramiko
    import pytest
    served = guest.client.get_transport().get_remote_server_key()
    made = [p.read_text().split()[1] for p in (guest._ssh_dir() / "etc" / "ssh").glob("ssh_host_*_key.pub")]
    assert len(made) == 3 and served.get_base64() in made
    other = paramiko.Ed25519Key.from_private_key_file(str(guest._ssh_dir() / "id_virtme"))
    c = paramiko.SSHClient()
    c.get_host_keys().add(f"[127.0.0.1]:{guest.port}", "ssh-ed25519", other)
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        c.connect("127.0.0.1", guest.port, username="root", pkey=other, allow_agent=False, look_for_keys=False,
                  timeout=60, banner_timeout=60, auth_timeout=60)
    c.close()
