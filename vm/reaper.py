"""Kill a guest's process group when the process that started it dies, and
remove the guest's session directory (its keys and sockets).

Started by Guest.boot with the read end of a pipe whose write end only the
parent holds: EOF means the parent is gone (even by SIGKILL), and then the QEMU
process group it left behind is killed and the session directory removed. After
a normal shutdown both are already gone and this does nothing.
Run: python -m vm.reaper PGID FD [SESSION_DIR]
"""

import os
import shutil
import signal
import sys
import time


def kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM:
            time.sleep(2)


def main() -> None:
    pgid, fd = int(sys.argv[1]), int(sys.argv[2])
    session_dir = sys.argv[3] if len(sys.argv) > 3 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole tty group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while os.read(fd, 4096):
        pass
    kill_group(pgid)
    if session_dir:  # after the kill: QEMU holds sockets in it
        shutil.rmtree(session_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
