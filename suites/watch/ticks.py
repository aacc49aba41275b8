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

One LOC interrupt may run the tick more than once: hrtimer_interrupt()
(kernel/time/hrtimer.c) runs the expired timers again, up to three passes, when
handling them took so long that the next had expired (a vCPU the host did not run),
and counts each extra pass in the CPU's .nr_retries (/proc/timer_list). Where the
tick is not counted, its runs are at most the interrupts plus those retries.
"""

from __future__ import annotations

import re

from vm.errors import OutputNotSeen
from vm.guest import Guest

INSTANCE = "/sys/kernel/tracing/instances/iowitness_ticks"
EVENT = f"{INSTANCE}/events/timer/hrtimer_expire_entry"
# The names the tick's hrtimer function has had in kernel/time/tick-sched.c:
# tick_sched_timer(), renamed tick_nohz_highres_handler() (v6.8, "tick/nohz: Rename
# the tick handlers to more self-explanatory names") and merged with the low
# resolution one as tick_nohz_handler() (v6.9, "tick/nohz: Remove duplicate between
# tick_nohz_lowres_handler() and tick_nohz_highres_handler()").
HANDLERS = ("tick_nohz_handler", "tick_nohz_highres_handler", "tick_sched_timer")
SOURCE = ("kernel/time/tick-sched.c tick_sched_timer() (tick_nohz_handler() since v6.9): the tick in "
          "high resolution mode, one timer:hrtimer_expire_entry event per run (include/trace/events/timer.h)")
RETRIES_SOURCE = ("kernel/time/hrtimer.c hrtimer_interrupt(): up to 3 passes over the expired timers per "
                  "interrupt, each extra one counted in .nr_retries (kernel/time/timer_list.c)")


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


def armed(timer_list: str) -> set[str]:
    """The functions of the hrtimers queued on any CPU (/proc/timer_list lines
    ` #0: <addr>, NAME, S:01`, kernel/time/timer_list.c print_timer())."""
    return set(re.findall(r"^\s*#\d+: <[0-9a-f]+>, ([\w.]+),", timer_list, re.M))


def handler_address(kallsyms: str, timer_list: str) -> tuple[str, str] | None:
    """(name, address) of the tick's hrtimer function, or None: one of the names it
    has had, in /proc/kallsyms and queued as an hrtimer (a name alone is not enough:
    until v6.9 tick_nohz_handler() was the low resolution mode's tick, no hrtimer)."""
    found: dict[str, str] = {}
    for line in kallsyms.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2] in HANDLERS and set(f[0]) != {"0"}:
            found.setdefault(f[2], f[0])
    queued = armed(timer_list)
    name = next((n for n in HANDLERS if n in found and n in queued), None)
    return (name, found[name]) if name else None


def setup(guest: Guest) -> str | None:
    """The instance counting the tick's expiries (idempotent); why not, or None."""
    names = "|".join(HANDLERS)
    hit = handler_address(guest.sh(f"grep -E ' ({names})$' /proc/kallsyms || true"),
                          guest.read_text("/proc/timer_list"))
    if hit is None:
        return f"none of {', '.join(HANDLERS)} both in /proc/kallsyms and queued in /proc/timer_list"
    _, addr = hit
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
    text = files[path]
    if text is None:
        raise OutputNotSeen(f"{path}: not readable")
    return t0, t1, parse_count(text)


def parse_retries(timer_list: str) -> dict[int, int]:
    """Per CPU: hrtimer_interrupt()'s extra passes so far (.nr_retries)."""
    out, cpu = {}, None
    for line in timer_list.splitlines():
        m = re.match(r"cpu: (\d+)$", line.strip())
        if m:
            cpu = int(m.group(1))
        m = re.match(r"\.nr_retries\s*:\s*(\d+)", line.strip())
        if m and cpu is not None and cpu not in out:
            out[cpu] = int(m.group(1))
    return out


def retries(guest: Guest, cpu: int) -> tuple[float, float, int | None]:
    """(guest monotonic before the read, after it, `cpu`'s .nr_retries so far or None)."""
    t0, t1, files = guest.read_files(["/proc/timer_list"])
    return t0, t1, parse_retries(files["/proc/timer_list"] or "").get(cpu)
