"""aio-holders agrees with the workload's truth and with /proc/sys/fs/aio-nr.

Rules: docs/kernel-rules.md §1 (ring sizes bound n only to a range) and §8
(exact attribution from the io_setup tracepoints; teardown at exit via exit_aio).
"""

from __future__ import annotations

import json
import signal

import pytest

from fixtures.tools import aio_ring
from fixtures.tools.aio_holders import MAX_SLOTS
from suites.aio.holders import AIO_HOLDERS, aio_nr, kernel_report, maps_report, start_holder, start_tracer, stop_tracer
from vm import probes

pytestmark = pytest.mark.behaviour("aio-holders")

MAPS_RULE = "fixtures/tools/aio_ring.events_range: a ring's pages bound n to a range (docs/kernel-rules.md §1)"
TRACE_RULE = "io_setup's argument and result, traced (docs/kernel-rules.md §8)"
ACCOUNT_RULE = "fs/aio.c: aio_nr += n at io_setup, -= n at kill_ioctx (docs/kernel-rules.md §1)"
KERNEL_RULE = "mm->ioctx_table: each kioctx's max_reqs, what ioctx_alloc added to aio-nr (docs/kernel-rules.md §8)"
NOBODY_DIR = "/tmp/iowitness-nobody"  # in the guest: its own /tmp


def kernel_method(guest, evidence) -> dict | None:
    """The kernel method's report; where it cannot run, a row that fails unless the
    kernel lacks what it needs (BTF)."""
    r = kernel_report(guest)
    if not isinstance(r, str):
        return r
    btf = guest.run("test -e /sys/kernel/btf/vmlinux").ok
    evidence.check("kernel method runs", not btf, "runs (the kernel has BTF)" if btf else
                   "cannot: no BTF", r, "fixtures/tools/aio_holders.py read_kernel(): bpftrace iter:task needs BTF")
    return None


def check_exact(evidence, report: dict, truth: dict[int, list[int]], live_aio_nr: int) -> None:
    """The kernel method: every process's contexts exact, however old; the sum is aio-nr."""
    rows = {p["pid"]: p for p in report["processes"]}
    for pid, sizes in truth.items():
        row = rows.get(pid)
        seen = f"{row['contexts']} contexts, {row['events']} events" if row else "no row"
        evidence.check(f"kernel: pid {pid}", seen == f"{len(sizes)} contexts, {sum(sizes)} events",
                       f"{len(sizes)} contexts, {sum(sizes)} events", seen, KERNEL_RULE)
    total = report["totals"]["events"]
    evidence.check("kernel: sum of every context's max_reqs", total == live_aio_nr, f"{live_aio_nr} (aio-nr)",
                   str(total), "aio-nr is the sum of every live context's n (fs/aio.c)")


def check_against_truth(evidence, report: dict, truth: dict[int, list[int]], exact_pids: set[int],
                        live_aio_nr: int) -> None:
    """One row per process and figure: the tool's report against what the workload set up."""
    m = report["method"]
    rows = {p["pid"]: p for p in report["processes"]}
    for pid, sizes in truth.items():
        row = rows.get(pid)
        if row is None:
            evidence.check(f"{m}: pid {pid}", False, f"{len(sizes)} contexts", "no row", TRACE_RULE)
            continue
        evidence.check(f"{m}: pid {pid} contexts", row["contexts"] == len(sizes), str(len(sizes)),
                       str(row["contexts"]), "one /[aio] mapping or io_setup per context")
        rng = f"{row['events_min']}..{row['events_max']}"
        evidence.check(f"{m}: pid {pid} events range", row["events_min"] <= sum(sizes) <= row["events_max"],
                       f"contains {sum(sizes)} (the workload's n)", rng, MAPS_RULE)
        if pid in exact_pids:
            exact = row["events"] == sum(sizes) and row["unknown_size_contexts"] == 0
            evidence.check(f"{m}: pid {pid} exact events", exact, f"{sum(sizes)}, 0 unknown",
                           f"{row['events']}, {row['unknown_size_contexts']} unknown", TRACE_RULE)
        else:
            unknown = row["events"] is None and row["unknown_size_contexts"] == len(sizes)
            evidence.check(f"{m}: pid {pid} (older than the tracer)", unknown,
                           f"events unknown, {len(sizes)} unknown-size contexts",
                           f"{row['events']}, {row['unknown_size_contexts']} unknown",
                           "contexts made before the tracer started are a range, never a guess")
    t = report["totals"]
    evidence.check(f"{m}: totals range", t["events_min"] <= live_aio_nr <= t["events_max"],
                   f"contains aio-nr {live_aio_nr}", f"{t['events_min']}..{t['events_max']}", MAPS_RULE)
    evidence.check(f"{m}: aio-nr it read", report["aio_nr"] == live_aio_nr, str(live_aio_nr),
                   str(report["aio_nr"]), "/proc/sys/fs/aio-nr")


