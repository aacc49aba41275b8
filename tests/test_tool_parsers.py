"""The tool witnesses' parsers, on output captured from the tools in a
debian-6.12 guest (tests/data/tools/: 3 tasks in O_DIRECT reads on CPU 1, pids
381-383, and sar-q.txt and atop-z.txt of pids 1038-1041), and judgements of a
tool that runs fine but says nothing the window can judge. The judgements of
whole holds, as printed and as lying builds rewrite them: test_tool_judgments.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from suites.waits import DIRECT_READ, FROZEN_WRITER, URING_READ, VFORK_PARENT
from suites.watch import offcputime
from suites.watch.evidence import Evidence
from suites.watch.tools import ToolSeen
from suites.witnesses import atop, iostat, iotop_c, iotop_py, mpstat, pidstat, ps, sar, top, vmstat

DATA = Path(__file__).parent / "data" / "tools"
NEAR = 1796007600.0  # 2026-11-30 02:00:00 UTC: the captures' day


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_vmstat_lines_from_its_first_read_on():
    rows = vmstat.parse(text("vmstat.txt"))
    assert len(rows) == 13  # the line since boot is its first read's report
    t, cols = rows[4]
    assert t == 1796007601.0 and (cols["b"], cols["wa"], cols["us"] + cols["sy"] + cols["id"]) == (3, 44, 56)


def test_mpstat_json_every_field_per_cpu():
    t, cpus = mpstat.parse(text("mpstat.json"), NEAR)[3]
    assert t == 1796007599.0
    assert cpus[1]["iowait"] == 88.64 and cpus[1]["idle"] == 0.0 and set(cpus[1]) == set(mpstat.VIEW.fields)
    assert cpus[None]["iowait"] == 41.49


def test_top_reads_cpus_put_side_by_side_on_one_line_and_its_load_average():
    t, frame = top.parse(text("top.txt"), NEAR)[2]
    assert t == 1796007600.0 and frame["cpus"][1]["wa"] == 85.2 and frame["cpus"][1]["id"] == 0.0
    assert len(frame["load"]) == 3


def test_iostat_sar_pidstat_ps():
    assert iostat.parse(text("iostat.json"))[3][0] == 1796007599.0
    assert iostat.parse(text("iostat.json"))[3][1]["iowait"] == 40.96
    rows = sar.parse(text("sar-q.txt"), 1796460815.0)
    assert rows[1][1]["blocked"] == 3 and rows[1][1]["ldavg-1"] == 4.06 and len(rows) >= 5
    assert pidstat.parse(text("pidstat.txt"))[:2] == [(1796007598.0, 381, 0), (1796007598.0, 382, 0)]
    first = ps.parse(text("ps.txt"))[0]
    assert first[:2] == (1796007597.286758, 1796007599.778159) and first[3][381] == ("Ds", "submit_bio_wait")
    assert ps.parse("T 10.5\n 7 D  x\nE 11.25 0\nT 12.0\n")[0] == (10.5, 11.25, 0, {7: ("D", "x")})


def test_atop_one_word_per_field_and_its_samples():
    rows = [r for r in atop.parse(text("atop-z.txt")) if r[2] == 1038]
    assert rows[0] == ("PRG", 1796460815.0, 1038, {"name": "block_once-b7c0", "state": "T", "nthr": 1,
                                                   "nthrslpu": 0, "sample": 0})
    assert rows[1][0] == "PRC" and rows[1][3]["blkdelay"] == 0
    assert {r[3]["sample"] for r in rows} == {0, 1, 2}


def test_atop_lines_from_reads_the_tracer_did_not_keep_are_left_out():
    # debian-6.12-rt, 3 vCPUs: atop's first sample read pid 1016 before its exec
    # (comm taskset), which the read tracer does not keep; its last line is its
    # exit's. The lines left are as many as its traced reads, so each is paired with
    # its own read by order, not by a stamp that fell on a second's edge.
    rows = [r for r in atop.parse(text("atop-before-exec.txt")) if r[0] == "PRG"]
    assert [r[3]["name"] for r in rows if not atop.from_a_traced_read(r[3])] == ["taskset", "block_once-b7c0"]
    kept = [r for r in rows if atop.from_a_traced_read(r[3])]
    traced = [ln for ln in text("atop-before-exec.reads.txt").splitlines() if ln.startswith("pstat ")]
    assert len(kept) == len(traced) == 15


def test_iotop_frames():
    assert iotop_c.parse(text("iotop-c.txt"))[-1] == (1796007608.0, 383, 0.0, 0.0, 100.0, 3)
    assert iotop_py.parse(text("iotop-py.txt"), NEAR)[-3] == (1796007608.0, 383, 0.0, 0.0, 99.99, 1)


def test_offcputime_totals_per_pid():
    assert offcputime.parse(text("offcputime.txt")) == {1337: 7795386, 1178: 9996220, 1388: 10000547,
                                                        840: 10000766}


def test_state_filters_as_each_tool_has_it():
    # bcc: prev->__state & 2; libbpf-tools: prev->__state == 2 (docs/tools.md)
    assert offcputime.counts("bitmask", VFORK_PARENT.task_state)
    assert not offcputime.counts("equality", VFORK_PARENT.task_state)
    assert offcputime.counts("equality", DIRECT_READ.task_state)
    assert not offcputime.counts("bitmask", URING_READ.task_state)


def _ps_seen(window, capture, pids):
    return SimpleNamespace(prefix="", wall_window=window, wait=FROZEN_WRITER, hold=SimpleNamespace(pids=pids),
                           mine=ToolSeen(ps.parse(text(capture)), -9, (), "ps"))


def test_ps_judges_the_samples_read_inside_the_window():
    """A slow host (tests/data/tools/ps-slow-host.txt, debian-6.1, writers on a frozen
    ext4): each ps took ~2 s, so the sample stamped at 878.18 inside the window was
    read after the writers woke (S, hrtimer_nanosleep). Only a sample read wholly
    inside the window is judged; tasks in S inside it fail."""
    window = (1796107872.5, 1796107878.5)
    ev = Evidence("t")
    ps.WITNESS.judge_output(ev, _ps_seen(window, "ps-slow-host.txt", (1797, 1798, 1799)),
                            _ps_seen(window, "ps-slow-host.txt", (1797, 1798, 1799)).mine)
    rows = {r.witness: r for r in ev.rows}
    assert rows["ps STAT"].ok and rows["ps lists every task"].ok
    assert not rows["ps exits 0 each time"].ok  # these captures predate the exit status in each sample
    later = _ps_seen((window[0], 1796107882.0), "ps-slow-host.txt", (1797, 1798, 1799))
    ev = Evidence("t")
    ps.WITNESS.judge_output(ev, later, later.mine)
    assert not {r.witness: r for r in ev.rows}["ps STAT"].ok


def test_a_ps_with_no_sample_inside_the_window_fails():
    """tests/data/tools/ps-no-sample-inside.txt: the one ps begun inside the window
    took 5.5 s and ended after the writers woke. A tool that shows nothing of the
    window fails: every tool watched before the tasks went."""
    seen = _ps_seen((1796115467.6, 1796115473.6), "ps-no-sample-inside.txt", (1077, 1078, 1079))
    ev = Evidence("t")
    ps.WITNESS.judge_output(ev, seen, seen.mine)
    assert [(r.witness, r.ok) for r in ev.rows] == [("ps: reports inside the window", False)]
