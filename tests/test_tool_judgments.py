"""The tools' judgments without a guest: the pieces (when a tool read what it
reports, the brackets around its reads, a task's delay steps) on made-up
figures, and whole holds captured from a debian-6.12 guest (tests/data/holds/,
suites/watch/capture.py; debian_6_1_*: one from debian-6.1 in which the read
tracer lost atop's first read of two tasks) judged again: as the packaged tools printed them every
row holds, and rewritten by a lying build (suites/tools/mutants/lie.py) the row
named for the lie fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from suites.tools.mutants import BY_NAME, CORPUS
from suites.watch import bracket, capture, pertask, reads
from suites.watch.bracket import Bounds
from suites.watch.reads import AFTER, BEFORE, Instant

HOLDS = Path(__file__).parent / "data" / "holds"
WALL = 1_000.0  # wall clock minus monotonic in the made-up readings


def _lie_module():
    spec = importlib.util.spec_from_file_location("lie", Path(__file__).parents[1] / "suites/tools/mutants/lie.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


LIE = _lie_module()


def test_reads_parsed_and_grouped_into_readings():
    text = ("Attaching 14 probes...\nREADY\nstat 40 40 1 0 1000000000 1000100000\n"
            "stat 40 41 1 0 1050000000 1050200000\nstat 40 40 1 0 2000000000 2000100000\n"
            "pstat 40 40 1 77 2000000000 2000500000\npstat 77 77 1 77 2100000000 2100500000\n"
            "stat 90 90 40 0 3000000000 3000100000\nstat 91 91 2 0 3000000000 3000100000\n"
            "stat 92 92 91 0 4000000000 4000100000 40\n")
    got = reads.parse(text)
    assert len(got) == 8
    mine = reads.by_program(got, 40)
    assert len(mine) == 6  # its child 90 and grandchild 92 in, 91 out, task 77 reading itself out
    assert reads.rounds(mine, "stat") == [Instant(1.0, 1.0502), Instant(2.0, 2.0001), Instant(3.0, 3.0001),
                                          Instant(4.0, 4.0001)]
    assert reads.rounds(mine, "pstat", 77) == [Instant(2.0, 2.0005)]


def _readings(starts):
    return [Instant(t, t + 0.001) for t in starts]


def test_a_stamp_taken_before_the_read_fits_that_read_only():
    readings = _readings([0.95, 1.95, 2.95])  # reads just before each second ends
    # mpstat takes the time, then reads: its report stamped 1000 comes from 0.95
    assert reads.place([1000.0, 1001.0, 1002.0], readings, WALL, BEFORE) == [0, 1, 2]


def test_the_start_is_where_the_stamps_lie_nearest_their_reads():
    """iostat -y prints nothing for its first read; read at .7, stamped after: its
    first report's stamp also fits the read before (0.7 + 0.5 s of lag)."""
    readings = _readings([0.7, 1.7, 2.7, 3.7])
    assert reads.place([1001.0, 1002.0, 1003.0], readings, WALL, AFTER) == [1, 2, 3]


def test_reads_just_before_a_wall_second_pair_in_order():
    """iostat -y on debian-6.12 read /proc/stat within 15 ms of each wall-clock
    second, drifting 1 ms a second across it; its last report (stamped 23:03:15)
    came from a read the wall offset puts 4 ms into the next second. Each stamp
    fits the read before its own as well, and the stamps alone paired every
    report one read early (its last report, showing the tasks' wake, was judged
    against the interval before the wake). Its source (one unprinted reading
    first) and the count of readings say which read is its own."""
    offset = 1796598070.861369
    starts = [110.125866, 111.127981, 112.129199, 113.130109, 114.132025, 115.132463, 116.132837, 117.133685,
              118.134061, 119.138167, 120.139019, 121.140506, 122.141256, 123.141639, 124.142008, 125.142514]
    readings = [Instant(t, t + 0.0002) for t in starts]
    stamps = [1796598181.0 + i for i in range(15)]  # 23:03:01 .. 23:03:15
    assert reads.place(stamps, readings, offset, AFTER) != list(range(1, 16))
    assert reads.place(stamps, readings, offset, AFTER, first=1) == list(range(1, 16))
    # A reading the tracer lost: the count says so, and the stamps place what they can.
    placed = reads.place(stamps, readings[:5] + readings[6:], offset, AFTER, first=1)
    assert placed != list(range(1, 16)) and None not in placed[:3]