def test_every_method_agrees_with_the_workload_and_aio_nr(guest, aio_bin, evidence):
    base = aio_nr(guest)
    evidence.check("aio-nr before", base == 0, "0", str(base), "a quiet guest: other aio users would make sums inexact")
    old = start_holder(guest, aio_bin, "50 70", name="aio-old")  # before any tracer runs
    tracers = {m: start_tracer(guest, m) for m in ("bcc", "bpftrace")}
    holders = [
        start_holder(guest, aio_bin, "-T 300 17", name="aio-threaded"),
        start_holder(guest, aio_bin, "-f 200,5 9", name="aio-forking"),
        start_holder(guest, aio_bin, "-d 1 1022 64", name="aio-destroyer"),
    ]
    gone = start_holder(guest, aio_bin, "128", name="aio-gone")
    try:
        holders[2].destroy()  # the 1022 context goes away while tracing
        gone.stop(signal.SIGKILL)  # and a whole process with its context (exit_aio)
        reports = {m: stop_tracer(guest, p) for m, p in tracers.items()}
        reports["maps"] = maps_report(guest)
        kern = kernel_method(guest, evidence)
        live = aio_nr(guest)
        truth: dict[int, list[int]] = {}
        for h in [old, *holders]:
            for pid, ctxs in h.by_pid().items():
                truth[pid] = [c["n"] for c in ctxs]
        truth[holders[2].proc.pid] = [64]
        held = sum(sum(v) for v in truth.values())
        evidence.check("aio-nr vs the workload's contexts", live == held, f"{held} (sum of n held)", str(live),
                       "fs/aio.c: aio_nr += n at io_setup, -= n at kill_ioctx")
        new_pids = {pid for h in holders for pid in h.pids}
        check_against_truth(evidence, reports["bcc"], truth, new_pids, live)
        check_against_truth(evidence, reports["bpftrace"], truth, new_pids, live)
        check_against_truth(evidence, reports["maps"], truth, set(), live)
        if kern:  # after the fact, no tracer: exact for the older contexts too
            check_exact(evidence, kern, truth, live)
            listed = gone.proc.pid in {p["pid"] for p in kern["processes"]}
            evidence.check(f"kernel: the killed holder {gone.proc.pid} listed", not listed, "no",
                           "yes" if listed else "no", "fs/aio.c exit_aio: its contexts left the table")
        # The killed holder: no method may list it, and each tracer must have seen its
        # context given back at exit (a tracer that missed exit_aio would keep it live).
        for m, r in reports.items():
            listed = gone.proc.pid in {p["pid"] for p in r["processes"]}
            evidence.check(f"{m}: the killed holder {gone.proc.pid} listed", not listed, "no",
                           "yes" if listed else "no", "fs/aio.c exit_aio (maps: the process is gone)")
        for m in ("bcc", "bpftrace"):
            freed = sorted((x["pid"], x["events"], x["by"]) for x in reports[m]["released"])
            want = sorted([(gone.proc.pid, 128, "exit"), (holders[2].proc.pid, 1022, "io_destroy")])
            evidence.check(f"{m}: contexts released while tracing", freed == want, str(want), str(freed),
                           "fs/aio.c exit_aio from exit_mm (kprobe exit_aio), io_destroy (docs/kernel-rules.md §8)")
        # Exact where known, plus the truth of the older contexts, is aio-nr exactly.
        old_truth = sum(sum(truth[p]) for p in old.pids)
        for m in ("bcc", "bpftrace"):
            known = sum(p["events"] for p in reports[m]["processes"] if p["events"] is not None)
            evidence.check(f"{m}: exact events + older contexts' truth", known + old_truth == live, str(live),
                           f"{known} + {old_truth}", "aio-nr is the sum of every live context's n")
    finally:
        for h in [old, *holders]:
            h.stop()
    evidence.require()


