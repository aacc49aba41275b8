"""Which CPU the scenarios' tasks wait on, and where everything else runs.

The tasks' CPU is the one whose idle time, busy time and interrupts the holds
judge, so it is the CPU that takes the fewest device interrupts (the last one on
a tie). Under virtio-fs the share's request queue interrupt is managed by the
kernel (writing its smp_affinity_list fails with EIO) and lands on one CPU; its
completion work (virtio_fs_requests_done_work, fs/fuse/virtio_fs.c) then runs
there ~190 times a second while tools run programs from the share (6.12,
counted with workqueue:workqueue_execute_start). Chosen once per guest.
"""

from __future__ import annotations

import weakref

from suites.watch.procfs import device_interrupts
from vm import probes
from vm.guest import Guest

_chosen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def task_cpu(guest: Guest) -> int:
    cpu = _chosen.get(guest)
    if cpu is None:
        n = probes.online_cpus(guest)
        totals = device_interrupts(guest.read_text("/proc/interrupts"))[:n] if n > 1 else [0]
        cpu = _chosen[guest] = min(range(len(totals)), key=lambda c: (totals[c], -c))
    return cpu


def tool_cpus(guest: Guest) -> str:
    """Where tools and tracers run (a taskset -c list): every online CPU but the
    tasks'; on a one-CPU guest, that CPU."""
    cpu = task_cpu(guest)
    others = [str(c) for c in range(probes.online_cpus(guest)) if c != cpu]
    return ",".join(others) or str(cpu)
