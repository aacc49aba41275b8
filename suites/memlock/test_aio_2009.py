"""The 2009 posting "aio: remove aio-max-nr and instead use the memlock rlimit to
limit the number of pages pinned for the aio completion ring" (Jeff Moyer, LKML,
9 March 2009), its test program and the reply's objections, on every kernel: mainline
(only aio-max-nr limits io_setup), the per-user forward port
(kernels/patches/aio-memlock/) and the posting's own semantics, per process
(kernels/patches/aio-memlock-2009/). Every expectation comes from
suites/memlock/model.py and the kernel's catalog features.

The posting's figures (one process could ask 2045 events, or make 16 one-event
contexts, under a 64 KiB limit) are those of 2009's ring, n + 2 events after a
32-byte header; 6.1's ring is 2 * max(n, 4 * ncpus) events (fixtures/tools/aio_ring.py),
so the same limit holds what that formula gives for the guest's CPU count.
"""

from __future__ import annotations

import re
import time

import pytest

from fixtures.modules import build_module
from fixtures.tools import aio_ring
from suites.aio.holders import aio_nr
from suites.memlock.model import (
    AioBudget,
    aio_max_nr_file,
    aio_nr_shown,
    charges_aio_rings,
    has_aio_max_nr,
    per_process,
    sweep,
)
from suites.memlock.workloads import LIMIT, ROOT, UNPRIVILEGED, kib, status_fields, stop_all
from vm import probes

pytestmark = pytest.mark.behaviour("aio-memlock-as-posted")

PAGE = 4096
SWEEP_LIMITS_KIB = (16, 64)  # four ring pages, and the posting's 64 KiB
ROOM = 1100  # aio-max-nr above aio-nr, where it limits: past every charged sweep here
MODEL = "suites/memlock/model.py sweep(): the 2009 test program over the kernel's ring formula"
# The classic tuning line of database install guides, as a start-up script runs it.
SCRIPT = "sysctl -w fs.aio-max-nr=1048576"


def _budget(guest, limit_kib: int, room: int | None) -> AioBudget:
    f = guest.kernel.features
    return AioBudget(probes.possible_cpus(guest), charges_aio_rings(f, False), limit_kib * 1024 // PAGE,
                     room if has_aio_max_nr(f) else None)


def test_the_2009_programs_sweep_over_memlock_limits(guest, workloads, sysctl, evidence):
    """The posting's program under two limits: the largest nr_events that works, then
    how many one-event contexts fit. Where the rings are charged the limit decides;
    on mainline aio-max-nr does, the same under every limit."""
    c = probes.possible_cpus(guest)
    base = aio_nr(guest)
    if aio_max_nr_file(guest.kernel.features):
        sysctl.set("fs.aio-max-nr", base + ROOM)
    cap = 2 * ROOM  # the program's own bound, past the room
    for limit in SWEEP_LIMITS_KIB:
        want = sweep(_budget(guest, limit, ROOM), cap)
        out = workloads.once(UNPRIVILEGED, limit * 1024, f"{workloads.sweep} {cap}")
        largest = re.search(r"^LARGEST (\d+) (\S+)$", out, re.M)
        contexts = re.search(r"^CONTEXTS (\d+) (\S+)$", out, re.M)
        got = (int(largest.group(1)) if largest else None, int(contexts.group(1)) if contexts else None)
        evidence.check(f"RLIMIT_MEMLOCK {limit} KiB, c = {c}: largest nr_events, one-event contexts", got == want,
                       f"{want[0]}, {want[1]}", f"{got[0]}, {got[1]} ({largest.group(2) if largest else '?'}, "
                       f"{contexts.group(2) if contexts else '?'})", MODEL)
    evidence.check("aio-nr after the programs exited", aio_nr(guest) == base, str(base), str(aio_nr(guest)),
                   "fs/aio.c exit_aio -> kill_ioctx")
    evidence.require()