@pytest.mark.parametrize("method", ["maps", "bpftrace", "kernel"])
def test_the_leaker_is_the_first_row(guest, aio_bin, sysctl, evidence, method):
    """The question an administrator asks: aio-nr is at aio-max-nr and io_setup fails with EAGAIN. Who?"""
    quiet = [start_holder(guest, aio_bin, "8 16", name=f"aio-quiet-{i}") for i in range(3)]
    sysctl.set("fs.aio-max-nr", aio_nr(guest) + 40 * 256)
    tracer = start_tracer(guest, method) if method == "bpftrace" else None
    leaker = start_holder(guest, aio_bin, ",".join(["256"] * 41), name="aio-leaker --leak")
    try:
        errors = [c["error"] for c in leaker.contexts if "error" in c]
        evidence.check("the leaker's io_setup results", errors == ["EAGAIN"], "40 ok, the 41st EAGAIN",
                       f"{41 - len(errors)} ok, then {errors}", "fs/aio.c ioctx_alloc: aio_nr + n > aio_max_nr")
        max_nr, live = int(sysctl.get("fs.aio-max-nr")), aio_nr(guest)
        evidence.check("aio-nr", live == max_nr, f"{max_nr} (aio-max-nr)", str(live), "fs/aio.c aio_nr")
        report = (stop_tracer(guest, tracer) if tracer else kernel_method(guest, evidence) if method == "kernel"
                  else maps_report(guest))
        if report is None:
            evidence.require()
            return
        first = report["processes"][0]
        evidence.check(f"{method}: first row's pid", first["pid"] == leaker.proc.pid, str(leaker.proc.pid),
                       str(first["pid"]), "rows sorted by consumption; the leaker holds 40 x 256, the others 3 x 24")
        evidence.check(f"{method}: first row's command line", first["cmdline"].startswith("aio-leaker --leak"),
                       "aio-leaker --leak ...", first["cmdline"][:40], "/proc/<pid>/cmdline (exec -a)")
        evidence.check(f"{method}: first row's contexts", first["contexts"] == 40, "40", str(first["contexts"]),
                       "the 40 that fit")
    finally:
        for h in [*quiet, leaker]:
            h.stop()
    evidence.require()


def _line(holder, word: str) -> list[str]:
    return next(ln.split()[2:] for ln in holder.lines if ln.startswith(f"{word} "))


