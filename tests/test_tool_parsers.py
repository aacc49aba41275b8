"""The tool witnesses' parsers, on output captured from the tools in a
debian-6.12 guest (tests/data/tools/: 3 tasks in O_DIRECT reads on CPU 1, pids
381-383), and their judgements on made-up readings that a tool with a bug would
give."""

from __future__ import annotations

import math
from pathlib import Path

from suites.waits import DIRECT_READ, FROZEN_WRITER, URING_READ, VFORK_PARENT
from suites.watch import cpushare, offcputime
from suites.watch.cpushare import Shares
from suites.watch.evidence import Evidence
from suites.witnesses import atop, iostat, iotop_c, iotop_py, mpstat, pidstat, ps, sar, top, vmstat

DATA = Path(__file__).parent / "data" / "tools"
NEAR = 1796007600.0  # 2026-11-30 02:00:00 UTC: the captures' day


def text(name: str) -> str:
    return (DATA / name).read_text()


def test_vmstat_columns_and_time_after_the_line_since_boot():
    rows = vmstat.parse(text("vmstat.txt"))
    assert len(rows) == 12
    t, cols = rows[3]
    assert t == 1796007601.0 and (cols["b"], cols["wa"]) == (3, 44)


def test_mpstat_json_per_cpu():
    rows = mpstat.parse(text("mpstat.json"), NEAR)
    t, cpus = rows[3]
    assert t == 1796007599.0
    assert cpus[1] == Shares(iowait=88.64, idle=0.0, busy=11.37) and cpus[None].iowait == 41.49


def test_top_reads_cpus_put_side_by_side_on_one_line():
    t, cpus = top.parse(text("top.txt"), NEAR)[1]
    assert t == 1796007600.0 and cpus[1] == Shares(85.2, 0.0, 14.8) and cpus[0].busy == 99.1


def test_iostat_sadf_pidstat_ps():
    assert iostat.parse(text("iostat.json"))[3] == (1796007599.0, 40.96)
    assert sar.parse(text("sadf.json")) == [(1796003227.0, 3), (1796003228.0, 3)]
    assert pidstat.parse(text("pidstat.txt"))[:2] == [(1796007598.0, 381, 0), (1796007598.0, 382, 0)]
    assert ps.parse(text("ps.txt"))[0] == (1796007597.286758, 1796007599.778159, 381, "Ds", "submit_bio_wait")
    assert ps.parse("T 10.5\n 7 D  x\nE 11.25\nT 12.0\n")[0] == (10.5, 11.25, 7, "D", "x")


def _ps_seen(window, capture="ps-slow-host.txt", pids=(1797, 1798, 1799)):
    from types import SimpleNamespace
    return SimpleNamespace(p="", wall_window=window, wait=FROZEN_WRITER, hold=SimpleNamespace(pids=pids),
                           mine=ps.parse(text(capture)))


def test_ps_judges_only_samples_read_inside_the_window():
    """A slow host (tests/data/tools/ps-slow-host.txt, debian-6.1, writers on a frozen
    ext4): each ps took ~2 s, so the sample stamped at 878.18 inside the window was
    read after the writers woke (S, hrtimer_nanosleep). Only a sample read wholly
    inside the window is judged; tasks in S inside it still fail."""
    window = (1796107872.5, 1796107878.5)
    ev = Evidence("t")
    ps.WITNESS.judge(ev, _ps_seen(window))
    assert ev.ok, ev.markdown()
    assert "D in 3 task samples" in ev.markdown()
    ev = Evidence("t")
    ps.WITNESS.judge(ev, _ps_seen((window[0], 1796107882.0)))  # they woke inside this one
    assert not ev.ok and "DS in 6 task samples" in ev.markdown()


def test_ps_with_no_sample_inside_the_window_is_a_note_not_a_failure():
    """A planted-bug run (tests/data/tools/ps-no-sample-inside.txt): the one ps
    begun inside the window took 5.5 s and ended after the writers woke. No
    sample says what ps saw inside it; a sample that does still fails if wrong."""
    pids = (1077, 1078, 1079)
    ev = Evidence("t")
    ps.WITNESS.judge(ev, _ps_seen((1796115467.6, 1796115473.6), "ps-no-sample-inside.txt", pids))
    assert ev.ok and not ev.rows
    assert ev.notes == ["ps: no sample read wholly inside the window (the one across it took 5.5 s): not judged"]
    ev = Evidence("t")
    ps.WITNESS.judge(ev, _ps_seen((1796115467.6, 1796115476.0), "ps-no-sample-inside.txt", pids))
    assert not ev.ok and "DS in 6 task samples" in ev.markdown()