def test_a_report_left_out_leaves_its_read_unreported():
    readings = _readings([0.2, 1.2, 2.2, 3.2, 4.2])
    assert reads.place([1000.0, 1001.0, 1003.0, 1004.0], readings, WALL, BEFORE) == [0, 1, 3, 4]


def test_a_stamp_no_read_fits_is_not_placed():
    assert reads.place([1000.0, 1007.0], _readings([0.2, 1.2]), WALL, BEFORE) == [0, None]


class _Snap:
    def __init__(self, t, value, spread=0.02):
        self.t, self.value, self.spread = t, value, spread


def test_a_counters_change_is_between_the_inner_and_the_outer_bracket():
    samples = [_Snap(t, v) for t, v in ((0.0, 0), (0.3, 30), (0.6, 60), (0.9, 90), (1.2, 120), (1.5, 150))]
    b = bracket.change(samples, Instant(0.4, 0.41), Instant(1.0, 1.01), lambda s: s.value)
    assert b == Bounds(90 - 60, 120 - 30)
    assert bracket.change(samples, Instant(0.4, 0.41), Instant(1.6, 1.6), lambda s: s.value) is None  # after the last


def test_a_share_grows_with_its_part_and_falls_with_the_rest():
    fields = {"iowait": Bounds(80, 95), "idle": Bounds(0, 2), "system": Bounds(1, 4)}
    b = bracket.share(("iowait",), ("iowait", "idle", "system"), fields)
    assert b.lo == pytest.approx(100 * 80 / 86) and b.hi == pytest.approx(100 * 95 / 96)


def test_a_tasks_delay_steps():
    st = pertask.DelaySteps(go=10.0, opened=11.0, closed=17.0, woke=20.0, G=2, A=3, B=903, gated=8.5)
    assert st.change(Instant(9.0, 9.1), Instant(9.9, 10.0)) == Bounds(0, 0)  # stopped at the gate
    # Read as it started (debian-6.12-rt: state S, before its page-in's 2 ticks were added)
    assert st.change(None, Instant(8.0, 8.1)) == Bounds(0, 2)
    assert st.change(Instant(8.0, 8.1), Instant(9.0, 9.1)) == Bounds(0, 2)
    assert st.change(Instant(10.2, 10.3), Instant(10.8, 10.9)) == Bounds(0, 1)  # its page-ins as it starts
    assert st.change(Instant(12.0, 12.1), Instant(16.0, 16.1)) == Bounds(0, 0)  # the wait: nothing added
    assert st.change(Instant(16.0, 16.1), Instant(21.0, 21.1)) == Bounds(900, 900)  # the wake: all of it
    assert st.change(Instant(18.0, 18.1), Instant(19.0, 19.1)) == Bounds(0, 900)  # after the window, before WOKE
    assert st.change(None, Instant(21.0, 21.1)) == Bounds(903, 903)  # atop's first sample: since birth


def test_iotop_io_percent_is_capped_and_zero_in_a_tasks_first_frame():
    st = pertask.DelaySteps(go=10.0, opened=11.0, closed=17.0, woke=20.0, G=0, A=0, B=900)
    predict = pertask.io_percent(100, 0.005, 0.25)
    assert predict(st, None, Instant(12.0, 12.0)) == Bounds(0, 0.005)
    wake = predict(st, Instant(16.5, 16.5), Instant(20.5, 20.5))
    assert wake.lo == pytest.approx(99.995) and wake.hi == pytest.approx(100.005)
    waiting = predict(st, Instant(13.0, 13.0), Instant(14.0, 14.0))
    assert waiting.lo == 0 and 1.0 < waiting.hi < 1.4  # under one tick over ~1 s


