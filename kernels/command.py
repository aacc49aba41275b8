"""How a command on the kernels runs (python -m kernels, iowitness check and
bisect): SIGTERM as Ctrl-C, so a build's make is stopped too; a KernelError as
one line and its exit code; an interruption leaves the cache unchanged."""

from __future__ import annotations

import signal
import sys


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    from kernels.errors import KernelError

    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return args.func(args)
    except KernelError as e:
        print(f"error: {e}", file=sys.stderr)
        return getattr(args, "abort", 2)
    except KeyboardInterrupt:
        print("error: interrupted (the cache is unchanged)", file=sys.stderr)
        return 130
