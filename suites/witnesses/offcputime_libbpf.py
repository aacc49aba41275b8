"""libbpf-tools `offcputime --state 2 -m 1000000` (Debian's libbpf-tools 0.26,
CO-RE, needs the kernel's BTF): per thread and stack, the time spent off CPU in
sleeps of at least 1 s, for threads that switched out in the given state.

Its filter is an equality: a switch-out counts when `prev->__state == 2`
(libbpf-tools/offcputime.bpf.c allow_record(): `get_task_state(t) != state`,
__state read through core_fixes.bpf.h), although its --help calls the state a
bitmask. A task asleep in TASK_KILLABLE|TASK_FREEZABLE (0x2102: the vfork parent,
docs/kernel-rules.md §6), which /proc shows as D, is not counted; nor is any S
sleep, I/O wait or not. One process per guest (suites/watch/offcputime.py)."""

from __future__ import annotations

import time

from suites.watch.offcputime import OffcputimeWitness
from vm import probes
from vm.errors import OutputNotSeen


class OffcputimeLibbpf(OffcputimeWitness):
    name = "offcputime-libbpf"
    title = "libbpf-tools offcputime --state 2"
    order = 290
    package = "libbpf-tools"
    programs = ("/usr/sbin/offcputime",)
    rule = "equality"
    source = ("libbpf-tools 0.26 offcputime.bpf.c allow_record(): get_task_state(prev) != state -> not recorded "
              "(an equality, though --help says bitmask)")

    def wait_ready(self, guest, proc) -> None:
        """It prints nothing until stopped: ready once its BPF link exists (its own,
        or its child's: a build that runs the tool under a wrapper)."""
        deadline = time.monotonic() + self.ready_timeout
        fds = f"for p in {proc.pid} $(pgrep -P {proc.pid}); do ls -l /proc/$p/fd; done 2>/dev/null"
        while guest.run(f"{fds} | grep -q bpf_link").rc != 0:
            r = guest.poll(proc)
            if r.rc is not None or time.monotonic() > deadline:
                raise OutputNotSeen(f"`{self.command()}` did not attach (rc {r.rc}): {r.stderr.strip()[-500:]}")
            time.sleep(0.2)

    def check(self, guest) -> str | None:
        if not probes.has_btf(guest):
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux): libbpf-tools need it"
        return super().check(guest)


WITNESS = OffcputimeLibbpf()