# -- captured holds -----------------------------------------------------------------

def _hold(wait: str, hog: bool = False) -> Path:
    name = "".join(c if c.isalnum() else "_" for c in wait) + ("_hog" if hog else "") + ".json.gz"
    return HOLDS / name


CAPTURED = sorted(HOLDS.glob("*.json.gz"))


def _unexplained(ev) -> list[str]:
    """The rows that failed, documented disagreements aside, with what was observed."""
    return [f"{r.witness}: {r.observed[:300]}" for r in ev.rows if not r.ok and not r.known]


@pytest.mark.parametrize("path", CAPTURED, ids=[p.name.split(".")[0] for p in CAPTURED])
def test_the_packaged_tools_agree_on_a_captured_hold(path):
    ev = capture.judge_tools(path)
    bad = _unexplained(ev)
    assert ev.rows and not bad, bad


def _later_by_a_second(text: str) -> str:
    """iotop-py's output with every frame stamped a second later than it was."""
    import re
    import time

    def later(m):
        t = time.strptime(m[1], "%H:%M:%S")
        s = (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + 1) % 86400
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
    return re.sub(r"^(\d\d:\d\d:\d\d)", later, text, flags=re.M)


def test_an_iotop_frame_stamped_late_is_still_its_reads_report():
    # Python's iotop takes a frame's time after reading every task: under TCG that
    # came up to a second after the reads; a task's n-th line is its n-th read.
    ev = capture.judge_tools(_hold("io_uring idle wait"), rewrite={"iotop-py": _later_by_a_second},
                             only=("iotop-py",))
    bad = [f"{r.witness}: {r.observed[:300]}" for r in ev.rows if not r.ok]
    assert ev.rows and not bad, bad


def test_a_tool_that_died_before_it_watched_fails_by_its_exit_status(tmp_path):
    # sar crashing as it starts: out of the hold before the tasks went, judged as a crash.
    import gzip
    import json
    d = json.loads(gzip.decompress(_hold("O_DIRECT read").read_bytes()))
    del d["tools"]["sar"]
    d["failed"]["sar"] = "watching: `sar -q 1` exited 139 before it watched: sar: Segmentation fault"
    d["exited"] = {"sar": 139}
    path = tmp_path / "crashed.json"
    path.write_text(json.dumps(d))
    ev = capture.judge_tools(path, only=("sar",))
    failed = {r.witness.split(": ", 1)[1]: r.observed for r in ev.rows if not r.ok}
    assert failed.get("sar exit status") == "139, on its own", failed
    assert any(k.startswith("sysstat sar") for k in failed), failed


def _rewriting(name: str):
    fn = LIE.LIES.get(name, lambda line, st: line)
    silent, crash = name in LIE.SILENT, LIE.CRASH_AFTER.get(name)

    def rewrite(text: str) -> str:
        state, out = {}, []
        for line in text.splitlines(keepends=True):
            if silent:
                continue
            new = fn(line.rstrip("\n") if name.startswith("node_exporter-") else line, state)
            if new is not None:
                out.append(new + ("\n" if name.startswith("node_exporter-") else ""))
            if crash and len(out) >= crash:
                break
        return "".join(out)
    return rewrite


# Lies that rewrite text alone: not those that read the guest's tasks as they go,
# nor crashes (their exit status is the point), nor the offcputime tools (judged
# once per guest, not per hold).
REPLAYED = [m.name for m in CORPUS if m.name in LIE.LIES and "while-d" not in m.name and "leaves-out-d" not in m.name
            and "offcputime" not in m.name] + sorted(LIE.SILENT - {"offcputime-libbpf-no-output"})


@pytest.mark.parametrize("name", REPLAYED)
def test_a_lying_build_fails_the_row_named_for_it(name):
    m = BY_NAME[name]
    path = _hold(m.wait.replace(", hog on its CPU", ""), hog=m.wait.endswith("hog on its CPU"))
    if not path.exists():
        pytest.skip(f"no captured hold of {m.wait}")
    ev = capture.judge_tools(path, rewrite={m.tool: _rewriting(name)}, only=(m.tool,))
    failed = [r.witness for r in ev.rows if not r.ok and not r.known]
    assert any(m.row in label for label in failed), f"{name}: failed rows {failed}"


