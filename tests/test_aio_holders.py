"""aio-holders without a VM: parsing captured /proc text, the ring arithmetic, the
event model, and the maps method on this host's own kernel."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fixtures import FIXTURES, WORKLOADS
from fixtures.build import build_c
from fixtures.tools import aio_holders, aio_ring

TOOL = FIXTURES / "tools" / "aio_holders.py"

# Captured from a 6.1 guest (c = 2): io_setup(128) -> 3 pages, io_setup(64) -> 2 pages.
MAPS = """\
55d0c8a00000-55d0c8a01000 r--p 00000000 00:1f 1234      /usr/bin/prog
7f6cf09b3000-7f6cf09b6000 rw-s 00000000 00:13 333913                     /[aio] (deleted)
7f6cf09b6000-7f6cf09b8000 rw-s 00000000 00:13 333912                     /[aio] (deleted)
7f6cf0a00000-7f6cf0a21000 rw-p 00000000 00:00 0 
7ffd5a1f0000-7ffd5a211000 rw-p 00000000 00:00 0                          [stack]
"""


def test_parse_maps_finds_rings_with_start_and_pages():
    assert aio_holders.parse_maps(MAPS) == [(0x7F6CF09B3000, 3), (0x7F6CF09B6000, 2)]


def test_measured_ring_sizes_match_the_formula():
    # docs/kernel-rules.md §1, measured on 6.1 with c = 2.
    assert [aio_ring.ring_pages(n, 2) for n in (128, 64, 4, 1)] == [3, 2, 1, 1]


@pytest.mark.parametrize("c", [1, 2, 3, 8, 15, 16, 64, 255])
def test_events_range_is_exactly_the_set_of_n_with_that_ring(c):
    by_pages: dict[int, list[int]] = {}
    for n in range(1, 5000):
        by_pages.setdefault(aio_ring.ring_pages(n, c), []).append(n)
    for pages, ns in by_pages.items():
        if max(ns) == 4999:
            continue  # the sweep's end cuts this ring's range short
        assert aio_ring.events_range(pages, c) == (min(ns), max(ns))


def test_ring_nr_matches_the_header_the_kernel_writes():
    assert [aio_ring.ring_nr(p) for p in (1, 2, 3)] == [127, 255, 383]


def test_tracker_applies_events_in_time_order():
    t = aio_holders.Tracker()
    # Arrival order differs from time order (per-CPU buffers): destroy seen before setup.
    for line in ["D 30 10 777 4096 0", "S 10 10 777 128 0 4096 prog", "S 20 10 777 7 0 8192 prog",
                 "S 40 11 888 5 0 4096 child", "X 50 11 888", "S 60 12 999 9 -11 0 prog"]:
        t.add(aio_holders.parse_event(line))
    live, released = t.replay()
    assert live == {(10, 8192): 7}
    assert released == [{"pid": 10, "ctx": "0x1000", "events": 128, "by": "io_destroy"},
                        {"pid": 11, "ctx": "0x1000", "events": 5, "by": "exit"}]


def test_garbage_lines_are_ignored():
    assert aio_holders.parse_event("Attaching 6 probes...") is None
    assert aio_holders.parse_event("S not numbers") is None


def test_maps_method_on_this_host():
    """The tool runs outside a VM too: a real process on the host's own kernel."""
    binary = build_c(WORKLOADS / "aio_workload.c", "-pthread")
    p = subprocess.Popen([binary, "-f", "5", "200", "63"], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        while sum(ln.startswith("READY") for ln in lines) < 2:
            lines.append(p.stdout.readline())
            assert lines[-1], "workload exited early"
        time.sleep(0.1)
        out = subprocess.run([sys.executable, str(TOOL), "--json"], capture_output=True, text=True, check=True)
        report = json.loads(out.stdout)
        rows = {r["pid"]: r for r in report["processes"]}
        ctx = [json.loads(ln) for ln in lines if ln.startswith("{")]
        for pid in {c["pid"] for c in ctx}:
            sizes = [c["n"] for c in ctx if c["pid"] == pid]
            assert rows[pid]["contexts"] == len(sizes)
            assert rows[pid]["events_min"] <= sum(sizes) <= rows[pid]["events_max"]
            assert rows[pid]["events"] is None  # maps alone never claims an exact size
        assert report["processes"][0]["pid"] == p.pid  # 200+63 outweighs the child's 5
        table = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, check=True).stdout
        assert f"{p.pid}" in table and "aio-nr" in table.splitlines()[0]
    finally:
        for pid in [int(ln.split()[1]) for ln in lines if ln.startswith("READY")]:
            if pid != p.pid:
                os.kill(pid, signal.SIGKILL)  # the forked child is not ours to wait for
        p.kill()
        p.wait()


