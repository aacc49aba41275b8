"""One guest: boot a kernel with virtme-ng, talk to it over the agent channel, stop it.

Boot: `vng --ssh PORT --ssh-tcp` with HOME pointed at a private session directory,
so virtme-ng generates a fresh SSH key pair for this guest only (mode 0600,
removed at shutdown). The guest's SSH host keys are made there too, on the host:
the guest's sshd finds them (no key generation in an emulated CPU) and the host
knows the key to expect (no trust on first use). QEMU user networking gets `restrict=on` (no route out of
the guest) and its one forward binds 127.0.0.1. The guest runs a holder command
until we stop it; vng powers the guest off when that command ends.

Every failure of the channel is diagnosed into one verdict: a panic on the
console, QEMU gone, a guest that no longer answers SSH (hung), or just the agent
channel lost.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from kernels import tools
from kernels.cache import CachedKernel
from vm import accel as accel_mod
from vm import console
from vm.channel import AGENT_PORT, AgentChannel, Background, CommandResult
from vm.errors import BootFailed, ChannelLost, GuestError, GuestHung, KernelPanic

REPO = Path(__file__).resolve().parent.parent
HOLD_SCRIPT = Path(__file__).resolve().parent / "guest_hold.sh"
HOLDER = "sleep 987654321"  # what the hold script execs; ending it powers the guest off
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")  # what the guest's `ssh-keygen -A` would make


@dataclass(frozen=True)
class GuestOptions:
    cpus: int = 2
    memory: str = "2G"
    append: tuple[str, ...] = ()
    accel: str | None = None  # None: decide by evidence (vm.accel)
    boot_timeout: float = 300.0
    rwdirs: tuple[str, ...] = ()
    # Address-space randomization. None: off under TCG, on under KVM. TCG keys its
    # translated code by virtual address, so with ASLR every exec translates the C
    # library anew: measured here, a trivial command 40 -> 18 ms, `cat` 85 -> 41 ms.
    # No scenario depends on it; `--vm-aslr on` keeps it.
    aslr: bool | None = None
    extra_vng: tuple[str, ...] = field(default=())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




class Guest:
    def __init__(self, kernel: CachedKernel, options: GuestOptions, log_dir: Path, label: str = ""):
        self.kernel = kernel
        self.options = options
        self.log_dir = Path(log_dir)
        self.label = label or kernel.name
        self.console_log = self.log_dir / f"console-{self.label}.log"
        self.proc: subprocess.Popen | None = None
        self.channel: AgentChannel | None = None
        self.client: paramiko.SSHClient | None = None
        self.dead: GuestError | None = None
        self.accel: accel_mod.Accel | None = None
        self.boot_seconds: float | None = None
        self._home: Path | None = None
        self._reaper_w: int | None = None
        self._reaper: subprocess.Popen | None = None
        self.port: int | None = None
        # Set up once for the guest's life (a slow device several tests share):
        # the end-of-test cleanup leaves these loaded.
        self.kept_modules: set[str] = set()

    # -- lifecycle -----------------------------------------------------------
    def command_line(self) -> list[str]:
        o = self.options
        cmd = [tools.vng(), "-v", "-r", str(self.kernel.boot_target), "--cpus", str(o.cpus),
               "--memory", o.memory, "--ssh", str(self.port), "--ssh-tcp",
               "--qemu-opts=-set netdev.ssh.restrict=on"]
        if self.accel.name == "tcg":
            cmd.append("--disable-kvm")
        for d in o.rwdirs:
            cmd += ["--rwdir", d]
        append = list(o.append)
        if not self.aslr():
            append.append("norandmaps")  # kernel.randomize_va_space = 0 from boot
        if append:
            cmd += ["--append", " ".join(append)]
        return cmd + list(o.extra_vng) + ["--exec", f"/bin/sh {HOLD_SCRIPT} {AGENT_PORT}"]

    def aslr(self) -> bool:
        return self.options.aslr if self.options.aslr is not None else self.accel.name != "tcg"

    def _ssh_dir(self) -> Path:
        return self._home / ".cache" / "virtme-ng" / ".ssh"

    def _make_host_keys(self) -> None:
        """Where virtme-ng's sshd script looks (virtme_ssh_cache/etc/ssh; it runs
        `ssh-keygen -A` there, which keeps existing keys)."""
        d = self._ssh_dir() / "etc" / "ssh"
        d.mkdir(parents=True, mode=0o700)
        for t in HOST_KEY_TYPES:
            subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", f"iowitness-{self.label}",
                            "-f", str(d / f"ssh_host_{t}_key")], check=True, stdin=subprocess.DEVNULL)

    def boot(self) -> Guest:
        t0 = time.monotonic()
        self.accel = accel_mod.choose(self.kernel.image, self.options.accel)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._home = Path(tempfile.mkdtemp(prefix="iowitness-vm-"))  # 0700: keys live here
        self.port = free_port()
        self._make_host_keys()
        env = tools.env(HOME=str(self._home))
        with open(self.console_log, "ab") as con:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL, stdout=con,
                                         stderr=con, env=env, cwd="/", start_new_session=True)
        r, self._reaper_w = os.pipe()
        self._reaper = subprocess.Popen([sys.executable, "-m", "vm.reaper", str(self.proc.pid), str(r)],
                                        pass_fds=(r,), cwd=REPO, start_new_session=True)
        os.close(r)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        self.boot_seconds = time.monotonic() - t0
        return self

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
            key = self._ssh_dir() / "id_virtme"
            known = self._ssh_dir() / "known_hosts"  # the host keys made for this guest
            known.write_text("".join(f"[127.0.0.1]:{self.port} {' '.join(self._host_key(t))}\n"
                                     for t in HOST_KEY_TYPES))
            return subprocess.call(["ssh", "-t", "-i", str(key), "-p", str(self.port), "-o", "LogLevel=ERROR",
                                    "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                                    "root@127.0.0.1"], stdin=tty, stdout=tty, stderr=tty)

    def _key(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key_file(str(self._ssh_dir() / "id_virtme"))

    def _host_key(self, key_type: str) -> tuple[str, str]:
        """(algorithm, base64) of the guest's public host key of that type."""
        algo, b64 = (self._ssh_dir() / "etc" / "ssh" / f"ssh_host_{key_type}_key.pub").read_text().split()[:2]
        return algo, b64

    def _connect(self, timeout: float) -> paramiko.SSHClient:
        c = paramiko.SSHClient()
        for t in HOST_KEY_TYPES:  # the keys made for this guest, and no other
            algo, b64 = self._host_key(t)
            c.get_host_keys().add(f"[127.0.0.1]:{self.port}", algo, paramiko.PKey.from_type_string(
                algo, base64.b64decode(b64)))
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        c.connect("127.0.0.1", self.port, username="root", pkey=self._key(), allow_agent=False,
                  look_for_keys=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        c.get_transport().set_keepalive(15)
        return c

    def _sshd_answers(self) -> bool:
        """True once the guest's sshd sends its banner (QEMU accepts the TCP
        connection long before that, and paramiko logs every early failure)."""
        return self._sshd_state(timeout=3) == "answers"

    def _qemu_gone(self) -> bool:
        """Nothing listens on the forward any more: QEMU is gone; vng follows it."""
        if self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                return False
            except ConnectionRefusedError:
                pass
            except OSError:
                return False
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                return False
        return True

    def _sshd_state(self, timeout: float = 30) -> str:
        """answers: sshd sends its banner. refused: QEMU closes the forwarded
        connection at once, which it does when the guest kernel resets it (the
        kernel runs, nothing listens). silent: no banner and no reset in time."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                return "answers" if s.recv(4).startswith(b"SSH-") else "refused"
        except OSError as e:
            return "refused" if isinstance(e, ConnectionResetError) else "silent"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.boot_timeout
        while True:
            text = self.console_text()
            panic = console.find_panic(text)
            if panic:
                raise KernelPanic(f"{self.label}: kernel panic during boot:\n{panic}")
            if self.proc.poll() is not None:
                tail = "\n".join(text.strip().splitlines()[-15:])
                raise BootFailed(f"{self.label}: vng exited with {self.proc.returncode} before the guest "
                                 f"was ready; console tail:\n{tail}")
            if time.monotonic() > deadline:
                tail = "\n".join(text.strip().splitlines()[-15:])
                why = "SSH answers, the agent never listened" if self.client else "no SSH"
                raise BootFailed(f"{self.label}: not ready after {self.options.boot_timeout:.0f}s "
                                 f"({why}); console tail:\n{tail}")
            if not self._sshd_answers():
                time.sleep(0.25)
                continue
            try:
                if self.client is None:
                    self.client = self._connect(timeout=10)
                self.channel = AgentChannel(self.client)
                return
            except paramiko.ChannelException:
                time.sleep(0.25)  # SSH is up, the agent not listening yet
            except (OSError, paramiko.SSHException, EOFError, ChannelLost, TimeoutError):
                if self.client:
                    self.client.close()
                self.client = None
                time.sleep(0.5)

    def alive(self) -> bool:
        return self.dead is None and self.proc is not None and self.proc.poll() is None

    def usable(self) -> bool:
        """Alive, and the channel is in step (no request was interrupted)."""
        return self.alive() and self.channel is not None and not self.channel.broken

    def shutdown(self, timeout: float = 30) -> None:
        """Power the guest off by ending its holder command; kill it if it does not go."""
        if self.usable():
            try:
                self.channel.request("run", reply_timeout=10, cmd=f"pkill -x -f '{HOLDER}'", timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """Stop everything this guest started, whatever state it is in."""
        if self.channel:
            self.channel.close()
        if self.client:
            self.client.close()
        if self.proc and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc:
            try:  # QEMU may outlive vng in the same group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._reaper_w is not None:
            os.close(self._reaper_w)
            self._reaper_w = None
        if self._reaper:
            try:
                self._reaper.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def __enter__(self) -> Guest:
        return self.boot() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- diagnosis -----------------------------------------------------------
    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def diagnose(self, what: str) -> GuestError:
        """Why the channel failed, as a verdict. Marks the guest dead."""
        time.sleep(1)  # let a panic reach the console log
        panic = console.find_panic(self.console_text())
        if panic:
            err: GuestError = KernelPanic(f"{self.label}: kernel panic during {what}:\n{panic}")
        elif self._qemu_gone():
            err = GuestError(f"{self.label}: QEMU exited (vng rc {self.proc.returncode}) during {what}")
        else:
            sshd = self._sshd_state()
            if sshd == "answers":
                err = ChannelLost(f"{self.label}: the agent channel was lost during {what}; SSH still answers")
            elif sshd == "refused":
                err = ChannelLost(f"{self.label}: the guest's sshd no longer listens (its kernel refuses the "
                                  f"connection) during {what}")
            else:
                err = GuestHung(f"{self.label}: the guest stopped answering (no agent, no SSH) during {what}")
        self.dead = err
        return err

    def _call(self, what: str, fn, *args, **kwargs):
        if self.dead is not None:
            raise self.dead
        try:
            return fn(*args, **kwargs)
        except (ChannelLost, TimeoutError, OSError, EOFError, paramiko.SSHException):
            raise self.diagnose(what) from None

    # -- the guest API tests use -------------------------------------------------
    def run(self, cmd: str, timeout: float = 60, check: bool = False, **kw) -> CommandResult:
        return self._call(f"`{cmd}`", self.channel.run, cmd, timeout=timeout, check=check, **kw)

    def sh(self, cmd: str, timeout: float = 60) -> str:
        """Run, require success, return stdout."""
        return self.run(cmd, timeout=timeout, check=True).stdout

    def spawn(self, cmd: str, **kw) -> Background:
        return self._call(f"spawn `{cmd}`", self.channel.spawn, cmd, **kw)

    def poll(self, proc: Background) -> CommandResult:
        return self._call("poll", self.channel.poll, proc)

    def wait(self, proc: Background, timeout: float = 60) -> CommandResult:
        return self._call(f"wait for `{proc.cmd}`", self.channel.wait, proc, timeout=timeout)

    def signal(self, proc: Background, sig: int = signal.SIGTERM, group: bool = True) -> None:
        self._call("signal", self.channel.signal, proc, sig, group)

    def reap(self) -> dict:
        return self._call("reap", self.channel.reap)

    def ping(self, timeout: float = 10) -> float:
        return self._call("ping", self.channel.ping, timeout)

    def wait_for_output(self, proc: Background, text: str, timeout: float = 60,
                        stream: str = "both") -> CommandResult:
        """Poll a background process until `text` shows in its output; fail if it exits first."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            r = self.poll(proc)
            seen = {"stdout": r.stdout, "stderr": r.stderr, "both": r.stdout + r.stderr}[stream]
            if text in seen:
                return r
            if r.rc is not None:
                raise AssertionError(f"`{proc.cmd}` exited ({r.rc}) before printing {text!r}:\n"
                                     f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"`{proc.cmd}` did not print {text!r} in {timeout}s:\n"
                                     f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def read_file(self, path: str) -> bytes:
        return self._call(f"read {path}", self.channel.read_file, path)

    def read_text(self, path: str) -> str:
        return self.read_file(path).decode("utf-8", "replace")

    def read_files(self, paths: list[str]) -> tuple[float, float, dict[str, str | None]]:
        return self._call("read files", self.channel.read_files, paths)

    def write_file(self, path: str, data: bytes, mode: int | None = None) -> None:
        self._call(f"write {path}", self.channel.write_file, path, data, mode)

    def copy_in(self, local: Path, guest_path: str) -> None:
        self._call(f"copy in {local}", self.channel.copy_in, local, guest_path)

    def copy_out(self, guest_path: str, local: Path) -> None:
        self._call(f"copy out {guest_path}", self.channel.copy_out, guest_path, local)