def test_the_matrix_never_hides_a_failed_test_and_names_known_disagreements():
    from harness.agreement import DISAGREES, ERROR, FIXED, KNOWN, Matrix
    from harness.evidence import Row
    from harness.runs import Case

    def case(verdict, message=""):
        return Case("suites/tools/test_agreement.py", "t", "k", "v", verdict, message)

    m = Matrix("k")
    ok = Row("w", "p", "o", True, "s")
    known = Row("atop D count as documented", "3..3", "64", False, "s", known="atop#256")
    m.rows[("a", "tool")] = [ok]
    m.tests[("a", "tool")] = [case("failed", "tool wrote no row about a on k")]
    m.tests[("b", "tool")] = [case("error", "channel lost")]
    m.rows[("c", "tool")] = [ok, known]
    m.tests[("c", "tool")] = [case("passed"), case("skipped")]
    m.rows[("d", "tool")] = [ok]
    m.tests[("d", "tool")] = [case("failed", "[XPASS(strict)] documented disagreement")]
    assert [m.cell(w, "tool")[0] for w in "abcd"] == [DISAGREES, ERROR, KNOWN, FIXED]
    assert "atop#256" in m.cell("c", "tool")[1]


def test_a_lie_is_caught_only_by_its_test_failing_on_its_row():
    from harness.evidence import Row, Table
    from harness.runs import Case, Run
    from suites.planted import judge, rounds
    m = BY_NAME["vmstat-b-doubled"]
    name = f"test_tool[k-{m.test_id}]"
    node = f"suites/tools/test_agreement.py::{name}"

    def run(verdict, rows):
        case = Case("suites/tools/test_agreement.py", name, "k", "v", verdict, "", properties={"tool": "vmstat"})
        return Run(Path("r"), (case,), {}, (Table(node, rows=tuple(rows)),))

    right = [Row("O_DIRECT read: vmstat b", "", "", False, "", by="vmstat")]
    other = [Row("O_DIRECT read: vmstat %wa on all CPUs", "", "", False, "", by="vmstat")]
    assert judge(m, "k", run("failed", right)).caught
    assert not judge(m, "k", run("failed", other)).caught  # failed, but not for the reason it names
    assert not judge(m, "k", run("error", right)).caught  # an error is not a catch
    assert [len(r) for r in rounds(list(CORPUS))] == [13, 13, 13, 13]  # one lie per tool per run


def _slow_iotop_py(path: Path, tmp_path: Path) -> Path:
    """The hold as a slow host gives it: iotop-py's read of each task at its start
    (iotop/data.py ProcessList.__init__ reads every task before the first frame's
    refresh reads them again) 0.3 s before the first frame's, so the two are two
    readings; and one more read of each task after its last frame, the stop's SIGINT
    arriving before that frame was printed."""
    import gzip
    import json
    d = json.loads(gzip.decompress(path.read_bytes()))
    t = d["tools"]["iotop-py"]
    mine = [x for x in t["reads"] if x["what"] == "taskstats"]
    first, last = {}, {}
    for x in mine:
        first.setdefault(x["task"], x)
        last[x["task"]] = x
    for x in first.values():
        x["t0"] -= 0.3
        x["t1"] -= 0.3
    t["reads"] += [dict(x, t0=x["t0"] + 1.2, t1=x["t1"] + 1.2) for x in last.values()]
    out = tmp_path / path.name.removesuffix(".gz")
    out.write_text(json.dumps(d))
    return out


