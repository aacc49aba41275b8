"""The fast command channel: a virtio-serial port between the host and the guest agent.

QEMU backs the port with a unix socket in the guest's private session directory
(mode 0700) and the agent (vm/agent.py) serves the port inside the guest, so a
command is one JSON line each way through QEMU: no network, no sshd, no shell
set-up, and nothing on the boot's critical path but the agent's own start.

A virtio-serial port carries bytes only: if the agent dies, the host end stays
connected and just hears nothing. So while it waits for a reply the channel
calls `check` about once a second, and the guest raises from there when its
console says the agent exited or the kernel panicked.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vm.errors import AgentError, ChannelLost, CommandFailed, CommandTimeout, OutputNotSeen

# How long past a command's own timeout the host waits for the agent's reply
# before it suspects the guest: TCG guests under load answer slowly.
REPLY_GRACE_S = 60.0


@dataclass(frozen=True)
class CommandResult:
    cmd: str
    rc: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> CommandResult:
        if self.timed_out:
            raise CommandTimeout(self.cmd, self.duration, self)
        if self.rc != 0:
            raise CommandFailed(self)
        return self


@dataclass(frozen=True)
class Background:
    """A process started in the guest with spawn(); the agent keeps its output."""

    pid: int
    cmd: str


def _text(b64: str) -> str:
    return base64.b64decode(b64).decode("utf-8", "replace")


class AgentChannel:
    def __init__(self, sock: socket.socket, check: Callable[[], None] | None = None):
        """`sock`: connected to QEMU's end of the port. `check`: raises when the
        guest can no longer answer (called while waiting)."""
        self._sock = sock
        self.check = check
        self._lock = threading.Lock()
        self._buf = b""
        self.broken = False  # a request was interrupted: its reply is still on the way
        self.agent_pid: int | None = None

    def hello(self, timeout: float) -> None:
        """Wait for the agent to answer (at boot: until it has started)."""
        self.agent_pid = self.request("hello", reply_timeout=timeout)["pid"]

    # -- transport ---------------------------------------------------------
    def _read_line(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            r, _, _ = select.select([self._sock], [], [], min(left, 1.0))
            if r:
                data = self._sock.recv(1 << 20)
                if not data:
                    raise ChannelLost("the agent port's socket closed (QEMU is gone)")
                self._buf += data
            elif self.check is not None:
                self.check()
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, op: str, reply_timeout: float | None = None, **fields) -> dict:
        """One round trip. TimeoutError if the agent does not answer in time."""
        with self._lock:
            if self.broken:
                raise ChannelLost("the agent channel was interrupted mid-request")
            try:
                self._sock.sendall((json.dumps({"op": op, **fields}) + "\n").encode())
                reply = self._read_line(reply_timeout if reply_timeout is not None else REPLY_GRACE_S)
            except (OSError, EOFError) as e:
                self.broken = True
                raise ChannelLost(f"agent channel failed: {e}") from None
            except BaseException:
                # Timeout, Ctrl-C, SIGTERM: replies would now be out of step with requests.
                self.broken = True
                raise
        if not reply.pop("ok"):
            raise AgentError(f"agent {op} failed: {reply['error']}")
        return reply

    # -- commands ----------------------------------------------------------
    def run(self, cmd: str, timeout: float = 60, check: bool = False, input: bytes = b"",
            env: dict | None = None, cwd: str | None = None) -> CommandResult:
        """Run a shell command in the guest; CommandTimeout if it outlives `timeout`."""
        r = self.request("run", reply_timeout=timeout + REPLY_GRACE_S, cmd=cmd, timeout=timeout,
                         input=base64.b64encode(input).decode(), env=env, cwd=cwd)
        res = CommandResult(cmd, r["rc"], _text(r["stdout"]), _text(r["stderr"]), r["duration"],
                            r["timed_out"])
        if res.timed_out:
            raise CommandTimeout(cmd, timeout, res)
        return res.check() if check else res

    def sh(self, cmd: str, timeout: float = 60) -> str:
        """Run, require success, return stdout."""
        return self.run(cmd, timeout=timeout, check=True).stdout

    def spawn(self, cmd: str, env: dict | None = None, cwd: str | None = None,
              keep: bool = False) -> Background:
        """keep: survives the end-of-test reap (for a tracer that serves several tests)."""
        return Background(self.request("spawn", cmd=cmd, env=env, cwd=cwd, keep=keep)["pid"], cmd)

    def poll(self, proc: Background) -> CommandResult:
        r = self.request("poll", pid=proc.pid)
        return CommandResult(proc.cmd, r["rc"], _text(r["stdout"]), _text(r["stderr"]), 0.0)

    def poll_from(self, proc: Background, offset: int) -> tuple[int | None, bytes]:
        """(its exit status or None, its stdout from byte `offset` on)."""
        r = self.request("poll_from", pid=proc.pid, offset=offset)
        return r["rc"], base64.b64decode(r["stdout"])

    def running(self, proc: Background) -> bool:
        """Still running: False once it has exited, or once the end-of-test reap has
        forgotten it (exited processes, kept or not, are reaped with the rest)."""
        try:
            return self.poll(proc).rc is None
        except AgentError:
            return False

    def wait(self, proc: Background, timeout: float = 60) -> CommandResult:
        t0 = time.monotonic()
        r = self.request("wait", reply_timeout=timeout + REPLY_GRACE_S, pid=proc.pid, timeout=timeout)
        res = CommandResult(proc.cmd, r["rc"], _text(r["stdout"]), _text(r["stderr"]),
                            time.monotonic() - t0, r["rc"] is None)
        if res.timed_out:
            raise CommandTimeout(proc.cmd, timeout, res)
        return res

    def wait_for_output(self, proc: Background, text: str, timeout: float = 60,
                        stream: str = "both") -> CommandResult:
        """Poll a background process until `text` shows in its output; OutputNotSeen
        if it exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            r = self.poll(proc)
            seen = {"stdout": r.stdout, "stderr": r.stderr, "both": r.stdout + r.stderr}[stream]
            if text in seen:
                return r
            if r.rc is not None:
                raise OutputNotSeen(f"`{proc.cmd}` exited ({r.rc}) before printing {text!r}:\n"
                                    f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}", rc=r.rc)
            if time.monotonic() > deadline:
                raise OutputNotSeen(f"`{proc.cmd}` did not print {text!r} in {timeout}s:\n"
                                    f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def signal(self, proc: Background, sig: int = 15, group: bool = True) -> None:
        self.request("signal", pid=proc.pid, signal=int(sig), group=group)

    def reap(self) -> dict:
        return self.request("reap", reply_timeout=REPLY_GRACE_S + 10)

    def ping(self, timeout: float = 10) -> float:
        t0 = time.monotonic()
        self.request("ping", reply_timeout=timeout)
        return time.monotonic() - t0

    def read_file(self, path: str) -> bytes:
        return base64.b64decode(self.request("read_file", path=path)["data"])

    def read_text(self, path: str) -> str:
        return self.read_file(path).decode("utf-8", "replace")

    def read_files(self, paths: list[str]) -> tuple[float, float, dict[str, str | None]]:
        """(guest monotonic before, after, {path: text or None if unreadable})."""
        r = self.request("read_files", paths=list(paths))
        texts = {p: (None if d is None else _text(d)) for p, d in r["data"].items()}
        return r["t0"], r["t1"], texts

    def clock(self) -> tuple[float, float]:
        """(guest CLOCK_MONOTONIC, guest wall-clock time) at one instant."""
        r = self.request("clock")
        return r["monotonic"], r["realtime"]

    def write_file(self, path: str, data: bytes, mode: int | None = None) -> None:
        fields = {"path": path, "data": base64.b64encode(data).decode()}
        if mode is not None:
            fields["mode"] = mode
        self.request("write_file", **fields)

    def copy_in(self, local: Path, guest_path: str) -> None:
        self.write_file(guest_path, Path(local).read_bytes(), mode=Path(local).stat().st_mode & 0o777)

    def copy_out(self, guest_path: str, local: Path) -> None:
        Path(local).write_bytes(self.read_file(guest_path))

    def close(self) -> None:
        try:
            self._sock.close()
        except Exception:
            pass
