"""One exception type for everything that can go wrong with a kernel entry."""

from core.faults import MISS, IowitnessError


class KernelError(IowitnessError):
    """A kernel entry cannot be resolved, fetched, built or verified.

    The message is one line that names the entry and the cause; the CLI prints it
    as is and exits non-zero. A test whose kernel is unavailable has no verdict
    about that kernel (MISS).
    """

    fault = "kernel unavailable"
    status = MISS

    def __init__(self, entry: str, cause: str):
        super().__init__(f"{entry}: {cause}")
        self.entry = entry
        self.cause = cause