def _fake_proc(tmp_path, maps_by_pid: dict[int, str]):
    for pid, text in maps_by_pid.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "maps").write_text(text)
        (d / "comm").write_text(f"p{pid}\n")
        (d / "cmdline").write_text(f"p{pid}\0")
    return str(tmp_path)


def test_kernel_method_is_exact_and_tells_inherited_and_unmapped_rings(tmp_path, monkeypatch):
    """Parent 10 maps both rings and holds the 3-page one (128) plus an unmapped context
    (500); child 11 inherited the 2-page ring but holds no context (fork does not copy
    mm->ioctx_table)."""
    monkeypatch.setattr(aio_holders, "possible_cpus", lambda: 2)
    child_maps = "\n".join(MAPS.splitlines()[2:3]) + "\n"
    proc = _fake_proc(tmp_path, {10: MAPS, 11: child_maps})
    kern = aio_holders.parse_kernel("T 10 4096 4\n"
                                    f"K 10 4096 {0x7F6CF09B3000} 128 256 0\nK 10 4096 {0x1000} 500 1000 0\n"
                                    f"K 10 4096 {0x2000} 7 16 1\ngarbage\n")
    report = aio_holders.build_report("kernel", None, proc, kern=kern)
    rows = {p["pid"]: p for p in report["processes"]}
    assert (rows[10]["contexts"], rows[10]["events"], rows[10]["unmapped_contexts"]) == (2, 628, 1)
    assert rows[10]["rings_without_context"] == 1  # the parent's 2-page ring is no context of its own here
    assert (rows[11]["contexts"], rows[11]["events"], rows[11]["rings_without_context"]) == (0, 0, 1)
    assert report["totals"]["events"] == 628  # the dead context (killed, in the table) is not counted
    assert [p["pid"] for p in report["processes"]] == [10, 11] and report["ranking_certain"]


def test_maps_method_counts_the_inherited_ring_again_and_flags_overlap(tmp_path, monkeypatch):
    monkeypatch.setattr(aio_holders, "possible_cpus", lambda: 2)
    report = aio_holders.build_report("maps", None, _fake_proc(tmp_path, {10: MAPS, 11: MAPS}))
    rows = {p["pid"]: p for p in report["processes"]}
    assert rows[11]["contexts"] == 2 and rows[11]["events"] is None  # the child's inherited rings, again
    assert report["ranking_certain"] is False  # equal ranges: either may hold more
    assert any("overlaps" in n for n in report["notes"])


