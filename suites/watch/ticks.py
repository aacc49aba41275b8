"""How many times each CPU's tick ran, counted by the kernel's own trace event.

The LOC row of /proc/interrupts counts local APIC timer interrupts, and with high
resolution timers every hrtimer that expires on a CPU (a task's nanosleep, a
module's msleep, a tool's interval) is one too: on a guest with one CPU, all of
them land on the CPU the tasks wait on, so LOC overstates the ticks. The tick is
itself an hrtimer there (kernel/time/tick-sched.c tick_sched_timer(), in high
resolution mode, with or without nohz), so its expiries are counted exactly: the
timer:hrtimer_expire_entry event filtered on that function, in a trace instance of
iowitness's own (entries plus overruns of its per-CPU ring: nothing consumes it).
In low resolution mode the tick is the timer interrupt itself and LOC is the count.
"""

from __future__ import annotations

import re

from vm.guest import Guest

INSTANCE = "/sys/kernel/tracing/instances/iowitness_ticks"
EVENT = f"{INSTANCE}/events/timer/hrtimer_expire_entry"
SOURCE = ("kernel/time/tick-sched.c tick_sched_timer(): the tick in high resolution mode, one "
          "timer:hrtimer_expire_entry event per run (include/trace/events/timer.h)")


def high_res(guest: Guest) -> dict[int, bool]:
    """Per CPU: whether its hrtimers run in high resolution mode (/proc/timer_list
    `.hres_active`, kernel/time/timer_list.c)."""
    out, cpu = {}, None
    for line in guest.read_text("/proc/timer_list").splitlines():
        m = re.match(r"cpu: (\d+)$", line.strip())
        if m:
            cpu = int(m.group(1))
        m = re.match(r"\.hres_active\s*:\s*(\d+)", line.strip())
        if m and cpu is not None and cpu not in out:
            out[cpu] = m.group(1) == "1"
    return out


def setup(guest: Guest) -> str | None:
    """The instance counting tick_sched_timer expiries (idempotent); why not, or None."""
    addr = guest.sh("awk '$3 == \"tick_sched_timer\" {print $1; exit}' /proc/kallsyms").strip()
    if not addr or set(addr) == {"0"}:
        return "no tick_sched_timer address in /proc/kallsyms"
    r = guest.run(f"test -d {INSTANCE} || mkdir {INSTANCE}; echo 64 > {INSTANCE}/buffer_size_kb && "
                  f"echo 'function == 0x{addr}' > {EVENT}/filter && echo 1 > {EVENT}/enable")
    if r.rc != 0:
        return f"cannot count tick expiries in {INSTANCE}: {(r.stderr or r.stdout).strip()[:200]}"
    return None


def parse_count(stats: str) -> int:
    """Events written to one CPU's ring: those in it plus those overwritten."""
    fields = dict(ln.split(":", 1) for ln in stats.splitlines() if ":" in ln)
    return int(fields["entries"]) + int(fields["overrun"])


def count(guest: Guest, cpu: int) -> tuple[float, float, int]:
    """(guest monotonic before the read, after it, tick expiries on `cpu` so far)."""
    path = f"{INSTANCE}/per_cpu/cpu{cpu}/stats"
    t0, t1, files = guest.read_files([path])
    return t0, t1, parse_count(files[path])