def test_atop_fields_counted_from_the_end_of_a_command_line_with_spaces():
    rows = [r for r in atop.parse(text("atop.txt")) if r[2] == 381]
    assert rows[0] == ("PRG", 1796007598.0, 381, {"state": "D", "nthrslpu": 1})
    assert rows[1] == ("PRC", 1796007598.0, 381, {"state": "D", "blkdelay": 0})


def test_iotop_frames():
    assert iotop_c.parse(text("iotop-c.txt"))[-1] == (1796007608.0, 383, 0.0, 0.0, 100.0)
    assert iotop_py.parse(text("iotop-py.txt"), NEAR)[-3] == (1796007608.0, 383, 0.0, 0.0, 99.99)


def test_offcputime_totals_per_pid():
    assert offcputime.parse(text("offcputime.txt")) == {1337: 7795386, 1178: 9996220, 1388: 10000547,
                                                        840: 10000766}


def test_state_filters_as_each_tool_has_it():
    # bcc: prev->__state & 2; libbpf-tools: prev->__state == 2 (docs/tools.md)
    assert offcputime.counts("bitmask", VFORK_PARENT.task_state)
    assert not offcputime.counts("equality", VFORK_PARENT.task_state)
    assert offcputime.counts("equality", DIRECT_READ.task_state)
    assert not offcputime.counts("bitmask", URING_READ.task_state)


class _Seen:
    """Enough of a hold for the CPU-share judgements: I/O wait on CPU 1 of 2."""

    def __init__(self, wait, hog=False):
        self.wait, self.hog, self.cpu, self.p = wait, hog, 1, ""

        class W:
            cpus = [0, 1]

        class B:
            cpus = [0, 1]

            @staticmethod
            def cpu(c):
                return type("T", (), {"iowait": 0, "total": 300})()

        self.window, self.base = W(), B()


def test_a_tool_that_shows_iowait_as_idle_disagrees():
    honest = [{0: Shares(0.0, 95.0, 5.0), 1: Shares(97.0, 0.0, 3.0)}]
    as_idle = [{0: Shares(0.0, 95.0, 5.0), 1: Shares(0.0, 97.0, 3.0)}]  # htop's default, say
    spread = [{0: Shares(48.0, 47.0, 5.0), 1: Shares(49.0, 48.0, 3.0)}]  # AIX's rule: every idle CPU
    results = []
    for shown in (honest, as_idle, spread):
        ev = Evidence("t")
        cpushare.per_cpu(ev, _Seen(DIRECT_READ), "tool", shown, 1, 0.005, "src")
        results.append(ev.ok)
    assert results == [True, False, False]


def test_a_hog_leaves_no_iowait_to_show():
    ev = Evidence("t")
    cpushare.per_cpu(ev, _Seen(DIRECT_READ, hog=True), "tool", [{0: Shares(0, 90, 10), 1: Shares(60, 0, 40)}],
                     1, 0.005, "src")
    assert not ev.ok


def _iotop_seen(window, delayed=False):
    from types import SimpleNamespace
    return SimpleNamespace(p="", wall_window=window, wait=FROZEN_WRITER,
                           hold=SimpleNamespace(pids=(1797, 1798, 1799), delayed=delayed))


def test_an_iotop_whose_first_frame_came_after_the_window_is_late_not_wrong():
    """tests/data/tools/iotop-py-late.txt: on a slow host iotop-py's first frame came
    at 06:51:22, after the writers had woken and gone; it listed none of them. That
    is a late start (noted), where frames inside the window that list none of the
    tasks stay the tool's failure."""
    out = text("iotop-py-late.txt")
    near = 1796107878.0
    began, rows = iotop_py.first_frame(out, near), iotop_py.parse(out, near)
    assert began == 1796107882.0 and rows == []
    ev = Evidence("t")
    assert iotop_c.judge_io_percent(ev, _iotop_seen((1796107872.5, 1796107878.5)), "iotop-py", rows, 99.99, "src",
                                    began=began)
    assert ev.ok and "judged on the tasks it listed: none" in ev.markdown()
    ev = Evidence("t")
    assert not iotop_c.judge_io_percent(ev, _iotop_seen((1796107872.5, 1796107890.0)), "iotop-py", rows, 99.99,
                                        "src", began=began)
    assert not ev.ok and "1797: not listed" in ev.markdown()
    ev = Evidence("t")  # the delayed wait: the delay is not judged, and the row stays a note
    assert iotop_c.judge_io_percent(ev, _iotop_seen((1796107872.5, 1796107878.5), True), "iotop-py", rows, 99.99,
                                    "src", began=began)
    assert ev.ok and "IO% in all not judged" in ev.markdown()
    # The same host's control hold: no frame at all in 14 s (setup proved the tool prints one).
    assert iotop_py.first_frame("", near) == iotop_c.first_frame("") == math.inf

