"""The SystemTap script of the Stack Overflow answer to "How do you determine which
process is using up Linux aio context capacity?", verbatim (fixtures/tools/aio_answer.stp),
and its output line by line against what the answer says it prints:

    128 AIO events requested by PID 28716 (/path/to/prog)

one line per io_setup call made after it started, printed at the call's entry, so
a call that fails with EAGAIN at exhaustion is printed too; nothing for contexts
made before it (the answer: "coordinate things such that systemtap is running
before your workload kicks in"). Its two global arrays, written and never read,
are printed by SystemTap itself when the script ends (the language reference:
globals that are only written are displayed at exit).

The module is built on the host without guru mode (the script needs none) and run
with staprun in the guest. The script prints nothing when it starts; it is known
to be attached once a canary's io_setup(1) comes out in its format.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from fixtures import FIXTURES, WORKLOADS
from fixtures.modules.stap import StapBuildError, build_for_guest, stap_program
from fixtures.tools.aio_holders import STAP_ENV
from suites.aio.holders import aio_nr, start_holder
from suites.memlock.model import has_aio_max_nr

pytestmark = pytest.mark.behaviour("aio-holders-systemtap-as-answered")

SCRIPT = FIXTURES / "tools" / "aio_answer.stp"
LINE = re.compile(r"^(\d+) AIO events requested by PID (\d+) \((.*)\)$")
GLOBAL = re.compile(r"^(allocated|allocatedctx)\[(\d+)\]=(0x[0-9a-f]+|\d+)$")
SETUP_ONCE = WORKLOADS / "io_setup_once.py"
KPROBES_OPT = "/proc/sys/debug/kprobes-optimization"
ANSWER = ('Stack Overflow, "How do you determine which process is using up Linux aio context capacity?", '
          "the SystemTap answer: one line per io_setup, printed at entry (tapset syscall.io_setup)")
BEFORE = "the answer: contexts made before it runs are not seen (start it before the workload)"


@pytest.fixture
def answer_module(guest):
    try:
        return build_for_guest(guest, SCRIPT.read_text(), "aio_answer", guru=False)
    except StapBuildError as e:
        pytest.skip(f"{guest.kernel.name}: {e}")


def _setup_once(guest, nr: int) -> tuple[int, str, int]:
    """io_setup(nr) in a process of its own: its pid, its command line, its exit status."""
    cmd = f"/usr/bin/python3 {SETUP_ONCE} {nr}"
    r = guest.run(f"sh -c 'echo $$; exec {cmd}'")
    return int(r.stdout.split()[0]), cmd, r.rc


def _lines(guest, proc) -> list[str]:
    return [ln for ln in guest.poll(proc).stdout.splitlines() if ln.strip()]


def test_the_answers_script_as_written(guest, aio_bin, answer_module, sysctl, evidence):
    opt = guest.run(f"cat {KPROBES_OPT}").check().stdout.strip()
    before = start_holder(guest, aio_bin, "50 70", name="aio-before-stap")
    env = " ".join(f"{k}={v}" for k, v in STAP_ENV.items())
    stap = guest.spawn(f"exec env {env} {stap_program('staprun')} {answer_module}")
    after = None
    try:
        canaries = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            pid, _, _ = _setup_once(guest, 1)
            canaries.append(pid)
            if any(LINE.match(ln) and LINE.match(ln).group(2) == str(pid) for ln in _lines(guest, stap)):
                break
            time.sleep(1)
        attached = canaries[-1] if canaries else None
        after = start_holder(guest, aio_bin, "300 17", name="aio-after-stap")
        # Exhaustion: room for 10 more events; a call for 100 fails with EAGAIN.
        limited = has_aio_max_nr(guest.kernel.features)
        if limited:
            sysctl.set("fs.aio-max-nr", aio_nr(guest) + 10)
        failed_pid, failed_cmd, rc = _setup_once(guest, 100)
        if limited:
            evidence.check("io_setup(100) with room for 10", rc != 0, "fails (EAGAIN)", f"exit status {rc}",
                           "fs/aio.c ioctx_alloc(): aio_nr + nr > aio_max_nr: -EAGAIN")
        else:
            evidence.note("this kernel has no aio-max-nr that limits: io_setup(100) is an ordinary call here")
        guest.signal(stap, signal.SIGINT, group=False)
        out = guest.wait(stap, timeout=120)
        stap = None
        lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
        printed = [LINE.match(ln) for ln in lines if LINE.match(ln)]
        odd = [ln for ln in lines if not LINE.match(ln) and not GLOBAL.match(ln)]
        evidence.check("every line is the answer's format or an array it left written", not odd,
                       '"N AIO events requested by PID P (cmdline)", or allocated[P]=, allocatedctx[P]=',
                       f"{len(odd)} other: {odd[:3]}" if odd else f"all {len(lines)}", ANSWER)
        calls = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in printed
                 if int(m.group(2)) not in canaries[:-1]]
        name = "aio-after-stap 300 17"
        want = [(1, attached, f"/usr/bin/python3 {SETUP_ONCE} 1"), (300, after.proc.pid, name),
                (17, after.proc.pid, name), (100, failed_pid, failed_cmd)]
        evidence.check("its lines after it attached, in order", calls == want,
                       " | ".join(f"{n} AIO events requested by PID {p} ({c})" for n, p, c in want),
                       " | ".join(f"{n} AIO events requested by PID {p} ({c})" for n, p, c in calls), ANSWER)
        old = [m.group(0) for m in printed if int(m.group(2)) == before.proc.pid]
        evidence.check("contexts made before it started (50, 70)", not old, "no line", f"{len(old)}: {old}",
                       BEFORE)
        ran = guest.run(f"cat /proc/{before.proc.pid}/maps | grep -c '/\\[aio\\]'").stdout.strip()
        evidence.check("positive control: the earlier process still holds its 2 contexts", ran == "2", "2 rings",
                       ran, "fs/aio.c aio_setup_ring(): one [aio] mapping per context")
        arrays = {(m.group(1), int(m.group(2))): int(m.group(3), 0) for m in map(GLOBAL.match, lines) if m}
        got = (arrays.get(("allocated", after.proc.pid)), arrays.get(("allocatedctx", after.proc.pid)))
        evidence.check("its arrays at exit, for the later process", got == (2, 317),
                       "allocated 2, allocatedctx 317", f"allocated {got[0]}, allocatedctx {got[1]}",
                       "SystemTap prints written-only globals at exit")
        evidence.check("its arrays at exit, for the last call", arrays.get(("allocatedctx", failed_pid)) == 100,
                       "allocatedctx 100 (counted at entry, failed or not)",
                       str(arrays.get(("allocatedctx", failed_pid))), ANSWER)
    finally:
        if stap is not None:
            guest.signal(stap, signal.SIGINT, group=False)
            guest.wait(stap, timeout=120)
        guest.run(f"echo {opt or 1} > {KPROBES_OPT}")
        before.stop()
        if after is not None:
            after.stop()
    evidence.require()
