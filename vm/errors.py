"""What can go wrong with a guest, as a small exception hierarchy (after kirk's).

Each class names its fault and its outcome (core/faults.py): a lost guest
gives no verdict about the kernel (MISS), a panic is a finding (FAIL), a command
that ran too long or an agent that refused a request is the harness's (ERROR).
"""

from core.faults import ERROR, FAIL, MISS, IowitnessError


class GuestError(IowitnessError):
    """The guest cannot be used any more; the test in progress gets this verdict."""

    fault = "guest lost"
    status = MISS


class BootFailed(GuestError):
    fault = "boot failed"


class KernelPanic(GuestError):
    fault = "kernel panic"
    status = FAIL


class EmulatorFault(GuestError):
    """The guest died of the TCG stale-int3 race (vm/console.py) in the middle of a
    test: the emulator's bug, no verdict about the kernel. The test runs once more
    on a new guest (pytest.ini: --reruns 1 --only-rerun EmulatorFault)."""

    fault = "emulator fault"


class GuestHung(GuestError):
    fault = "guest hung"


class ChannelLost(GuestError):
    fault = "channel lost"


class QemuExited(GuestError):
    fault = "QEMU exited"


class CommandTimeout(IowitnessError):
    """A command ran past its timeout; it was killed, the guest is fine."""

    fault = "command timeout"
    status = ERROR

    def __init__(self, cmd: str, timeout: float, result=None):
        super().__init__(f"command timed out after {timeout}s: {cmd}")
        self.result = result


class CommandFailed(IowitnessError):
    fault = "command failed"
    status = ERROR

    def __init__(self, result):
        super().__init__(f"command failed (rc={result.rc}): {result.cmd}\nstderr: {result.stderr.strip()[-2000:]}")
        self.result = result


class AgentError(IowitnessError):
    """The guest agent refused a request (a file that is not there, a pid it does not know)."""

    fault = "agent error"
    status = ERROR


class OutputNotSeen(IowitnessError):
    """A background process exited, or ran out of time, before printing what was awaited."""

    fault = "workload failed"
    status = ERROR

    def __init__(self, message: str, rc: int | None = None):
        super().__init__(message)
        self.rc = rc  # the status it exited with on its own; None: still running, or not known


class KernelComplained(IowitnessError):
    """The kernel logged an oops, BUG or WARNING, or its taint changed, during a test."""

    fault = "kernel complained"
    status = FAIL