def test_inherited_moved_and_unmapped_rings(guest, aio_bin, evidence):
    """Rings that are not contexts, and contexts with no ring, as each method sees them:
    a child forked after io_setup maps its parent's ring but holds no context
    (mm->ioctx_table is not copied: fs/aio.c, kernel/fork.c mm_init_aio); a ring
    moved by mremap keeps its context under the new address (aio_ring_mremap); an
    unmapped ring's context lives on and still counts in aio-nr."""
    base = aio_nr(guest)
    tracer = start_tracer(guest, "bpftrace")
    forker = start_holder(guest, aio_bin, "-F 100", name="aio-forker")
    mover = start_holder(guest, aio_bin, "-M 300", name="aio-mover")
    unmapper = start_holder(guest, aio_bin, "-U 500", name="aio-unmapper")
    try:
        parent = forker.proc.pid
        [child] = [p for p in forker.pids if p != parent]
        old, new = (int(x) for x in _line(mover, "MOVED"))
        gone_ring = int(_line(unmapper, "UNMAPPED")[0])
        live = aio_nr(guest)
        evidence.check("aio-nr", live == base + 900, f"{base + 900} (100 + 300 + 500: the unmapped one counts)",
                       str(live), ACCOUNT_RULE)
        reports = {"bpftrace": stop_tracer(guest, tracer), "maps": maps_report(guest)}
        tracer = None
        kern = kernel_method(guest, evidence)
        if kern:
            reports["kernel"] = kern
        # What each method should say, per case (None: not listed); a ring's range from
        # its size and the possible-CPU count read in the guest (docs/kernel-rules.md §1).
        c = probes.possible_cpus(guest)

        def span(n: int) -> str:
            lo, hi = aio_ring.events_range(aio_ring.ring_pages(n, c), c)
            return f"{lo}..{hi}"

        want = {
            "kernel": {parent: (1, 100), child: (0, 0), mover.proc.pid: (1, 300), unmapper.proc.pid: (1, 500)},
            "maps": {parent: (1, span(100)), child: (1, span(100)), mover.proc.pid: (1, span(300)),
                     unmapper.proc.pid: None},
            "bpftrace": {parent: (1, 100), child: (1, span(100)), mover.proc.pid: (1, span(300)),
                         unmapper.proc.pid: None},
        }
        names = {parent: "forker (parent)", child: "forker's child (inherited ring)",
                 mover.proc.pid: "mover (mremapped ring)", unmapper.proc.pid: "unmapper (ring unmapped)"}
        why = {"kernel": KERNEL_RULE, "maps": MAPS_RULE + "; one row per mapped ring",
               "bpftrace": TRACE_RULE + "; sizes known by the address io_setup returned, rows from maps"}
        for m, report in reports.items():
            rows = {p["pid"]: p for p in report["processes"]}
            for pid, expected in want[m].items():
                row = rows.get(pid)
                seen = None if row is None else (row["contexts"], row["events"] if row["events"] is not None
                                                 else f"{row['events_min']}..{row['events_max']}")
                evidence.check(f"{m}: {names[pid]}", seen == expected,
                               "not listed" if expected is None else f"{expected[0]} contexts, events {expected[1]}",
                               "not listed" if seen is None else f"{seen[0]} contexts, events {seen[1]}", why[m])
        if kern:
            rows = {p["pid"]: p for p in kern["processes"]}
            moved = [d["ctx"] for d in rows.get(mover.proc.pid, {}).get("detail", [])]
            evidence.check("kernel: the moved context's id", moved == [hex(new)], f"[{hex(new)}] (was {hex(old)})",
                           str(moved), "fs/aio.c aio_ring_mremap: ctx->user_id = ctx->mmap_base = new address")
            unmapped = rows.get(unmapper.proc.pid, {}).get("unmapped_contexts")
            evidence.check("kernel: the unmapped context", unmapped == 1, f"1 (ring at {hex(gone_ring)} gone)",
                           str(unmapped), KERNEL_RULE)
            orphan = rows.get(child, {}).get("rings_without_context")
            evidence.check("kernel: the child's inherited ring", orphan == 1, "1 ring without a context",
                           str(orphan), "kernel/fork.c mm_init_aio: a new mm starts with no ioctx_table")
            evidence.check("kernel: total", kern["totals"]["events"] == live, f"{live} (aio-nr)",
                           str(kern["totals"]["events"]), "aio-nr is the sum of every live context's n")
    finally:
        if tracer is not None:
            stop_tracer(guest, tracer)
        for h in (forker, mover, unmapper):
            h.stop()
    evidence.require()


def test_a_table_longer_than_the_kernel_method_reads(guest, aio_bin, evidence):
    """One process with 600 contexts: its ioctx_table grows fourfold as it fills (4,
    16, 64, 256, 1024 slots: fs/aio.c ioctx_add_table), past the MAX_SLOTS slots the
    iterator reads. That process gets a range, from the contexts read up to all of
    aio-nr no context read accounts for, and a note; a small holder beside it (the
    control) stays exact."""
    many, few = 600, [7, 11]
    slots = 4
    while slots < many:
        slots *= 4
    base = aio_nr(guest)
    big = start_holder(guest, aio_bin, " ".join(["1"] * many), name="aio-many")
    small = start_holder(guest, aio_bin, " ".join(map(str, few)), name="aio-few")
    try:
        live = aio_nr(guest)
        evidence.check("aio-nr", live == base + many + sum(few), f"{base + many + sum(few)}", str(live),
                       ACCOUNT_RULE)
        kern = kernel_method(guest, evidence)
        if kern:
            rows = {p["pid"]: p for p in kern["processes"]}
            row, ctl = rows.get(big.proc.pid, {}), rows.get(small.proc.pid, {})
            read = min(many, MAX_SLOTS)  # contexts fill the slots in order, one event each
            seen = (row.get("events"), row.get("events_min"), row.get("events_max"), row.get("unread_slots"))
            evidence.check("kernel: the holder past the slots read", seen == (None, read, many, slots - MAX_SLOTS),
                           f"a range {read}..{many} ({slots} slots, {MAX_SLOTS} read: {slots - MAX_SLOTS} not)",
                           f"events {seen[0]}, range {seen[1]}..{seen[2]}, {seen[3]} slots not read",
                           "fs/aio.c ioctx_add_table (the table grows fourfold); "
                           "fixtures/tools/aio_holders.py MAX_SLOTS (the verifier bounds the loop)")
            noted = any(f"{slots} slots, only the first {MAX_SLOTS}" in n for n in kern["notes"])
            evidence.check("kernel: the report says what it did not read", noted, "a note", str(noted),
                           "fixtures/tools/aio_holders.py build_report")
            evidence.check("kernel: the small holder (control)", (ctl.get("contexts"), ctl.get("events"))
                           == (len(few), sum(few)), f"{len(few)} contexts, {sum(few)} events",
                           f"{ctl.get('contexts')} contexts, {ctl.get('events')} events", KERNEL_RULE)
    finally:
        big.stop()
        small.stop()
    evidence.require()