def test_unreadable_maps_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(aio_holders, "possible_cpus", lambda: 2)
    proc = _fake_proc(tmp_path, {10: MAPS, 12: MAPS})
    real_open = open

    def refusing(path, *a, **k):
        if str(path).startswith(f"{proc}/12/"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", refusing)
    report = aio_holders.build_report("maps", None, proc)
    assert [p["pid"] for p in report["processes"]] == [10]
    assert report["unreadable_pids"] == [12]
    assert any("could not be read" in n for n in report["notes"])


def test_a_table_longer_than_the_iterator_reads_is_a_range_and_a_note(tmp_path, monkeypatch):
    """Pid 10's table has 1024 slots and the iterator read 512 of them (2 contexts of
    100 there); pid 11 holds 50. aio-nr 900: the 650 no context read accounts for
    can only be pid 10's."""
    monkeypatch.setattr(aio_holders, "possible_cpus", lambda: 2)
    proc = _fake_proc(tmp_path, {10: MAPS, 11: ""})
    (tmp_path / "sys" / "fs").mkdir(parents=True)
    (tmp_path / "sys" / "fs" / "aio-nr").write_text("900\n")
    kern = aio_holders.parse_kernel(f"T 10 4096 1024\nK 10 4096 {0x1000} 100 256 0\nK 10 4096 {0x2000} 100 256 0\n"
                                    f"T 11 8192 4\nK 11 8192 {0x3000} 50 128 0\n")
    report = aio_holders.build_report("kernel", None, proc, kern=kern)
    rows = {p["pid"]: p for p in report["processes"]}
    assert (rows[10]["events"], rows[10]["events_min"], rows[10]["events_max"]) == (None, 200, 850)
    assert rows[10]["unread_slots"] == 512 and rows[11]["events"] == 50
    assert report["totals"]["events"] is None
    assert any("1024 slots, only the first 512 were read" in n for n in report["notes"])


def test_a_tracer_that_fails_to_start_is_its_error_line():
    """stap that cannot build its module (or bpftrace a probe) exits before READY:
    the tool says the compiler's line instead of reporting an empty trace."""
    script = "import sys; print('cc1: note: x', file=sys.stderr); print('error: implicit declaration', file=sys.stderr)"
    with pytest.raises(aio_holders._TracerFailed, match="rc 0.*error: implicit declaration"):
        aio_holders.trace_lines([sys.executable, "-c", script], aio_holders.Tracker(), None)
    with pytest.raises(aio_holders._TracerFailed, match="no-such-tracer is not installed"):
        aio_holders.trace_lines(["no-such-tracer"], aio_holders.Tracker(), None)


def _traced_until_stopped(script: str) -> aio_holders.Tracker:
    """What trace_lines() gathered from `script` until stopped 2 s in, as SIGINT
    stops it in main()."""
    def stop(signum, frame):
        raise aio_holders._Stop

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        t = aio_holders.Tracker()
        aio_holders.trace_lines([sys.executable, "-c", script], t, None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return t


def test_tracer_lines_until_it_is_stopped():
    script = ("import time; print('READY', flush=True); print('S 5 10 99 128 0 4096 w', flush=True); "
              "print('X 9 10 99', flush=True); time.sleep(30)")

    t = _traced_until_stopped(script)
    live, released = t.replay()
    assert live == {} and released == [{"pid": 10, "ctx": "0x1000", "events": 128, "by": "exit"}]


def test_what_a_tracer_says_of_its_losses_is_in_the_report():
    """stap says at its end how many probes it skipped: a context it missed is then
    no blind spot of the method but a loss, and the report says so beside what it
    traced."""
    script = ("import signal, sys, time\n"
              "def end(*_):\n"
              "    print('WARNING: Number of errors: 0, skipped probes: 1', file=sys.stderr); sys.exit(0)\n"
              "signal.signal(signal.SIGINT, end)\n"
              "print('READY', flush=True); print('S 5 10 99 128 0 4096 w', flush=True); time.sleep(30)")

    t = _traced_until_stopped(script)
    report = aio_holders.build_report("systemtap", t)
    assert "the tracer said: WARNING: Number of errors: 0, skipped probes: 1" in report["notes"]
    assert report["traced_setups"] == [{"pid": 10, "events": 128, "ret": 0, "ctx": "0x1000"}]


def test_a_tracer_that_ends_before_it_is_stopped_gives_no_report():
    """stap aborts on its own (e.g. 'probe overhead exceeded threshold'): what it saw
    until then is not all there was, so the tool says why instead of a short report."""
    script = ("import sys; print('READY', flush=True); print('S 5 10 99 128 0 4096 w', flush=True); "
              "print('ERROR: probe overhead exceeded threshold', file=sys.stderr); sys.exit(1)")
    with pytest.raises(aio_holders._TracerFailed, match="rc 1.* while tracing: ERROR: probe overhead"):
        aio_holders.trace_lines([sys.executable, "-c", script], aio_holders.Tracker(), None)


def test_the_systemtap_script_prints_the_tracers_lines():
    prog = aio_holders.STAP_PROG
    assert "probe syscall.io_setup " in prog and 'kprobe.function("exit_aio")' in prog
    assert all(f'printf("{k} ' in prog for k in "SDX")
    assert aio_holders.stap_command(None)[:2] == ["stap", "-g"]
    assert aio_holders.stap_command("m.ko") == ["staprun", "m.ko"]
    assert aio_holders.stap_command("m.ko", "/t/bin/staprun") == ["/t/bin/staprun", "m.ko"]


def test_systemtap_resolves_against_the_kernels_own_symbols():
    """Debian's System.map is a placeholder; the guest's kallsyms is the table,
    without the modules' symbols (a tab and [module] after the name)."""
    from fixtures.modules.stap import first_error, kernel_symbols
    kallsyms = ("ffffffff81000000 T _stext\nffffffff81400000 t exit_aio\n"
                "ffffffffc0000000 t null_open\t[null_blk]\n")
    assert kernel_symbols(kallsyms) == "ffffffff81000000 T _stext\nffffffff81400000 t exit_aio\n"
    log = ("WARNING: x\nIn file included from a.c:1,\n"
           "runtime/stp_task_work.c:107:40: error: passing argument 2 of 'task_work_cancel'\ncc1: all warnings\n")
    assert first_error(log).startswith("runtime/stp_task_work.c:107:40: error:")


def test_stap_finds_the_symbols_where_each_version_looks(tmp_path):
    """stap 4 reads System.map in the build tree; stap 5 only /boot/System.map-RELEASE
    under --sysroot: the tree holds the first, its parent the second."""
    from types import SimpleNamespace

    from fixtures.modules.stap import _tree
    headers = tmp_path / "headers"
    (headers / "include" / "config").mkdir(parents=True)
    (headers / "include" / "config" / "kernel.release").write_text("6.12.117+deb12-amd64\n")
    (headers / "System.map").write_text("placeholder\n")
    (headers / "Makefile").write_text("")
    kernel = SimpleNamespace(name="k", modules=None, headers=headers, boot=None)
    (tmp_path / "scratch").mkdir()  # build_stap passes a fresh temporary directory
    tree = _tree(kernel, "ffffffff81400000 t exit_aio\n", tmp_path / "scratch")
    assert (tree / "System.map").read_text() == "ffffffff81400000 t exit_aio\n"
    assert (tree / "Makefile").resolve() == headers / "Makefile"
    assert (tmp_path / "scratch" / "boot" / "System.map-6.12.117+deb12-amd64").read_text() == (
        "ffffffff81400000 t exit_aio\n")


def test_stap_asks_for_symbol_versions_only_where_the_kernel_checks_them(tmp_path):
    from fixtures.modules.stap import make_args
    (tmp_path / "include" / "config").mkdir(parents=True)
    conf = tmp_path / "include" / "config" / "auto.conf"
    conf.write_text("CONFIG_MODULES=y\nCONFIG_MODVERSIONS=y\n")
    assert "CONFIG_MODVERSIONS=y" in make_args(tmp_path)
    conf.write_text("CONFIG_MODULES=y\n")
    assert not any(a.startswith("CONFIG_MODVERSIONS") for a in make_args(tmp_path))
