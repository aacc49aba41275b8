"""Is the guest still there, and if not, why: every failure of the command
channel is diagnosed into one verdict (vm/errors.py).

In order: a panic on the console; QEMU gone (it no longer accepts on its end of
the ping port); the guest's shell ping loop still answering (only the agent was
lost: ChannelLost) or not (the kernel no longer runs tasks: GuestHung). While a
reply is awaited the console is watched for the agent's exit, which the hold
script logs (vm/guest_hold.sh), and for a panic.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from vm import console
from vm.errors import BootFailed, ChannelLost, EmulatorFault, GuestError, GuestHung, KernelPanic, QemuExited
from vm.vng import ping_socket

AGENT_EXITED = "iowitness-agent: exited"  # what vm/guest_hold.sh logs if the agent ends
PING_TIMEOUT_S = 30.0  # how long the shell ping loop may take to answer before the guest is hung


class Liveness:
    def __init__(self, label: str, proc: subprocess.Popen, console_log: Path, session_dir: Path,
                 tcg: bool = False):
        self.label = label
        self.tcg = tcg  # under TCG a panic may be the emulator's (vm/console.py)
        self.proc = proc
        self.console_log = console_log
        self.session_dir = session_dir
        self._console_seen = 0  # console bytes already looked at for the agent's exit
        self._ping: socket.socket | None = None

    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def boot_problem(self, deadline: float, boot_timeout: float, why: str) -> GuestError | None:
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
            return BootFailed(f"{self.label}: not ready after {boot_timeout:.0f}s ({why}); console tail:\n{tail}")
        return None

    def check_agent(self) -> None:
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

    def connect_ping(self) -> None:
        self._ping = socket.socket(socket.AF_UNIX)
        self._ping.connect(str(ping_socket(self.session_dir)))

    def qemu_gone(self) -> bool:
        """QEMU no longer accepts on its end of the ping port: it is gone; vng follows it."""
        if self.proc.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(str(ping_socket(self.session_dir)))
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

    def guest_answers(self, timeout: float | None = None) -> bool:
        """The shell loop on the ping port answers: the kernel still schedules tasks."""
        timeout = PING_TIMEOUT_S if timeout is None else timeout
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

    def diagnose(self, what: str, cause: BaseException | None = None) -> GuestError:
        """Why the channel failed during `what`, as a verdict."""
        time.sleep(1)  # let a panic reach the console log
        text = self.console_text()
        panic = console.find_panic(text)
        race = console.emulator_int3(text) if self.tcg else None
        if race:
            return EmulatorFault(f"{self.label}: the emulator's stale-int3 race killed the guest during {what} "
                                 f"(vm/console.py): {race}\n{panic}")
        if panic:
            return KernelPanic(f"{self.label}: kernel panic during {what}:\n{panic}")
        if self.qemu_gone():
            return QemuExited(f"{self.label}: QEMU exited (vng rc {self.proc.returncode}) during {what}")
        if self.guest_answers():
            why = f" ({cause})" if cause is not None and str(cause) else ""
            return ChannelLost(f"{self.label}: the agent channel was lost during {what}{why}; the guest "
                               f"still answers")
        return GuestHung(f"{self.label}: the guest stopped answering (no agent, no ping) during {what}")

    def close(self) -> None:
        if self._ping:
            self._ping.close()
            self._ping = None
