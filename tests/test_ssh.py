"""SSH into a guest booted with it (GuestOptions.ssh, --vm-ssh; --shell-after uses
it): the forward is on the host's loopback only, the keys are made for the session
and private, the guest serves the host key made for it, and sshd is not in the
command path. One guest of its own, booted once for the module."""

import dataclasses
import os
import stat
from pathlib import Path

import paramiko
import pytest

from vm.guest import Guest
from vm.options import GuestOptions
from vm.pool import boot_own

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def ssh_guest(request, kernel, tmp_path_factory):
    opts = GuestOptions(accel=request.config.getoption("vm_accel"),
                        boot_timeout=request.config.getoption("boot_timeout"))
    g = boot_own(kernel, dataclasses.replace(opts, ssh=True), tmp_path_factory.mktemp("ssh-guest"),
                 f"{kernel.name}-ssh")
    yield g
    g.kill()


def test_a_command_over_ssh(ssh_guest: Guest):
    _, out, _ = ssh_guest.ssh.client().exec_command("uname -r; id -u")
    assert out.read().decode().split() == [ssh_guest.kernel.version, "0"]


def test_ssh_forward_listens_on_loopback_only(ssh_guest: Guest):
    listeners = Path("/proc/net/tcp").read_text().splitlines()[1:]
    port = f":{ssh_guest.ssh.port:04X}"
    mine = [ln.split()[1] for ln in listeners if ln.split()[3] == "0A" and ln.split()[1].endswith(port)]
    assert mine == [f"0100007F{port}"]


def test_session_key_is_private(ssh_guest: Guest):
    key = ssh_guest.ssh.dir / "id_virtme"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ssh_guest.session_dir.stat().st_mode) == 0o700
    assert os.stat(key).st_uid == os.getuid()


def test_the_guests_host_key_is_the_one_made_for_it(ssh_guest: Guest):
    """The host knows the key to expect: a server with any other key is refused."""
    served = ssh_guest.ssh.client().get_transport().get_remote_server_key()
    made = [p.read_text().split()[1] for p in (ssh_guest.ssh.dir / "etc" / "ssh").glob("ssh_host_*_key.pub")]
    assert len(made) == 3 and served.get_base64() in made
    other = paramiko.Ed25519Key.from_private_key_file(str(ssh_guest.ssh.dir / "id_virtme"))
    c = paramiko.SSHClient()
    c.get_host_keys().add(f"[127.0.0.1]:{ssh_guest.ssh.port}", "ssh-ed25519", other)
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        c.connect("127.0.0.1", ssh_guest.ssh.port, username="root", pkey=other, allow_agent=False,
                  look_for_keys=False, timeout=60, banner_timeout=60, auth_timeout=60)
    c.close()


def test_sshd_killed_in_the_guest_leaves_the_channel_working(ssh_guest: Guest):
    """Commands do not go through sshd (vm/channel.py): with it gone they still run,
    and the kernel refuses a new SSH connection (what the probe reports)."""
    ssh_guest.run("pkill -9 -x sshd", timeout=60)
    assert ssh_guest.sh("echo still here") == "still here\n"
    assert ssh_guest.ssh.sshd_state() == "refused"


def test_keys_and_sockets_are_removed_with_the_guest(ssh_guest: Guest):
    home = ssh_guest.session_dir
    ssh_guest.shutdown()
    assert ssh_guest.proc.poll() is not None
    assert not home.exists()
