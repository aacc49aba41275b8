"""Kill a guest's process group when the process that started it dies.

Started by Guest.boot with the read end of a pipe whose write end only the
parent holds: EOF means the parent is gone (even by SIGKILL), and then the QEMU
process group it left behind is killed. Run: python -m vm.reaper PGID FD
"""

import os
import signal
import sys


def main() -> None:
    pgid, fd = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole tty group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while os.read(fd, 4096):
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM:
            import time
            time.sleep(2)


if __name__ == "__main__":
    main()