def test_a_forked_child_holds_rings_it_did_not_set_up(guest, workloads, evidence):
    """A process with four one-event contexts forks a child that makes none: the child
    maps the four rings (they are shared mappings, copied at fork) but has no context
    and is charged nothing; where rings are charged per process, the parent is."""
    c = probes.possible_cpus(guest)
    pages = 4 * aio_ring.ring_pages(1, c)
    # -F forks after the contexts are made; the child's READY comes second.
    held = workloads.hold(UNPRIVILEGED, 64 * 1024, f"{workloads.aio} -F 1 1 1 1")
    child = None
    try:
        readies = [int(ln.split()[1]) for ln in held.lines if ln.startswith("READY ")]
        deadline = time.monotonic() + 60
        while len(readies) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            lines = guest.poll(held.proc).stdout.splitlines()
            readies = [int(ln.split()[1]) for ln in lines if ln.startswith("READY ")]
        parent = held.pid
        child = next((p for p in readies if p != parent), None)
        evidence.check("the child", child is not None, "forked, READY", str(readies), "aio_workload -F")
        if child is not None:
            maps = guest.sh(f"grep -c '/\\[aio\\]' /proc/{child}/maps || true").strip()
            evidence.check("the child's [aio] mappings", maps == "4", "4 (the parent's rings)", maps,
                           "mm/mmap.c dup_mmap(): the ring is a shared mapping, copied at fork")
            st = status_fields(guest, child)
            evidence.check("the child's VmLck", kib(st["VmLck"]) == 0, "0 kB (charged nothing)", st["VmLck"],
                           "kernel/fork.c mm_init(): locked_vm starts at 0")
        charged = per_process(guest.kernel.features)
        st = status_fields(guest, parent)
        want = pages * 4 if charged else 0
        evidence.check("the parent's VmLck", kib(st["VmLck"]) == want, f"{want} kB", st["VmLck"],
                       "the per-process patch: ring pages in mm->locked_vm" if charged else
                       "mainline and the per-user patch: nothing in mm->locked_vm")
    finally:
        if child is not None:  # not the agent's: it holds the binary open until it goes
            guest.run(f"kill -TERM {child}; while [ -e /proc/{child} ] && ! grep -q ') Z' /proc/{child}/stat; "
                      "do sleep 0.1; done", timeout=60)
        stop_all([held])
    evidence.require()