def test_overlapping_sizes_and_what_a_user_cannot_see(guest, aio_bin, evidence):
    """Rings of one page count hide which holder is larger: 41 contexts of 126 events
    (5166) and 45 of 64 (2880) all map 2-page rings, each n in 63..126 (4c floor:
    possible CPUs <= 8). The maps ranking (by lower bound) puts the smaller holder
    first and says the ranking is uncertain; the kernel method ranks them by what
    they hold. Run as an unprivileged user, the maps method cannot read root's
    processes' maps: the report names them instead of leaving them out."""
    c = probes.possible_cpus(guest)
    if 4 * c > 126:
        pytest.skip(f"{c} possible CPUs: the 4c floor ({4 * c}) puts both sizes in one ring size class")
    leaker = start_holder(guest, aio_bin, ",".join(["126"] * 41), name="aio-leaker")
    other = start_holder(guest, aio_bin, ",".join(["64"] * 45), name="aio-other")
    try:
        maps = maps_report(guest)
        order = [p["pid"] for p in maps["processes"]][:2]
        evidence.check("maps: ranking by lower bound", order == [other.proc.pid, leaker.proc.pid],
                       f"[{other.proc.pid}, {leaker.proc.pid}] (2835 > 2583: the ranges overlap)", str(order),
                       MAPS_RULE)
        evidence.check("maps: says the ranking is uncertain", maps["ranking_certain"] is False, "False",
                       str(maps["ranking_certain"]), "fixtures/tools/aio_holders.py: first two ranges overlap")
        kern = kernel_method(guest, evidence)
        if kern:
            order = [p["pid"] for p in kern["processes"]][:2]
            evidence.check("kernel: ranking", order == [leaker.proc.pid, other.proc.pid],
                           f"[{leaker.proc.pid}, {other.proc.pid}] (5166 > 2880)", str(order), KERNEL_RULE)
        # A copy nobody can read: the checkout may not be (a clone under root's 0700 home).
        guest.run(f"mkdir -p {NOBODY_DIR} && chmod 755 {NOBODY_DIR}", check=True)
        for src in (AIO_HOLDERS, AIO_HOLDERS.with_name("aio_ring.py")):  # the tool and what it imports
            guest.write_file(f"{NOBODY_DIR}/{src.name}", src.read_bytes(), mode=0o644)
        tool = f"{NOBODY_DIR}/{AIO_HOLDERS.name}"
        r = guest.run(f"setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 {tool} --json")
        report = json.loads(r.stdout) if r.ok else {}
        listed = {p["pid"] for p in report.get("processes", [])}
        hidden = set(report.get("unreadable_pids", []))
        mine = {leaker.proc.pid, other.proc.pid}
        evidence.check("as nobody: the method", report.get("method") == "maps", "maps (kernel needs root)",
                       str(report.get("method") or r.stderr.strip()[-200:]), "aio_holders.py read_kernel()")
        evidence.check("as nobody: root's holders listed", not (mine & listed), "none", str(sorted(mine & listed)),
                       "fs/proc/base.c: maps needs ptrace_may_access (PTRACE_MODE_READ)")
        evidence.check("as nobody: root's holders named as unreadable", mine <= hidden, f"{sorted(mine)} among them",
                       f"{len(hidden)} unreadable, holders {'in' if mine <= hidden else 'NOT in'} them",
                       "the report says what it could not see")
        said = any("could not be read" in n for n in report.get("notes", []))
        evidence.check("as nobody: a note says so", said, "yes", "yes" if said else "no", "aio_holders.py")
        # The positive control of the same witness: root reads them all.
        evidence.check("as root: the holders listed", mine <= {p["pid"] for p in maps["processes"]}, "both",
                       str(sorted(mine & {p["pid"] for p in maps["processes"]})), MAPS_RULE)
    finally:
        leaker.stop()
        other.stop()
    evidence.require()
