"""The aio workload (fixtures/workloads/aio_workload.c) driven in the guest: start it,
read what each process holds, tell it to io_destroy, stop it."""

from __future__ import annotations

import json
import re
import shlex
import signal
import time
from dataclasses import dataclass

from core import budget
from fixtures import FIXTURES
from vm.channel import Background
from vm.errors import OutputNotSeen
from vm.guest import Guest


def aio_nr(guest: Guest) -> int:
    return int(guest.read_text("/proc/sys/fs/aio-nr"))


def thread_stats(guest: Guest, pid: int) -> dict[int, str]:
    """tid -> /proc/<pid>/task/<tid>/stat of every thread of the process (none once it is gone)."""
    out = guest.sh(f"for t in /proc/{pid}/task/*; do echo \"${{t##*/}} $(cat $t/stat)\"; done 2>/dev/null")
    return {int(ln.split(" ", 1)[0]): ln.split(" ", 1)[1] for ln in out.splitlines() if ln.strip()}


def aio_maps(guest: Guest, pid: int) -> list[str]:
    """The process's aio ring mappings (/proc/<pid>/maps lines naming /[aio])."""
    return [ln for ln in guest.read_text(f"/proc/{pid}/maps").splitlines() if "/[aio]" in ln]


@dataclass
class Holder:
    """A running aio_workload: its contexts as it reported them."""

    guest: Guest
    proc: Background
    contexts: list[dict]
    pids: list[int]
    lines: list[str]  # everything it printed until ready (MOVED, UNMAPPED, ...)

    def by_pid(self) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {p: [] for p in self.pids}
        for c in self.contexts:
            out[c["pid"]].append(c)
        return out

    def destroy(self) -> dict[int, int]:
        """SIGUSR1: each process io_destroys its first -d contexts, then reads aio-nr
        itself as the last io_destroy returned. Returns {pid: that aio-nr}."""
        for pid in self.pids:
            self.guest.run(f"kill -USR1 {pid}", check=True)
        seen = {}
        for pid in self.pids:
            out = self.guest.wait_for_output(self.proc, f"DESTROYED {pid} ", timeout=60).stdout
            m = re.search(rf"^DESTROYED {pid} aio-nr (-?\d+)$", out, re.M)
            seen[pid] = int(m.group(1)) if m else -1
        return seen

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """End every process of the workload; when this returns, waitpid has returned."""
        self.guest.run(f"kill -{int(sig)} {' '.join(map(str, reversed(self.pids)))}")
        self.guest.wait(self.proc, timeout=60)


def start_holder(guest: Guest, aio_bin, args: str, name: str = "aio_workload") -> Holder:
    """Start the workload (`exec -a NAME` sets its command line) and wait until every
    process of it (the parent, and the child with -f) holds its contexts."""
    # sh execs bash execs the workload: one pid throughout, so proc.pid is the workload's.
    inner = f"exec -a {shlex.quote(name)} {aio_bin} {args}"
    proc = guest.spawn(f"exec bash -c {shlex.quote(inner)}")
    readies = 1 + sum(flag in args.split() for flag in ("-f", "-F"))  # a child each
    deadline = time.monotonic() + 60
    while True:
        r = guest.poll(proc)
        lines = r.stdout.splitlines()
        pids = [int(ln.split()[1]) for ln in lines if ln.startswith("READY ")]
        if len(pids) == readies:
            break
        if r.rc is not None or time.monotonic() > deadline:
            raise OutputNotSeen(f"aio_workload {args} did not get ready (rc {r.rc}):\n{r.stdout}{r.stderr}")
        time.sleep(0.05)
    contexts = [json.loads(ln) for ln in lines if ln.startswith("{")]
    return Holder(guest, proc, contexts, pids, lines)


AIO_HOLDERS = FIXTURES / "tools" / "aio_holders.py"


def start_tracer(guest: Guest, method: str, extra: str = "") -> Background:
    """aio-holders tracing io_setup/io_destroy (bcc, bpftrace or systemtap), once it
    says READY."""
    proc = guest.spawn(f"exec /usr/bin/python3 -u {AIO_HOLDERS} --method {method} {extra} --json")
    with budget.spend(budget.TRACER):  # bcc compiles in the guest
        guest.wait_for_output(proc, "READY", timeout=600, stream="stderr")
    return proc


def stop_tracer(guest: Guest, proc: Background) -> dict:
    guest.signal(proc, signal.SIGINT, group=False)  # the tool stops its own bpftrace child
    r = guest.wait(proc, timeout=120)
    assert r.rc == 0, r.stderr
    return json.loads(r.stdout)


def maps_report(guest: Guest) -> dict:
    return json.loads(guest.sh(f"/usr/bin/python3 {AIO_HOLDERS} --method maps --json"))


def kernel_report(guest: Guest) -> dict | str:
    """aio-holders --method kernel (a BPF task iterator over every mm's ioctx_table):
    its report, or why it could not run (its one line)."""
    r = guest.run(f"/usr/bin/python3 {AIO_HOLDERS} --method kernel --json", timeout=300)
    if r.rc != 0:
        return (r.stderr.strip().splitlines() or [f"exit {r.rc}"])[-1]
    return json.loads(r.stdout)
