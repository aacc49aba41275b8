"""One guest: boot a kernel with virtme-ng, talk to it over the agent channel, stop it.

Boot: `vng` with HOME pointed at a private session directory (mode 0700, removed
at shutdown) and two virtio-serial ports whose QEMU ends are unix sockets in that
directory: the command agent's (vm/channel.py; the guest is ready when the agent
answers) and a shell ping loop's (is the guest still running tasks?).

SSH only with GuestOptions.ssh (`--ssh PORT --ssh-tcp`, for an interactive shell):
virtme-ng generates a fresh SSH key pair for this guest only in the session
directory (mode 0600). The guest's SSH host keys are made there too, on the host:
the guest's sshd finds them (no key generation in an emulated CPU) and the host
knows the key to expect (no trust on first use). QEMU user networking gets `restrict=on` (no route out of
the guest) and its one forward binds 127.0.0.1. The guest runs a holder command
until we stop it; vng powers the guest off when that command ends.

Every failure of the channel is diagnosed into one verdict: a panic on the
console, QEMU gone, a guest whose ping loop no longer answers either (hung), or
just the agent lost (its exit is logged to the console by the hold script).
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
from vm.channel import AGENT_PORT_NAME, REPLY_GRACE_S, AgentChannel, Background, CommandResult
from vm.errors import BootFailed, ChannelLost, GuestError, GuestHung, KernelPanic

REPO = Path(__file__).resolve().parent.parent
HOLD_SCRIPT = Path(__file__).resolve().parent / "guest_hold.sh"
HOLDER = "sleep 987654321"  # what the hold script execs; ending it powers the guest off
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")  # what the guest's `ssh-keygen -A` would make
AGENT_EXITED = "iowitness-agent: exited"  # what vm/guest_hold.sh logs if the agent ends
PING_PORT_NAME = "iowitness.ping"  # a shell loop in the guest answers "pong": the kernel still runs tasks


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
    # SSH into the guest (an interactive shell, SSH's own tests, the naive figure
    # of the bench). Off by default: commands do not use it, and the NIC and
    # sshd it needs delay the end of udev's coldplug by ~1.5 s under TCG.
    ssh: bool = False


SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with the NUL (unix(7))
SESSION_PATH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/-.")


def session_dir_problem(session_dir: Path) -> str | None:
    """Why QEMU could not put its sockets in this directory, or None. vng hands the
    -chardev option to a shell and QEMU splits it at commas, so the path is kept to
    plain characters; a unix socket path has a length limit."""
    longest = str(session_dir / "agent.sock")
    if set(longest) - SESSION_PATH_CHARS:
        return f"session dir {session_dir} has characters QEMU's -chardev path cannot take"
    if len(longest) > SUN_PATH_MAX:
        return f"session dir {session_dir} is too long for a unix socket path ({len(longest)} > {SUN_PATH_MAX})"
    return None


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
        self._console_seen = 0  # console bytes already looked at for the agent's exit
        self._ping: socket.socket | None = None
        # Set up once for the guest's life (a slow device several tests share):
        # the end-of-test cleanup leaves these loaded.
        self.kept_modules: set[str] = set()

    # -- lifecycle -----------------------------------------------------------
    def command_line(self) -> list[str]:
        o = self.options
        cmd = [tools.vng(), "-v", "-r", str(self.kernel.boot_target), "--cpus", str(o.cpus),
               "--memory", o.memory,
               # vng hands these to a shell: session_dir_problem keeps the path plain
               *self._port_opts("iowagent", self._agent_socket(), AGENT_PORT_NAME),
               *self._port_opts("iowping", self._ping_socket(), PING_PORT_NAME)]
        if o.ssh:
            cmd += ["--ssh", str(self.port), "--ssh-tcp", "--qemu-opts=-set netdev.ssh.restrict=on"]
        if self.accel.name == "tcg":
            cmd.append("--disable-kvm")
        for d in o.rwdirs:
            cmd += ["--rwdir", d]
        append = list(o.append)
        if not self.aslr():
            append.append("norandmaps")  # kernel.randomize_va_space = 0 from boot
        if append:
            cmd += ["--append", " ".join(append)]
        return cmd + list(o.extra_vng) + ["--exec", f"/bin/sh {HOLD_SCRIPT} {AGENT_PORT_NAME} {PING_PORT_NAME}"]

    @staticmethod
    def _port_opts(chardev: str, path: Path, name: str) -> list[str]:
        return [f"--qemu-opts=-chardev socket,id={chardev},path={path},server=on,wait=off",
                f"--qemu-opts=-device virtserialport,chardev={chardev},name={name}"]

    def _agent_socket(self) -> Path:
        return self._home / "agent.sock"

    def _ping_socket(self) -> Path:
        return self._home / "ping.sock"

    def aslr(self) -> bool:
        return self.options.aslr if self.options.aslr is not None else self.accel.name != "tcg"

    def _ssh_dir(self) -> Path:
        return self._home / ".cache" / "virtme-ng" / ".ssh"

    def _make_host_keys(self) -> None:
        """Where virtme-ng's sshd script looks (virtme_ssh_cache/etc/ssh; it runs
        `ssh-keygen -A` there, which keeps existing keys). Made side by side: the
        RSA key alone takes a few hundred ms."""
        d = self._ssh_dir() / "etc" / "ssh"
        d.mkdir(parents=True, mode=0o700)
        makers = [subprocess.Popen(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", f"iowitness-{self.label}",
                                    "-f", str(d / f"ssh_host_{t}_key")], stdin=subprocess.DEVNULL)
                  for t in HOST_KEY_TYPES]
        if any(m.wait() != 0 for m in makers):
            raise BootFailed(f"{self.label}: ssh-keygen failed to make the guest's host keys")

    def boot(self) -> Guest:
        t0 = time.monotonic()
        self.accel = accel_mod.choose(self.kernel.image, self.options.accel)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._home = Path(tempfile.mkdtemp(prefix="iowitness-vm-"))  # 0700: keys live here
        problem = session_dir_problem(self._home)
        if problem:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
            raise BootFailed(f"{self.label}: {problem}; set TMPDIR to a short plain path")
        if self.options.ssh:
            self.port = free_port()
            self._make_host_keys()
        env = tools.env(HOME=str(self._home))
        with open(self.console_log, "ab") as con:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL, stdout=con,
                                         stderr=con, env=env, cwd="/", start_new_session=True)
        r, self._reaper_w = os.pipe()
        self._reaper = subprocess.Popen([sys.executable, "-m", "vm.reaper", str(self.proc.pid), str(r),
                                         str(self._home)],
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
        if not self.options.ssh:
            print("iowitness: this guest was booted without SSH (--vm-ssh)", file=sys.stderr)
            return 255
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

    def ssh_client(self, timeout: float = 120) -> paramiko.SSHClient:
        """An SSH connection to the guest as root with the session key (made on
        first use; the command channel does not need it)."""
        if not self.options.ssh:
            raise GuestError(f"{self.label}: booted without SSH (GuestOptions.ssh, --vm-ssh)")
        deadline = time.monotonic() + timeout
        while self.client is None:
            if self._sshd_state(timeout=3) == "answers":
                try:
                    self.client = self._connect(timeout=30)
                    break
                except (OSError, paramiko.SSHException, EOFError):
                    pass
            if time.monotonic() > deadline:
                raise ChannelLost(f"{self.label}: SSH did not answer in {timeout:.0f}s")
            time.sleep(0.5)
        return self.client

    def _qemu_gone(self) -> bool:
        """QEMU no longer accepts on its end of the ping port: it is gone; vng follows it."""
        if self.proc.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(str(self._ping_socket()))
                return False
            except (ConnectionRefusedError, FileNotFoundError):
                pass
            except OSError:
                return False
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                return False
        return True

    def _guest_answers(self, timeout: float = 30) -> bool:
        """The shell loop on the ping port answers: the kernel still schedules tasks."""
        if self._ping is None:
            return False
        try:
            self._ping.setblocking(False)
            try:
                while self._ping.recv(4096):  # stale pongs of an earlier, late probe
                    pass
            except BlockingIOError:
                pass
            self._ping.settimeout(timeout)
            self._ping.sendall(b"ping\n")
            seen, deadline = b"", time.monotonic() + timeout
            while b"pong" not in seen:
                self._ping.settimeout(max(0.01, deadline - time.monotonic()))
                data = self._ping.recv(64)
                if not data:
                    return False
                seen += data
            return True
        except OSError:
            return False

    def _sshd_state(self, timeout: float = 30) -> str:
        """answers: sshd sends its banner. refused: QEMU closes the forwarded
        connection at once, which it does when the guest kernel resets it (the
        kernel runs, nothing listens). silent: no banner and no reset in time."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                return "answers" if s.recv(4).startswith(b"SSH-") else "refused"
        except OSError as e:
            return "refused" if isinstance(e, ConnectionResetError) else "silent"

    def _boot_problem(self, deadline: float, why: str) -> GuestError | None:
        """A panic, vng gone or the boot timeout, as the error to raise."""
        text = self.console_text()
        panic = console.find_panic(text)
        if panic:
            return KernelPanic(f"{self.label}: kernel panic during boot:\n{panic}")
        tail = "\n".join(text.strip().splitlines()[-15:])
        if self.proc.poll() is not None:
            return BootFailed(f"{self.label}: vng exited with {self.proc.returncode} before the guest "
                              f"was ready; console tail:\n{tail}")
        if time.monotonic() > deadline:
            return BootFailed(f"{self.label}: not ready after {self.options.boot_timeout:.0f}s "
                              f"({why}); console tail:\n{tail}")
        return None

    def _wait_ready(self) -> None:
        """Connect to QEMU's end of the agent port as soon as it exists, say hello,
        and wait for the agent's answer (it starts when the boot hands over to
        the hold script) while watching for a panic, vng's exit or the timeout."""
        deadline = time.monotonic() + self.options.boot_timeout
        sock = None
        while sock is None:
            problem = self._boot_problem(deadline, "QEMU never made the agent's socket")
            if problem:
                raise problem
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(self._agent_socket()))
                sock = s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                time.sleep(0.1)
        sock.settimeout(REPLY_GRACE_S * 2)  # bounds a send that QEMU stops taking

        def boot_check():
            problem = self._boot_problem(deadline, "the agent never answered")
            if problem:
                raise problem
            self._check_agent()

        self.channel = AgentChannel(sock, check=boot_check)
        try:
            self.channel.hello(timeout=self.options.boot_timeout + 5)
        except (TimeoutError, ChannelLost):
            problem = self._boot_problem(deadline, "the agent never answered")
            raise problem or BootFailed(f"{self.label}: the agent's port closed during boot") from None
        self.channel.check = self._check_agent
        self._ping = socket.socket(socket.AF_UNIX)
        self._ping.connect(str(self._ping_socket()))

    def _check_agent(self) -> None:
        """Raise ChannelLost if the console says the agent exited or the kernel
        panicked (new console output only: the log keeps growing)."""
        try:
            with open(self.console_log, "rb") as f:
                f.seek(self._console_seen)
                new = f.read()
        except FileNotFoundError:
            return
        # Keep a line's worth of overlap: a marker may be cut by the last read.
        self._console_seen += max(0, len(new) - 200)
        text = new.decode(errors="replace")
        if AGENT_EXITED in text:
            line = next(ln for ln in text.splitlines() if AGENT_EXITED in ln)
            raise ChannelLost(f"the agent ended in the guest: {line.strip()}")
        if console.find_panic(text):
            raise ChannelLost("the kernel panicked")

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
        if self._ping:
            self._ping.close()
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

    def diagnose(self, what: str, cause: BaseException | None = None) -> GuestError:
        """Why the channel failed, as a verdict. Marks the guest dead."""
        time.sleep(1)  # let a panic reach the console log
        panic = console.find_panic(self.console_text())
        if panic:
            err: GuestError = KernelPanic(f"{self.label}: kernel panic during {what}:\n{panic}")
        elif self._qemu_gone():
            err = GuestError(f"{self.label}: QEMU exited (vng rc {self.proc.returncode}) during {what}")
        elif self._guest_answers():
            why = f" ({cause})" if cause is not None and str(cause) else ""
            err = ChannelLost(f"{self.label}: the agent channel was lost during {what}{why}; the guest "
                              f"still answers")
        else:
            err = GuestHung(f"{self.label}: the guest stopped answering (no agent, no ping) during {what}")
        self.dead = err
        return err

    def _call(self, what: str, fn, *args, **kwargs):
        if self.dead is not None:
            raise self.dead
        try:
            return fn(*args, **kwargs)
        except (ChannelLost, TimeoutError, OSError, EOFError) as e:
            raise self.diagnose(what, e) from None

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
