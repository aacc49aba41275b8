"""The one fault vocabulary: every error iowitness raises derives from
IowitnessError, and the class says what it means for a test's verdict.

When a test ends with such an error, the plugin writes its `fault` and `status`
as JUnit properties of the testcase (harness/plugin/junit.py); every reader of a
run (summary, compare, KCIDB, KTAP, --resume, soak, mutants) takes them from
there (harness/runs.py), never from the failure text.

`status` is the test's outcome in KernelCI's terms:
  FAIL   a finding about the kernel (it panicked, logged an oops, or did not let
         the workload wait as the scenario needs)
  MISS   no verdict could be had from the kernel (the guest was lost, or never booted)
  ERROR  the harness itself failed (a build, a command's timeout, the agent)
"""

from __future__ import annotations

FAIL, MISS, ERROR = "FAIL", "MISS", "ERROR"


class IowitnessError(Exception):
    """Root of every error iowitness raises."""

    fault = "iowitness error"  # how reports name it
    status = ERROR


def fault_of(exc: BaseException | None) -> IowitnessError | None:
    """The IowitnessError that ended a test: the exception itself or one it was
    raised from (a test that wraps a lost guest in its own message keeps the fault)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, IowitnessError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
