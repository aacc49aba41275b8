"""SSH into a guest, only when asked for (GuestOptions.ssh, --vm-ssh, --shell-after).

virtme-ng makes a fresh key pair for this guest only, in the session directory
(mode 0600). The guest's SSH host keys are made there too, on the host: the
guest's sshd finds them (no key generation in an emulated CPU) and the host knows
the key to expect (no trust on first use). QEMU user networking gets
`restrict=on` (no route out of the guest) and its one forward binds 127.0.0.1.
Commands never use SSH (vm/channel.py): paramiko is imported here only.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from pathlib import Path

import paramiko

from vm.errors import BootFailed, ChannelLost

HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")  # what the guest's `ssh-keygen -A` would make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GuestSsh:
    def __init__(self, session_dir: Path, label: str):
        self.session_dir = session_dir
        self.label = label
        self.port = free_port()
        self._client: paramiko.SSHClient | None = None

    @property
    def dir(self) -> Path:
        """Where virtme-ng keeps the session's keys."""
        return self.session_dir / ".cache" / "virtme-ng" / ".ssh"

    def make_host_keys(self) -> None:
        """Where virtme-ng's sshd script looks (virtme_ssh_cache/etc/ssh; it runs
        `ssh-keygen -A` there, which keeps existing keys). Made side by side: the
        RSA key alone takes a few hundred ms."""
        d = self.dir / "etc" / "ssh"
        d.mkdir(parents=True, mode=0o700)
        makers = [subprocess.Popen(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", f"iowitness-{self.label}",
                                    "-f", str(d / f"ssh_host_{t}_key")], stdin=subprocess.DEVNULL)
                  for t in HOST_KEY_TYPES]
        if any(m.wait() != 0 for m in makers):
            raise BootFailed(f"{self.label}: ssh-keygen failed to make the guest's host keys")

    def _key(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key_file(str(self.dir / "id_virtme"))

    def host_key(self, key_type: str) -> tuple[str, str]:
        """(algorithm, base64) of the guest's public host key of that type."""
        algo, b64 = (self.dir / "etc" / "ssh" / f"ssh_host_{key_type}_key.pub").read_text().split()[:2]
        return algo, b64

    def _connect(self, timeout: float) -> paramiko.SSHClient:
        c = paramiko.SSHClient()
        for t in HOST_KEY_TYPES:  # the keys made for this guest, and no other
            algo, b64 = self.host_key(t)
            c.get_host_keys().add(f"[127.0.0.1]:{self.port}", algo, paramiko.PKey.from_type_string(
                algo, base64.b64decode(b64)))
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        c.connect("127.0.0.1", self.port, username="root", pkey=self._key(), allow_agent=False,
                  look_for_keys=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        c.get_transport().set_keepalive(15)
        return c

    def client(self, timeout: float = 120) -> paramiko.SSHClient:
        """An SSH connection to the guest as root with the session key (made on first use)."""
        deadline = time.monotonic() + timeout
        while self._client is None:
            if self.sshd_state(timeout=3) == "answers":
                try:
                    self._client = self._connect(timeout=30)
                    break
                except (OSError, paramiko.SSHException, EOFError):
                    pass
            if time.monotonic() > deadline:
                raise ChannelLost(f"{self.label}: SSH did not answer in {timeout:.0f}s")
            time.sleep(0.5)
        return self._client

    def sshd_state(self, timeout: float = 30) -> str:
        """answers: sshd sends its banner. refused: QEMU closes the forwarded
        connection at once, which it does when the guest kernel resets it (the
        kernel runs, nothing listens). silent: no banner and no reset in time."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                return "answers" if s.recv(4).startswith(b"SSH-") else "refused"
        except OSError as e:
            return "refused" if isinstance(e, ConnectionResetError) else "silent"

    def interactive_shell(self, banner: str) -> int:
        """A root shell in the guest on the user's terminal (/dev/tty, which pytest's
        output capture does not touch), with the session key; returns ssh's status."""
        try:
            tty = open("/dev/tty", "r+b", buffering=0)  # noqa: SIM115 - closed below
        except OSError:
            print("iowitness: --shell-after needs a terminal; none here", file=sys.stderr)
            return 255
        with tty:
            tty.write(banner.encode())
            known = self.dir / "known_hosts"  # the host keys made for this guest
            known.write_text("".join(f"[127.0.0.1]:{self.port} {' '.join(self.host_key(t))}\n"
                                     for t in HOST_KEY_TYPES))
            return subprocess.call(["ssh", "-t", "-i", str(self.dir / "id_virtme"), "-p", str(self.port),
                                    "-o", "LogLevel=ERROR", "-o", "StrictHostKeyChecking=yes",
                                    "-o", f"UserKnownHostsFile={known}", "root@127.0.0.1"],
                                   stdin=tty, stdout=tty, stderr=tty)

    def close(self) -> None:
        if self._client:
            self._client.close()
            self._client = None
