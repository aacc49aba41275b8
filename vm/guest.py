"""One guest: boot a kernel with virtme-ng, talk to it over the agent channel, stop it.

The parts, each in its own module: the vng command line and the private session
directory (vm/vng.py), the command channel (vm/channel.py, served in the guest by
vm/agent.py), liveness and fault diagnosis (vm/liveness.py), SSH when asked for
(vm/ssh.py). The guest is ready when the agent answers; a reaper process
(vm/reaper.py) kills QEMU and removes the session directory if this process dies.

Tests call the channel's operations on the guest itself (`guest.run(...)`,
`guest.read_files(...)`, every public method of AgentChannel): a failure of the
channel is diagnosed into one verdict (a panic, QEMU gone, the guest hung, the
agent lost) and the guest is marked dead. Adding an operation means an `op_` in
the agent and a method in the channel; nothing here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core import budget
from kernels.cache import CachedKernel
from vm import accel as accel_mod
from vm import probes, rootfs, vng
from vm.channel import REPLY_GRACE_S, AgentChannel, Background, CommandResult
from vm.errors import BootFailed, ChannelLost, GuestError
from vm.liveness import Liveness
from vm.options import GuestOptions

REPO = Path(__file__).resolve().parent.parent


class Guest:
    def __init__(self, kernel: CachedKernel, options: GuestOptions, log_dir: Path, label: str = ""):
        self.kernel = kernel
        self.options = options
        self.log_dir = Path(log_dir)
        self.label = label or kernel.name
        self.console_log = self.log_dir / f"console-{self.label}.log"
        self.proc: subprocess.Popen | None = None
        self.channel: AgentChannel | None = None
        self.liveness: Liveness | None = None
        self.ssh = None  # vm.ssh.GuestSsh, with GuestOptions.ssh
        self.dead: GuestError | None = None
        self.accel: accel_mod.Accel | None = None
        self.boot_seconds: float | None = None
        self.rootfs: str | None = None  # how the host's root reaches it (vm/rootfs.py)
        self.session_dir: Path | None = None
        self._reaper_w: int | None = None
        self._reaper: subprocess.Popen | None = None
        # Set up once for the guest's life (a slow device several tests share):
        # the end-of-test cleanup leaves these loaded.
        self.kept_modules: set[str] = set()
        self.boot_kind = budget.BOOT  # what its boot is in the run's budget (core/budget.py)

    # -- lifecycle -----------------------------------------------------------
    def aslr(self) -> bool:
        return self.options.aslr if self.options.aslr is not None else self.accel.name != "tcg"

    def command_line(self) -> list[str]:
        return vng.command_line(self.kernel.boot_target, self.options, self.session_dir,
                                tcg=self.accel.name == "tcg", aslr=self.aslr(),
                                ssh_port=self.ssh.port if self.ssh else None, rootfs=self.rootfs)

    def boot(self) -> Guest:
        with budget.spend(self.boot_kind):
            return self._boot()

    def _boot(self) -> Guest:
        t0 = time.monotonic()
        self.accel = accel_mod.choose(self.kernel.image, self.options.accel)
        self.rootfs = rootfs.choose(probes.host_kconfig(self.kernel), self.options.rootfs, self.label)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.session_dir = vng.make_session_dir(self.label)
        try:
            if self.options.ssh:
                from vm.ssh import GuestSsh  # paramiko only when SSH is asked for
                self.ssh = GuestSsh(self.session_dir, self.label)
                self.ssh.make_host_keys()
            env = vng.environment(self.session_dir, self.rootfs)
            with open(self.console_log, "ab") as con:
                self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL, stdout=con,
                                             stderr=con, env=env, cwd="/", start_new_session=True)
            r, self._reaper_w = os.pipe()
            self._reaper = subprocess.Popen([sys.executable, "-m", "vm.reaper", str(self.proc.pid), str(r),
                                             str(self.session_dir)],
                                            pass_fds=(r,), cwd=REPO, start_new_session=True)
            os.close(r)
            self.liveness = Liveness(self.label, self.proc, self.console_log, self.session_dir,
                                     tcg=self.accel.name == "tcg")
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        self.boot_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self) -> None:
        """Connect to QEMU's end of the agent port as soon as it exists, say hello,
        and wait for the agent's answer (it starts when the boot hands over to
        the hold script) while watching for a panic, vng's exit or the timeout."""
        timeout = self.options.boot_timeout
        deadline = time.monotonic() + timeout
        sock = None
        while sock is None:
            problem = self.liveness.boot_problem(deadline, timeout, "QEMU never made the agent's socket")
            if problem:
                raise problem
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(vng.agent_socket(self.session_dir)))
                sock = s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                time.sleep(0.1)
        sock.settimeout(REPLY_GRACE_S * 2)  # bounds a send that QEMU stops taking

        def boot_check():
            problem = self.liveness.boot_problem(deadline, timeout, "the agent never answered")
            if problem:
                raise problem
            self.liveness.check_agent()

        self.channel = AgentChannel(sock, check=boot_check)
        try:
            self.channel.hello(timeout=timeout + 5)
        except (TimeoutError, ChannelLost):
            problem = self.liveness.boot_problem(deadline, timeout, "the agent never answered")
            raise problem or BootFailed(f"{self.label}: the agent's port closed during boot") from None
        self.channel.check = self.liveness.check_agent
        self.liveness.connect_ping()

    def alive(self) -> bool:
        return self.dead is None and self.proc is not None and self.proc.poll() is None

    def usable(self) -> bool:
        """Alive, and the channel is in step (no request was interrupted)."""
        return self.alive() and self.channel is not None and not self.channel.broken

    def shutdown(self, timeout: float = 30) -> None:
        """Power the guest off by ending its holder command; kill it if it does not go."""
        if self.usable():
            try:
                self.channel.request("run", reply_timeout=10, cmd=f"pkill -x -f '{vng.HOLDER}'", timeout=5)
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
        if self.liveness:
            self.liveness.close()
        if self.ssh:
            self.ssh.close()
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
        if self.session_dir:
            shutil.rmtree(self.session_dir, ignore_errors=True)
            self.session_dir = None

    def __enter__(self) -> Guest:
        return self.boot() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def console_text(self) -> str:
        return self.liveness.console_text() if self.liveness else ""

    def interactive_shell(self, banner: str) -> int:
        if self.ssh is None:
            print("iowitness: this guest was booted without SSH (--vm-ssh)", file=sys.stderr)
            return 255
        return self.ssh.interactive_shell(banner)

    # -- the channel's operations, diagnosed ---------------------------------
    # Each is AgentChannel's (vm/channel.py), with a failure of the channel turned
    # into the guest's verdict (a panic, a hang, QEMU gone: vm/liveness.py).
    def _call(self, name: str, *args, **kwargs):
        if self.dead is not None:
            raise self.dead
        try:
            return getattr(self.channel, name)(*args, **kwargs)
        except (ChannelLost, TimeoutError, OSError, EOFError) as e:
            self.dead = self.liveness.diagnose(_what(name, args), e)
            raise self.dead from None

    def run(self, cmd: str, timeout: float = 60, check: bool = False, input: bytes = b"",
            env: dict | None = None, cwd: str | None = None) -> CommandResult:
        """Run a shell command in the guest; CommandTimeout if it outlives `timeout`."""
        return self._call("run", cmd, timeout=timeout, check=check, input=input, env=env, cwd=cwd)

    def sh(self, cmd: str, timeout: float = 60) -> str:
        """Run, require success, return stdout."""
        return self._call("sh", cmd, timeout=timeout)

    def spawn(self, cmd: str, env: dict | None = None, cwd: str | None = None, keep: bool = False) -> Background:
        """A background command; `keep`: it survives the end-of-test reap."""
        return self._call("spawn", cmd, env=env, cwd=cwd, keep=keep)

    def poll(self, proc: Background) -> CommandResult:
        return self._call("poll", proc)

    def poll_from(self, proc: Background, offset: int) -> tuple[int | None, bytes]:
        """(its exit status or None, its stdout from byte `offset` on)."""
        return self._call("poll_from", proc, offset)

    def running(self, proc: Background) -> bool:
        return self._call("running", proc)

    def wait(self, proc: Background, timeout: float = 60) -> CommandResult:
        return self._call("wait", proc, timeout=timeout)

    def wait_for_output(self, proc: Background, text: str, timeout: float = 60,
                        stream: str = "both") -> CommandResult:
        """Until `text` shows in its output; OutputNotSeen if it exits first or time runs out."""
        return self._call("wait_for_output", proc, text, timeout=timeout, stream=stream)

    def signal(self, proc: Background, sig: int = 15, group: bool = True) -> None:
        self._call("signal", proc, sig, group=group)

    def reap(self) -> dict:
        return self._call("reap")

    def ping(self, timeout: float = 10) -> float:
        return self._call("ping", timeout=timeout)

    def read_file(self, path: str) -> bytes:
        return self._call("read_file", path)

    def read_text(self, path: str) -> str:
        return self._call("read_text", path)

    def read_files(self, paths: list[str]) -> tuple[float, float, dict[str, str | None]]:
        """(guest monotonic before, after, {path: text or None if unreadable})."""
        return self._call("read_files", paths)

    def clock(self) -> tuple[float, float]:
        """(guest CLOCK_MONOTONIC, guest wall-clock time) at one instant."""
        return self._call("clock")

    def write_file(self, path: str, data: bytes, mode: int | None = None) -> None:
        self._call("write_file", path, data, mode=mode)

    def copy_in(self, local: Path, guest_path: str) -> None:
        self._call("copy_in", local, guest_path)

    def copy_out(self, guest_path: str, local: Path) -> None:
        self._call("copy_out", guest_path, local)


def _what(op: str, args: tuple) -> str:
    """What was being done, for a verdict: `run `dd ...``, `wait for `block_once ...``."""
    if not args:
        return op
    first = getattr(args[0], "cmd", args[0])
    text = str(first) if not isinstance(first, list | tuple) else f"{len(first)} files"
    return f"{op} `{text[:200]}`"