def test_many_processes_of_one_user_each_under_the_limit(guest, workloads, evidence):
    """Three processes of one uid each ask for the one-event contexts that fill a
    64 KiB budget. Per process, each gets them all (the user pins three budgets);
    per user, the first takes the budget and the others get none; mainline charges
    nothing, and each gets them all."""
    f = guest.kernel.features
    c = probes.possible_cpus(guest)
    k = (64 * 1024 // PAGE) // aio_ring.ring_pages(1, c)
    held, uid = [], None
    shared = _budget(guest, 64, None)
    try:
        for i in range(3):
            h, results = workloads.hold_aio(UNPRIVILEGED, 64 * 1024, [1] * k, uid=uid)
            held.append(h)
            uid = h.uid
            if per_process(f) or not charges_aio_rings(f, False):
                want = ["ok"] * k
            else:
                want = shared.held([1] * k)
            evidence.check(f"process {i + 1} of uid {uid}: {k} one-event contexts", results == want,
                           f"{want.count('ok')} ok", f"{results.count('ok')} ok",
                           "per process (mm->locked_vm)" if per_process(f) else
                           "per user (user->locked_vm)" if charges_aio_rings(f, False) else
                           "mainline: rings not charged")
    finally:
        stop_all(held)
    evidence.require()


def test_a_startup_script_that_writes_aio_max_nr(guest, sysctl, evidence):
    """The reply's first objection: scripts write aio-max-nr. Where the file is gone
    the script fails; where it is kept deprecated the write works and the kernel
    says so in its log; elsewhere it works silently."""
    f = guest.kernel.features
    before = guest.run("cat /proc/sys/fs/aio-max-nr").stdout.strip()
    mark = guest.run("dmesg | wc -l").stdout.strip()
    r = guest.run(SCRIPT)
    logged = [ln for ln in guest.run(f"dmesg | tail -n +{int(mark) + 1}").stdout.splitlines() if "aio-max-nr" in ln]
    if r.rc == 0 and before:
        sysctl.set("fs.aio-max-nr", before)  # put back after the test
    if not aio_max_nr_file(f):
        evidence.check(f"`{SCRIPT}`", r.rc != 0, "fails: no such file", f"exit status {r.rc}: "
                       f"{(r.stderr or r.stdout).strip()[:120]}", "the posting removed fs.aio-max-nr")
    else:
        evidence.check(f"`{SCRIPT}`", r.rc == 0, "works", f"exit status {r.rc}", "fs/aio.c aio_sysctls")
        deprecated = "aio-max-nr-deprecated" in f
        evidence.check("what the kernel logs of the write", bool(logged) == deprecated,
                       "a warning naming the writer" if deprecated else "nothing",
                       logged[0].strip()[:160] if logged else "nothing",
                       "kernels/patches/aio-memlock-2009/0002 aio_max_nr_handler()" if deprecated else
                       "proc_doulongvec_minmax: no message")
    evidence.require()


# How far fixtures/modules/aionr lifts aio_nr: 64 short of 2^31, so one 128-event
# context takes an int-wide counter past INT_MAX and an unsigned long's does not.
LIFT = 2**31 - 64
EDGE_EVENTS = 128


def test_aio_nr_past_31_bits(guest, workloads, sysctl, evidence):
    """The reply's second objection: an atomic_t narrows aio_nr from an unsigned
    long. No guest can pin 2^31 events' rings, so a test module lifts the counter
    64 short of 2^31 (read back first: the positive control) and one io_setup of
    128 events takes it past INT_MAX: an unsigned long shows the sum, the posting's
    atomic_t wraps negative. Unloading takes the lift off again."""
    f = guest.kernel.features
    base = aio_nr(guest)
    syms = guest.sh("awk '$3 == \"aio_nr\" {print $1}' /proc/kallsyms").split()
    if len(syms) != 1:
        pytest.skip(f"{guest.kernel.name}: aio_nr is not in /proc/kallsyms once (CONFIG_KALLSYMS_ALL)")
    ko = build_module(guest.kernel, "aionr")
    if aio_max_nr_file(f):
        sysctl.set("fs.aio-max-nr", 2**33)  # past the lifted counter where it limits
    guest.run(f"insmod {ko} addr=0x{syms[0]} lift={LIFT}", check=True)
    held = []
    try:
        lifted = aio_nr(guest)
        h, results = workloads.hold_aio(ROOT, LIMIT, [EDGE_EVENTS])
        held.append(h)
        during = aio_nr(guest)
        stop_all(held)
        held.clear()
        after_destroy = aio_nr(guest)
    finally:
        stop_all(held)
        guest.run("rmmod iowitness_aionr")
    width = "an atomic_t through proc_dointvec" if "aio-nr-atomic-t" in f else \
        "an unsigned long through proc_doulongvec_minmax"
    source = ("kernels/patches/aio-memlock-2009/0001 (atomic_t aio_nr)" if "aio-nr-atomic-t" in f else
              "fs/aio.c: static unsigned long aio_nr")
    evidence.check("aio-nr with the counter lifted (fixtures/modules/aionr)", lifted == base + LIFT,
                   str(base + LIFT), str(lifted), "fixtures/modules/aionr: lift added to the low 32-bit word")
    evidence.check(f"io_setup({EDGE_EVENTS}) past 2^31 - 1", results == ["ok"], "ok", ", ".join(results),
                   "fs/aio.c ioctx_alloc(): nothing limits it here (aio-max-nr raised where it limits)")
    want = aio_nr_shown(f, base + LIFT + EDGE_EVENTS)
    evidence.check(f"aio-nr with that context: {width}", during == want, str(want), str(during), source)
    evidence.check("aio-nr once it is destroyed", after_destroy == lifted, str(lifted), str(after_destroy),
                   "fs/aio.c kill_ioctx(): its max_reqs given back")
    unloaded = aio_nr(guest)
    evidence.check("aio-nr with the module unloaded", unloaded == base, str(base), str(unloaded),
                   "fixtures/modules/aionr: the lift taken off")
    evidence.require()
