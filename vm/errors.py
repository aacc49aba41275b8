"""What can go wrong with a guest, as a small exception hierarchy (after kirk's)."""


class GuestError(Exception):
    """The guest cannot be used any more; the test in progress gets this verdict."""

    verdict = "guest lost"


class BootFailed(GuestError):
    verdict = "boot failed"


class KernelPanic(GuestError):
    verdict = "kernel panic"


class GuestHung(GuestError):
    verdict = "guest hung"


class ChannelLost(GuestError):
    verdict = "channel lost"


class CommandTimeout(Exception):
    """A command ran past its timeout; it was killed, the guest is fine."""

    def __init__(self, cmd: str, timeout: float, result=None):
        super().__init__(f"command timed out after {timeout}s: {cmd}")
        self.result = result


class CommandFailed(Exception):
    def __init__(self, result):
        super().__init__(f"command failed (rc={result.rc}): {result.cmd}\nstderr: {result.stderr.strip()[-2000:]}")
        self.result = result
