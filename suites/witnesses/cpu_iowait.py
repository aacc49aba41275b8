"""Per-CPU iowait, idle and busy time in /proc/stat over the window: only the
tasks' CPU accrues iowait, and only while it is idle (docs/kernel-rules.md §4).

Bounds use the window length W (guest monotonic clock) and an idle baseline
measured just before (stray waits of other tasks, per second). Counters in
USER_HZ ticks are floored at each read, so a difference of two reads is off by at
most 1 tick from the true change.

/proc/stat iowait can go backwards under NO_HZ (Documentation/filesystems/proc.rst):
a read during an idle period counts it as iowait if nr_iowait > 0 at that moment,
and the period is classified again when it ends. Both reads of a window are taken
while the waiting tasks are asleep and pinned (no migration, so nr_iowait of their
CPU is constant across the window), which is when the reads agree with what the
kernel finally accounts. With `--vm-append nohz=off` the same bounds hold for the
tick-sampled counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suites.watch import stray_iowait
from suites.watch import ticks as tick_count
from suites.watch.per_guest import PerGuest
from suites.watch.procfs import USER_HZ, CpuRun
from suites.watch.stray_iowait import StraySleeps
from suites.watch.witness import Witness, baseline_ceiling
from vm import probes

# The share of a window an idle CPU may spend in interrupts that no field of
# /proc/stat is charged with. An interrupt taken from idle stops the idle clock
# (tick_nohz_irq_enter() -> tick_nohz_stop_idle(), kernel/time/tick-sched.c) and,
# without CONFIG_IRQ_TIME_ACCOUNTING (unset in Debian's 6.1 and 6.12 and in the
# source-6.1 builds), no clock charges it anywhere. Measured as W less idle, iowait
# and what ran there exactly (/proc/schedstat) over 290 windows of tasks waiting
# on an idle CPU, 2 vCPUs under TCG: at most 6.9 % (debian-6.1, median 4.0 %),
# 4.8 % (debian-6.12), 6.0 % (source-6.1, HZ=1000); one vCPU: at most 2.5 %.
IRQ_FROM_IDLE = 0.10
LATE_TICK_SOURCE = ("kernel/sched/cputime.c account_process_tick(): each tick interrupt charges one tick "
                    "(TICK_NSEC) to what it interrupts, however late it came; the LOC row of /proc/interrupts "
                    "counts them (arch/x86/kernel/apic/apic.c local_apic_timer_interrupt)")
SOURCE = ("kernel/time/tick-sched.c update_ts_time_stats(): idle time is iowait "
          "while nr_iowait_cpu(cpu) > 0; rq->nr_iowait is per runqueue (kernel/sched/core.c)")
BUSY_SOURCE = ("kernel/sched/cputime.c account_process_tick(): a tick charges its whole length to the "
               "task it interrupts; /proc/schedstat rq_cpu_time is what tasks ran (kernel/sched/stats.h)")


def task_ticks_ceiling(ran: CpuRun, hz: int) -> int:
    """The most USER_HZ ticks /proc/stat can charge to tasks (user, nice, system,
    steal) on a CPU where tasks ran `ran`: busy time is tick-sampled, so each run
    can be charged its length plus one tick (1/HZ) it only partly covered; one
    more for a run already going at the first read, and 8 for flooring the
    fields at both reads. Interrupts taken from idle are charged to irq/softirq,
    not to these fields."""
    return math.ceil((ran.run_ns + (ran.arrivals + 1) * 1e9 / hz) * USER_HZ / 1e9) + 8


def ticks_in_window(w, counted, hz: int) -> tuple[int, int, str]:
    """Least and most tick runs inside the window, from the tick's counts read just
    before its first sample and just after its last ((t, count) each): the counted
    stretch holds the window and the two gaps at its edges, each gap at most
    ceil(gap * HZ) + 1 ticks."""
    (t_open, n_open), (t_close, n_close) = counted
    runs = n_close - n_open
    gap = max(0.0, w.before.t + w.before.spread / 2 - t_open) + max(0.0, t_close - (w.after.t - w.after.spread / 2))
    spare = math.ceil(gap * hz) + 2
    return max(0, runs - spare), runs, f"{runs} tick runs counted, less {spare} for the {gap * 1e3:.0f} ms at its edges"


def hog_ticks_uncounted(delivered: int, retries: int | None, why: str) -> tuple[int, int, str]:
    """Least and most tick runs on a CPU in high resolution mode whose tick was not
    counted: none of the timer interrupts need have been a tick, and each ran it at
    most once per pass of hrtimer_interrupt() (the passes beyond the first are the
    CPU's retries, read around the window; unread, two per interrupt)."""
    extra = 2 * delivered if retries is None else retries
    said = "up to 2 retries each" if retries is None else f"{retries} retries"
    return 0, delivered + extra, f"at most {delivered} timer interrupts and {said}; not counted here ({why})"


def others_iowait(seen, cpu: int) -> tuple[int, str] | None:
    """The most USER_HZ ticks of iowait that tasks other than the hold's could have
    given `cpu` in the window: an idle CPU accrues iowait only while a task that
    slept on it is in its rq->nr_iowait, so at most the time some other task slept
    with in_iowait there, plus one tick per span where idle time is tick-sampled
    (nohz=off). None: not traced, or the tracer lost events."""
    got = stray_iowait.on_cpu(seen.mine.stray if seen.mine else None, seen, cpu)
    if got is None:
        return None
    spent, spans = got
    ticks = math.ceil(spent * USER_HZ) + spans * math.ceil(USER_HZ / seen.hz)
    return ticks, f"{spent * 1e3:.0f} ms in {spans} span(s) other tasks slept with in_iowait there"


def stray_ceiling(seen, cpu: int) -> tuple[int, str]:
    """The most iowait `cpu` may gain in the window from tasks not the hold's: the
    idle baseline's rate, plus what the tracer saw other tasks sleep in iowait there."""
    ceiling = baseline_ceiling(seen.base.cpu(cpu).iowait, seen.base, seen.window_s)
    others = others_iowait(seen, cpu)
    if others is None:
        return ceiling, "idle baseline; " + stray_iowait.untraced(seen.mine.stray if seen.mine else None)
    return ceiling + others[0], f"idle baseline + {others[0]}: {others[1]}"


@dataclass(frozen=True)
class _TimerFacts:
    """How the guest's kernel runs the tick and charges interrupts, read once."""

    uncounted: str  # why the tick's expiries are not counted ("" where they are)
    high_res: dict[int, bool]  # per CPU: hrtimers in high resolution mode
    irqtime: bool  # CONFIG_IRQ_TIME_ACCOUNTING: interrupt time is charged to irq and softirq


def _timer_facts(guest) -> _TimerFacts:
    return _TimerFacts(tick_count.setup(guest) or "", tick_count.high_res(guest),
                       probes.kconfig(guest).get("CONFIG_IRQ_TIME_ACCOUNTING") == "y")


@dataclass
class _TickReads:
    """The tick's count and hrtimer_interrupt()'s retries on the tasks' CPU as the
    window opens and closes (guest monotonic time, count)."""

    ticks_open: tuple[float, int] | None = None
    ticks_close: tuple[float, int] | None = None
    retries_open: int | None = None
    retries_close: int | None = None


@dataclass(frozen=True)
class CpuIowaitSeen:
    """What the witness gathered of a hold beside /proc/stat."""

    irqtime: bool  # CONFIG_IRQ_TIME_ACCOUNTING: interrupt time is charged to irq and softirq
    stray: StraySleeps  # other tasks' in_iowait sleeps
    ticks: tuple[tuple[float, int], tuple[float, int]] | None = None  # the tick's count at open and close
    ticks_why: str | None = None  # why it was not counted (high resolution mode)
    retries: int | None = None  # hrtimer_interrupt() retries in the window


class CpuIowait(Witness[CpuIowaitSeen]):
    name = "cpu_iowait"
    title = "per-CPU iowait (/proc/stat)"
    order = 50
    kind = "proc"

    _facts: PerGuest[_TimerFacts] = PerGuest(_timer_facts)

    def files(self, pids, cgroup):
        return ["/proc/interrupts"]

    def setup(self, guest) -> None:
        self._facts.of(guest)

    def _high_res(self, run) -> bool:
        return self._facts.of(run.guest).high_res.get(run.cpu, False)

    def _counting(self, run) -> bool:
        return not self._facts.of(run.guest).uncounted and self._high_res(run)

    def start(self, run) -> None:
        stray_iowait.mark(run)

    def at_window_open(self, run) -> None:
        reads = run.state(self.name, _TickReads)
        if self._high_res(run):
            reads.retries_open = tick_count.retries(run.guest, run.cpu)[2]
        if self._counting(run):
            t0, _, n = tick_count.count(run.guest, run.cpu)
            reads.ticks_open = (t0, n)

    def at_window_close(self, run) -> None:
        reads = run.state(self.name, _TickReads)
        if reads.ticks_open is not None:
            _, t1, n = tick_count.count(run.guest, run.cpu)
            reads.ticks_close = (t1, n)
        if reads.retries_open is not None:
            reads.retries_close = tick_count.retries(run.guest, run.cpu)[2]

    def stop(self, run) -> CpuIowaitSeen:
        """Whether the kernel charges interrupt time (CONFIG_IRQ_TIME_ACCOUNTING):
        then what an idle CPU spends in interrupts is in its irq and softirq fields.
        And the tick's own count around the window, where it is counted."""
        reads = run.state(self.name, _TickReads)
        ticks = ticks_why = retries = None
        if reads.ticks_open is not None and reads.ticks_close is not None:
            ticks = (reads.ticks_open, reads.ticks_close)
        elif self._high_res(run):
            ticks_why = self._facts.of(run.guest).uncounted or "the tick's count was not read"
        if reads.retries_open is not None and reads.retries_close is not None:
            retries = reads.retries_close - reads.retries_open
        return CpuIowaitSeen(self._facts.of(run.guest).irqtime, stray_iowait.gather(run), ticks, ticks_why,
                             retries)

    def judge(self, ev, seen) -> None:
        window, window_s, cpu, prefix = seen.window, seen.window_s, seen.cpu, seen.prefix
        counts = window.cpu(cpu)
        gathered = seen.mine
        irqtime = bool(gathered and gathered.irqtime)
        # Idle and iowait are ktime-exact under NO_HZ; busy fields are tick-sampled
        # (a tick charges its whole length to what it interrupts). Each of the 8
        # fields is floored to USER_HZ at both reads (< 8 ticks in all).
        ran = window.ran(cpu)
        ev.note(f"{seen.label or 'hold'}: CPU {cpu} accounted {counts.total} of {window_s * USER_HZ:.0f} ticks"
                + (f"; tasks ran {ran.run_ns / 1e6:.1f} ms there in {ran.arrivals} runs" if ran else ""))
        tasks_ticks = counts.user + counts.nice + counts.system + counts.steal
        if ran is not None and not seen.hog:
            # The waiters sleep; whatever else ran on CPU k is measured exactly. A
            # kernel charging the waiting idle CPU as system or steal time fails here.
            most = task_ticks_ceiling(ran, seen.hz)
            ev.check(f"{prefix}CPU {cpu} busy (only what ran there)", tasks_ticks <= most,
                     f"user+nice+system+steal +<= {most} ticks ({ran.run_ns / 1e6:.1f} ms run in "
                     f"{ran.arrivals} runs, one tick each at HZ={seen.hz}, 8 for flooring)",
                     f"+{tasks_ticks} (user +{counts.user}, system +{counts.system}, steal +{counts.steal})",
                     BUSY_SOURCE)
        if seen.hog:
            # A runnable hog keeps CPU k out of idle, and only an idle CPU accrues
            # iowait: every tick interrupt that reached CPU k charged a busy tick.
            # Under TCG a vCPU the host did not run misses ticks and takes one late
            # tick for them (W*HZ less the interrupts: noted, not judged).
            counted = gathered.ticks if gathered else None
            uncounted = gathered.ticks_why if gathered else None
            delivered = window.local_timer(cpu)
            bounds: tuple[int, int] | None
            if counted is not None:
                least_ticks, most_ticks, how = ticks_in_window(window, counted, seen.hz)
                bounds = (least_ticks, most_ticks)
                source = f"{LATE_TICK_SOURCE}; {tick_count.SOURCE}"
            elif delivered is None:
                bounds, how = None, "no LOC row in /proc/interrupts"
            elif uncounted:
                # High resolution mode, the tick not counted: not every LOC interrupt
                # is a tick, and one may run it again per retry (suites/watch/ticks.py).
                least_ticks, most_ticks, how = hog_ticks_uncounted(delivered, gathered.retries if gathered else None,
                                                                   uncounted)
                bounds = (least_ticks, most_ticks)
                source = f"{LATE_TICK_SOURCE}; {tick_count.RETRIES_SOURCE}"
            else:
                # Low resolution mode: the tick is the timer interrupt, and nothing
                # else programs it (hrtimers run from the tick's softirq).
                bounds = (delivered, delivered)
                how = f"{delivered} timer interrupts, each a tick (low resolution mode)"
                source = LATE_TICK_SOURCE
            if bounds is None:
                ev.note(f"{prefix}CPU {cpu} busy (hog): not judged, {how}")
            else:
                least = math.floor(bounds[0] * USER_HZ / seen.hz) - 8
                most = math.ceil(bounds[1] * USER_HZ / seen.hz) + 8
                retried = gathered.retries if gathered else None
                ev.note(f"{seen.label or 'hold'}: CPU {cpu} ran its tick {how}; {window_s * seen.hz:.0f} due at "
                        f"HZ={seen.hz}" + (f"; {delivered} local timer interrupts" if delivered is not None else "")
                        + (f"; {retried} hrtimer_interrupt() retries" if retried is not None else ""))
                ev.check(f"{prefix}CPU {cpu} busy (hog)", least <= counts.busy <= most and counts.idle <= 1,
                         f"busy {least} .. {most} ticks (each tick charges one to the hog: {how}, at HZ={seen.hz}, "
                         f"8 for flooring), idle +<=1",
                         f"busy +{counts.busy} (user +{counts.user}), idle +{counts.idle}", source)
            ceiling, how = stray_ceiling(seen, cpu)
            ev.check(f"{prefix}CPU {cpu} iowait (masked by the hog)", counts.iowait <= ceiling,
                     f"+<= {ceiling} ticks ({how})", f"iowait +{counts.iowait}", SOURCE)
        elif seen.wait.iowait and ran is None:
            # Without exact run time a lower bound would lean on tick samples.
            ceiling, how = stray_ceiling(seen, cpu)
            ev.check(f"{prefix}CPU {cpu} iowait", counts.idle <= 1 and counts.iowait > ceiling,
                     f"idle +<=1, iowait +> {ceiling} ticks ({how}; no /proc/schedstat for "
                     f"a lower bound)", f"iowait +{counts.iowait}, idle +{counts.idle}, busy +{counts.busy}", SOURCE)
        elif seen.wait.iowait:
            # All of CPU k's idle time in the window is iowait: idle stays put (+1 for
            # flooring) and iowait is W less what ran there (exact) and the time in
            # interrupts taken from idle: reported in irq+softirq where the kernel
            # charges it, else at most IRQ_FROM_IDLE of W (measured, above).
            if irqtime:
                irq, how = counts.irq + counts.softirq + 2, "irq+softirq charged (CONFIG_IRQ_TIME_ACCOUNTING)"
            else:
                irq, how = math.ceil(IRQ_FROM_IDLE * window_s * USER_HZ), f"{IRQ_FROM_IDLE:.0%} of W in interrupts"
            least = math.floor((window_s - window.edges) * USER_HZ - ran.run_ns * USER_HZ / 1e9) - irq - 2
            ev.check(f"{prefix}CPU {cpu} iowait", counts.idle <= 1 and counts.iowait >= least,
                     f"idle +<=1, iowait >= {least} ticks ({window_s:.2f} s less "
                     f"{window.edges * 1e3:.1f} ms read edges, "
                     f"{ran.run_ns / 1e6:.1f} ms run there, {irq} ticks: {how}, 2 for flooring)",
                     f"iowait +{counts.iowait}, idle +{counts.idle}, busy +{counts.busy}", SOURCE)
        else:
            ceiling, how = stray_ceiling(seen, cpu)
            ev.check(f"{prefix}CPU {cpu} iowait", counts.iowait <= ceiling, f"+<= {ceiling} ticks ({how})",
                     f"iowait +{counts.iowait}, idle +{counts.idle}, busy +{counts.busy}", SOURCE)
        for other in window.cpus:
            if other == cpu:
                continue
            ceiling, how = stray_ceiling(seen, other)
            ev.check(f"{prefix}CPU {other} iowait (not the task's CPU)", window.cpu(other).iowait <= ceiling,
                     f"+<= {ceiling} ticks ({how}): nr_iowait is per runqueue", f"+{window.cpu(other).iowait}", SOURCE)


WITNESS = CpuIowait()

