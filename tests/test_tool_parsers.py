"""The tool witnesses' parsers, on output captured from the tools in a
debian-6.12 guest (tests/data/tools/: 3 tasks in O_DIRECT reads on CPU 1, pids
381-383), and their judgements on made-up readings that a tool with a bug would
give."""

from __future__ import annotations

from pathlib import Path

from suites.waits import DIRECT_READ, URING_READ, VFORK_PARENT
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
    assert ps.parse(text("ps.txt"))[0] == (1796007597.286758, 381, "Ds", "submit_bio_wait")


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
