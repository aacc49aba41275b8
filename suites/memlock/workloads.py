"""Run the memlock workloads as a given identity under a given RLIMIT_MEMLOCK.

Identities: a fresh unprivileged uid per use (no capabilities at all, and a
per-user budget nobody else touches: io_uring unaccounts a closed ring later, on a
workqueue, so reusing a uid across tests would carry that over), root with
CAP_IPC_LOCK dropped from its bounding set, and plain root. The limit is set with
prlimit and the identity with setpriv (util-linux), both of which exec, so the pid
is the workload's. The binaries are copied into the guest's /tmp: the host's
/root, where they are built, is mode 0700.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
from dataclasses import dataclass

from fixtures import WORKLOADS
from fixtures.build import build_c
from suites.watch.evidence import Evidence
from vm.channel import Background
from vm.guest import Guest

LIMIT = 64 * 1024  # the limit of the 2009 proposal's figures (docs/kernel-rules.md §2)
CAP_IPC_LOCK = 14  # include/uapi/linux/capability.h
BIN_DIR = "/tmp/iowitness-memlock"

_uids = itertools.count(61000)


@dataclass(frozen=True)
class Identity:
    label: str
    unprivileged: bool
    drop_ipc_lock: bool

    @property
    def cap_ipc_lock(self) -> bool:
        return not (self.unprivileged or self.drop_ipc_lock)

    def wrap(self, memlock: int, argv: str, uid: int | None = None) -> tuple[int, str]:
        """The uid it will run as (a fresh one unless given), and the shell command."""
        who = ""
        if not self.unprivileged:
            uid = 0
        elif uid is None:
            uid = next(_uids)
        if self.unprivileged:
            who = f"setpriv --reuid={uid} --regid={uid} --clear-groups --inh-caps=-all -- "
        elif self.drop_ipc_lock:
            who = "setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock -- "
        return uid, f"exec prlimit --memlock={memlock}:{memlock} {who}{argv}"


UNPRIVILEGED = Identity("unprivileged-uid", unprivileged=True, drop_ipc_lock=False)
ROOT_NO_IPC_LOCK = Identity("root-without-CAP_IPC_LOCK", unprivileged=False, drop_ipc_lock=True)
ROOT = Identity("root", unprivileged=False, drop_ipc_lock=False)
WITHOUT_CAP = [UNPRIVILEGED, ROOT_NO_IPC_LOCK]


def status_fields(guest: Guest, pid: int) -> dict[str, str]:
    out = {}
    for line in guest.read_text(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def kib(field: str) -> int:
    m = re.fullmatch(r"(\d+) kB", field)
    assert m, field
    return int(m.group(1))


@dataclass
class Held:
    """A workload holding what it made, until stopped."""

    guest: Guest
    proc: Background
    pid: int
    uid: int
    lines: list[str]

    def status(self) -> dict[str, str]:
        return status_fields(self.guest, self.pid)

    def check_identity(self, identity: Identity, memlock: int, ev: Evidence) -> None:
        """The preconditions, read from the process itself: uid, whether CAP_IPC_LOCK
        is in its effective set, and its RLIMIT_MEMLOCK."""
        st = self.status()
        has_cap = bool(int(st["CapEff"], 16) >> CAP_IPC_LOCK & 1)
        uid = int(st["Uid"].split()[1])
        limits = self.guest.read_text(f"/proc/{self.pid}/limits")
        row = next(ln for ln in limits.splitlines() if ln.startswith("Max locked memory"))
        soft, hard = row.split()[3:5]
        ev.check("workload identity (/proc/PID/status, limits)",
                 (uid, has_cap, soft, hard) == (self.uid, identity.cap_ipc_lock, str(memlock), str(memlock)),
                 f"uid {self.uid}, CAP_IPC_LOCK {'yes' if identity.cap_ipc_lock else 'no'}, memlock {memlock}",
                 f"uid {uid}, CAP_IPC_LOCK {'yes' if has_cap else 'no'}, memlock {soft}/{hard}",
                 f"{identity.label} via prlimit/setpriv")

    def signal_and_wait_for(self, sig: int, text: str) -> None:
        self.guest.run(f"kill -{int(sig)} {self.pid}", check=True)
        self.guest.wait_for_output(self.proc, f"{text} {self.pid}", timeout=60)
        self.lines = self.guest.poll(self.proc).stdout.splitlines()

    def stop(self) -> None:
        """SIGTERM; when this returns the process has been waited for."""
        self.guest.run(f"kill -TERM {self.pid}")
        self.guest.wait(self.proc, timeout=60)


class Workloads:
    def __init__(self, guest: Guest):
        self.guest = guest
        guest.run(f"mkdir -p {BIN_DIR} && chmod 755 {BIN_DIR}", check=True)
        self.aio = self._install(build_c(WORKLOADS / "aio_workload.c", "-pthread"))
        self.uring = self._install(build_c(WORKLOADS / "uring_pin.c"))
        self.sweep = self._install(build_c(WORKLOADS / "aio_memlock_sweep.c"))

    def _install(self, local) -> str:
        path = f"{BIN_DIR}/{local.name}"
        self.guest.write_file(path, local.read_bytes(), mode=0o755)
        return path

    def once(self, identity: Identity, memlock: int, argv: str, uid: int | None = None) -> str:
        """Run to completion; its stdout."""
        _, cmd = identity.wrap(memlock, argv, uid)
        r = self.guest.run(cmd, timeout=60)
        assert r.rc == 0, f"{cmd}: rc {r.rc}\n{r.stdout}{r.stderr}"
        return r.stdout

    def aio_attempt(self, identity: Identity, memlock: int, n: int, uid: int | None = None) -> str:
        """One io_setup(n) in a new process (destroyed again if it succeeds)."""
        return self.once(identity, memlock, f"{self.aio} -x {n}", uid).strip()

    def uring_attempt(self, identity: Identity, memlock: int, pages: int, uid: int | None = None) -> str:
        """One registration in a new process (unregistered again before it exits)."""
        out = self.once(identity, memlock, f"{self.uring} -x {pages}", uid)
        return json.loads(out.splitlines()[0])["result"]

    def hold(self, identity: Identity, memlock: int, argv: str, uid: int | None = None) -> Held:
        uid, cmd = identity.wrap(memlock, argv, uid)
        proc = self.guest.spawn(cmd)
        # prlimit and setpriv exec, so the agent's child is the workload. Wait for its own
        # READY: a child it forks (-F) may print first.
        lines = self.guest.wait_for_output(proc, f"READY {proc.pid}\n", timeout=60).stdout.splitlines()
        return Held(self.guest, proc, proc.pid, uid, lines)

    def hold_aio(self, identity: Identity, memlock: int, sizes: list[int], destroy: int = 0,
                 uid: int | None = None) -> tuple[Held, list[str]]:
        """Hold contexts of these sizes; each io_setup's result in order."""
        args = (f"-d {destroy} " if destroy else "") + " ".join(map(str, sizes))
        held = self.hold(identity, memlock, f"{self.aio} {args}", uid)
        results = [
            "ok" if "ctx" in rec else rec["error"]
            for rec in (json.loads(ln) for ln in held.lines if ln.startswith("{"))
        ]
        return held, results

    def hold_uring(self, identity: Identity, memlock: int, pages: int, uid: int | None = None) -> Held:
        return self.hold(identity, memlock, f"{self.uring} {pages}", uid)


def stop_all(held: list[Held]) -> None:
    for h in held:
        if h.guest.usable():
            h.guest.run(f"kill -{int(signal.SIGTERM)} {h.pid}")
    for h in held:
        if h.guest.usable():
            h.guest.wait(h.proc, timeout=60)