@pytest.mark.parametrize("wait", ["vfork parent", "io_uring idle wait"])
def test_iotop_py_frames_are_its_reads_on_a_slow_host(wait, tmp_path):
    # A task's lines are its reads from the first frame's on, however many reads
    # came before (the start's) and after (one the stop cut short).
    ev = capture.judge_tools(_slow_iotop_py(_hold(wait), tmp_path), rewrite={"iotop-py": _later_by_a_second},
                             only=("iotop-py",))
    bad = [f"{r.witness}: {r.observed[:300]}" for r in ev.rows if not r.ok]
    assert ev.rows and not bad, bad


def _round(got, pid: int, k: int):
    """The task's k-th reading in the tool's traced reads: the pstat reads it is made of."""
    r = reads.rounds(list(got), "pstat", pid)[k]
    return {x for x in got if x.what == "pstat" and x.task == pid and r.lo <= x.t0 <= r.hi}


def _stalled_scan(pids, k: int, by: float):
    """atop's reads with its k-th scan of the hold's tasks stalled after the first
    half of them: the second half read `by` seconds late (the host paused the guest
    mid-scan)."""
    from dataclasses import replace

    def move(got):
        late = set().union(*(_round(got, pid, k) for pid in sorted(pids)[len(pids) // 2:]))
        return [x for x in got if x not in late] + [replace(x, t0=x.t0 + by, t1=x.t1 + by) for x in late]
    return move


def _lost_read(pid: int, k: int, then=None):
    """The read tracer lost the task's k-th read (its buffer overflowed in a burst)."""
    def move(got):
        got = list(then(got) if then else got)
        lost = _round(got, pid, k)
        return [x for x in got if x not in lost]
    return move


def test_atop_lines_are_their_reads_when_a_read_was_lost_and_a_scan_stalled():
    # The task whose read was lost is placed by the scans of the others, whose lines
    # are still their reads in order though one scan stalled. By the stamps alone (a
    # read up to 1.5 s after its stamp fits two stamps) every task was paired anew
    # and one read was left with no line: "atop lists every task" failed.
    path = _hold("O_DIRECT read")
    pids = sorted(capture.load(path)[0].pids)
    ev = capture.judge_tools(path, only=("atop",),
                             moved={"atop": _lost_read(pids[0], 5, then=_stalled_scan(pids, 2, 0.7))})
    bad = _unexplained(ev)
    assert ev.rows and not bad, bad


@pytest.mark.parametrize("by", [0.7, 0.8])
def test_atop_lines_are_their_reads_when_a_scan_stalled(by):
    # Each task's n-th line is its n-th read when every read of it was traced, however
    # far apart one scan's reads lie; a stamp fits more than one read a second apart.
    # (Scans 2 and 6 of this hold began 1.1 and 1.0 s before the next.)
    path = _hold("O_DIRECT read")
    pids = capture.load(path)[0].pids
    for k in (2, 6):
        ev = capture.judge_tools(path, only=("atop",), moved={"atop": _stalled_scan(pids, k, by)})
        bad = _unexplained(ev)
        assert ev.rows and not bad, (k, bad)


def test_a_line_after_an_untraced_sample_counts_from_that_sample():
    """debian-6.12-rt, 3 vCPUs: atop sampled a task before its exec (comm taskset,
    a read the tracer does not keep), when an in_iowait sleep left unstamped by a
    delayed dequeue had already added the time since boot (13725 ticks). Its first
    kept line printed the change since that sample, 0; judged as counting from the
    task's birth, it was predicted 13725."""
    st = pertask.DelaySteps(go=10.0, opened=12.0, closed=18.0, woke=18.5, G=13725, A=13725, B=14725, woke_lo=18.0,
                            gated=8.5)
    at_gate = Instant(9.0, 9.01)
    birth = pertask.TaskReport(1, None, at_gate, 0.0)
    untraced = pertask.TaskReport(1, None, at_gate, 0.0, after_untraced=True)

    def change(s, a, b):
        return s.change(a, b)

    assert not pertask.predicted(change, st, birth).holds(0.0)
    assert pertask.predicted(change, st, untraced).holds(0.0)
    assert pertask.predicted(change, st, untraced).holds(13725.0)
    assert not pertask.predicted(change, st, untraced).holds(13727.0)
