"""Lying builds of the tools under test: the counterpart of the planted-bug
kernels (kernels/patches/mutants/). Each is one defect a real release could
have (a unit or scale error, a field booked to another field, the wrong CPU or
task, a task left out, an inflated count, a filter testing a state the wrong
way, no output, output then a crash), and names the test of the tools suite
that must catch it and the row that must fail in it.

A compiled tool's lie is an output-rewriting wrapper around the packaged
program (lie.py, run in the guest); ps's, run anew every second, is a shell
pipeline (no Python start-up each time); a script tool's lie is a patched
copy of the script as Debian installs it (`patch`: the line as shipped, the
line with the bug).

    python -m suites plant-bug --all [--kernel K ...]     # suites/planted.py
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIE = HERE / "lie.py"
IOTOP_PKG = Path("/usr/lib/python3/dist-packages/iotop")


@dataclass(frozen=True)
class LyingBuild:
    name: str
    tool: str  # the witness, as --tool names it
    defect: str  # what it gets wrong, as a release could
    wait: str  # the matrix row (suites/agreement.py MatrixRow.name) whose test must catch it
    row: str  # a substring of the label of the row that must fail there
    patch: tuple[str, str, str] | None = None  # a script tool's (file, line as shipped, line with the bug)
    awk: str = ""  # ps: an awk program its output goes through

    @property
    def test_id(self) -> str:
        """The tools suite's test id of its cell, less the kernel (test_tool[<kernel>-<this>])."""
        return f"{self.tool}-{self.wait.replace(' ', '-').replace(',', '')}"


_READ = "O_DIRECT read"
_VFORK = "vfork parent"
_MSLEEP = "module msleep"
_HOG = "O_DIRECT read, hog on its CPU"
_OFFBCC = "/usr/sbin/offcputime-bpfcc"
_IOTOP_UI = "iotop/ui.py"
_IOTOP_DATA = "iotop/data.py"

CORPUS = (
    # procps vmstat
    LyingBuild("vmstat-b-doubled", "vmstat", "prints b doubled (blocked tasks counted twice)", _READ, "vmstat b"),
    LyingBuild("vmstat-wa-as-id", "vmstat", "books wa as id (iowait folded into idle)", _READ,
               "vmstat %wa on all CPUs"),
    LyingBuild("vmstat-us-sy-swapped", "vmstat", "prints us and sy in each other's column", _HOG,
               "vmstat %us, %sy, %st on all CPUs"),
    LyingBuild("vmstat-crash", "vmstat", "its lines, then a segmentation fault as it is stopped", _READ,
               "vmstat exit status"),
    # procps top
    LyingBuild("top-wa-into-sy", "top", "folds %wa into %sy", _READ, "top %wa on the tasks' CPU"),
    LyingBuild("top-cpus-swapped", "top", "labels CPU 0's shares CPU 1 and the reverse", _READ,
               "top %wa on the tasks' CPU"),
    LyingBuild("top-load-5-as-1", "top", "shows the 5-minute load average as the 1-minute one", _VFORK,
               "top load average"),
    LyingBuild("top-crash", "top", "a few frames, then a segmentation fault", _READ, "top exit status"),
    # procps ps
    LyingBuild("ps-d-as-s", "ps", "shows D as S", _VFORK, "ps STAT",
               awk='$1 ~ /^[0-9]+$/ && $2 ~ /^D/ { sub(/^D/, "S", $2) } { print }'),
    LyingBuild("ps-leaves-out-first", "ps", "leaves the first task asked for out of every sample", _READ,
               "ps lists every task", awk='NR == 1 && $1 ~ /^[0-9]+$/ { next } { print }'),
    LyingBuild("ps-wchan-blank", "ps", "prints - for every WCHAN (its symbol lookup broken)", _READ, "ps WCHAN",
               awk='$1 ~ /^[0-9]+$/ { $3 = "-" } { print }'),
    LyingBuild("ps-exit-1", "ps", "prints its rows, then exits 1", _READ, "ps exits 0 each time",
               awk='{ print } END { exit 1 }'),
    # sysstat mpstat
    LyingBuild("mpstat-iowait-as-sys", "mpstat", "books each CPU's %iowait as %sys", _READ,
               "mpstat %iowait on the tasks' CPU"),
    LyingBuild("mpstat-cpus-rotated", "mpstat", "labels CPU n's shares CPU n+1", _READ,
               "mpstat %iowait on the tasks' CPU"),
    LyingBuild("mpstat-iowait-doubled", "mpstat", "prints %iowait doubled", _READ, "mpstat fields add up"),
    LyingBuild("mpstat-no-output", "mpstat", "prints nothing", _READ, "sysstat mpstat -P ALL (per CPU shares)"),
    # sysstat iostat
    LyingBuild("iostat-iowait-as-idle", "iostat", "books %iowait as %idle", _READ, "iostat %iowait on all CPUs"),
    LyingBuild("iostat-one-cpu-share", "iostat", "takes %iowait over one CPU's time, not all CPUs'", _READ,
               "iostat %iowait on all CPUs"),
    LyingBuild("iostat-steal-iowait-swapped", "iostat", "prints %steal and %iowait in each other's place", _READ,
               "iostat %iowait on all CPUs"),
    LyingBuild("iostat-no-output", "iostat", "prints nothing", _READ, "sysstat iostat -c (all CPUs' shares)"),
    # sysstat sar
    LyingBuild("sar-blocked-doubled", "sar", "prints blocked doubled", _READ, "sar -q blocked"),
    LyingBuild("sar-ldavg-5-as-1", "sar", "prints ldavg-5 as ldavg-1", _VFORK, "sar -q ldavg"),
    LyingBuild("sar-blocked-zero", "sar", "prints blocked 0 (the procs_blocked line not found)", _READ,
               "sar -q blocked"),
    LyingBuild("sar-crash", "sar", "its header and a line, then a segmentation fault", _READ, "sar exit status"),
    # sysstat pidstat
    LyingBuild("pidstat-iodelay-x10", "pidstat", "prints iodelay x10 (ms taken for ticks)", _READ,
               "pidstat iodelay in each interval"),
    LyingBuild("pidstat-leaves-out-d", "pidstat", "leaves a task out of its report while it is in D", _READ,
               "pidstat lists every task"),
    LyingBuild("pidstat-iodelay-lagged", "pidstat", "prints each task's iodelay one interval late", _READ,
               "pidstat iodelay in each interval"),
    LyingBuild("pidstat-crash", "pidstat", "two reports, then a segmentation fault", _READ, "pidstat exit status"),
    # iotop-c
    LyingBuild("iotop-c-io-div10", "iotop-c", "prints IO% a tenth of what it is", _READ,
               "iotop-c IO% in each interval"),
    LyingBuild("iotop-c-io-while-d", "iotop-c", "shows IO% 100 while the task is in D, before its delay ends", _READ,
               "iotop-c IO% while they wait"),
    LyingBuild("iotop-c-leaves-out", "iotop-c", "lists no task", _READ, "iotop-c lists every task"),
    LyingBuild("iotop-c-no-output", "iotop-c", "prints nothing", _READ, "iotop-c lists every task"),
    # iotop (Python): patched copies of its package
    LyingBuild("iotop-py-only-active", "iotop-py", "lists only tasks doing I/O (its --only filter always on): a task "
               "waiting is left out", _READ, "iotop-py lists every task",
               patch=(_IOTOP_UI, "            return not self.options.only or \\",
                  "            return not True or \\")),
    LyingBuild("iotop-py-io-div10", "iotop-py", "computes IO% over ten times the interval", _READ,
               "iotop-py IO% in each interval",
               patch=(_IOTOP_UI, "        return '%.2f %%' % min(99.99, delay / (duration * 10000000.0))",
                  "        return '%.2f %%' % min(99.99, delay / (duration * 100000000.0))")),
    LyingBuild("iotop-py-never-available", "iotop-py", "never decides delay accounting is on (?unavailable? always)",
               _READ, "iotop-py delay accounting guess",
               patch=(_IOTOP_DATA, "            Stats.has_blkio_delay_total = self.blkio_delay_total != 0",
                  "            Stats.has_blkio_delay_total = False")),
    LyingBuild("iotop-py-io-from-swapin", "iotop-py", "shows the swap-in delay in the IO% column", _READ,
               "iotop-py IO% in each interval",
               patch=(_IOTOP_UI, "    io_delay = delay2percent(stats.blkio_delay_total)",
                  "    io_delay = delay2percent(stats.swapin_delay_total)")),
    # atop
    LyingBuild("atop-d-as-s", "atop", "shows D as S", _VFORK, "atop state"),
    LyingBuild("atop-nthrslpu-doubled", "atop", "counts each thread in D twice", _READ, "atop threads in D per task"),
    LyingBuild("atop-blkdelay-x10", "atop", "prints blkdelay x10", _READ, "atop blkdelay in each interval"),
    LyingBuild("atop-leaves-out-d", "atop", "leaves processes in D out of its samples", _READ, "atop lists every task"),
    # libbpf-tools offcputime (prints once, when stopped)
    LyingBuild("offcputime-libbpf-ms-as-us", "offcputime-libbpf", "prints ms where it says us", _MSLEEP,
               "offcputime-libbpf"),
    LyingBuild("offcputime-libbpf-ns-as-us", "offcputime-libbpf", "prints ns where it says us", _MSLEEP,
               "offcputime-libbpf"),
    LyingBuild("offcputime-libbpf-drops-module-stacks", "offcputime-libbpf",
               "leaves out stacks with a module's frames (cannot symbolize them)", _MSLEEP, "offcputime-libbpf"),
    LyingBuild("offcputime-libbpf-no-output", "offcputime-libbpf", "prints nothing when stopped", _MSLEEP,
               "offcputime-libbpf"),
    # bcc offcputime: patched copies of the script
    LyingBuild("offcputime-bcc-equality", "offcputime-bcc", "tests --state as an equality (as libbpf-tools does)",
               _VFORK, "offcputime-bcc",
               patch=(_OFFBCC, "    state_filter = 'prev->STATE_FIELD & %d' % args.state",
                  "    state_filter = 'prev->STATE_FIELD == %d' % args.state")),
    LyingBuild("offcputime-bcc-inverted", "offcputime-bcc", "records the states --state leaves out, not those it names",
               _MSLEEP, "offcputime-bcc",
               patch=(_OFFBCC, "    state_filter = 'prev->STATE_FIELD & %d' % args.state",
                  "    state_filter = '!(prev->STATE_FIELD & %d)' % args.state")),
    LyingBuild("offcputime-bcc-ms-as-us", "offcputime-bcc", "prints ms where it says us", _MSLEEP, "offcputime-bcc",
               patch=(_OFFBCC, '        print("        %d\\n" % v.value)',
                  '        print("        %d\\n" % (v.value // 1000))')),
    LyingBuild("offcputime-bcc-crash", "offcputime-bcc", "its report, then an exception", _MSLEEP, "offcputime-bcc",
               patch=(_OFFBCC, '        print("        %d\\n" % v.value)',
                  '        print("        %d\\n" % v.value); raise SystemExit(1)')),
    # prometheus node_exporter: a proxy rewriting each scrape
    LyingBuild("node_exporter-iowait-doubled", "node_exporter", "reports iowait seconds doubled", _READ,
               "node_exporter CPU"),
    LyingBuild("node_exporter-blocked-doubled", "node_exporter", "reports node_procs_blocked doubled", _READ,
               "node_procs_blocked"),
    LyingBuild("node_exporter-psi-ms-as-us", "node_exporter", "takes PSI's us for ms (totals a thousandth)", _READ,
               "node_pressure_io_waiting_seconds_total"),
    LyingBuild("node_exporter-cpus-swapped", "node_exporter", "labels CPU 0's modes CPU 1 and the reverse", _READ,
               "node_exporter CPU"),
)
BY_NAME = {m.name: m for m in CORPUS}


def build(m: LyingBuild, program: str, into: Path) -> Path:
    """The lying build of `program` (the packaged tool) for `m`, an executable
    file under `into` (which the guest sees: the host's root, read-only)."""
    into.mkdir(parents=True, exist_ok=True)
    out = into / m.name
    if m.patch and m.patch[0] == _OFFBCC:
        _patched(Path(_OFFBCC), m.patch[1], m.patch[2], out)
    elif m.patch:
        pkg = into / f"{m.name}.lib"
        shutil.copytree(IOTOP_PKG, pkg / "iotop", dirs_exist_ok=True)
        target = pkg / m.patch[0]
        _patched(target, m.patch[1], m.patch[2], target)
        out.write_text("#!/usr/bin/python3\nimport sys\n"
                       f"sys.path.insert(0, {str(pkg)!r})\n"
                       "from iotop.ui import main\n"
                       "try:\n    main()\nexcept KeyboardInterrupt:\n    pass\nsys.exit(0)\n")
    elif m.awk:
        out.write_text(f"#!/bin/bash\nset -o pipefail\n{program} \"$@\" | awk '{m.awk}'\n")
    else:
        out.write_text(f"#!/bin/sh\nexec /usr/bin/python3 {LIE} {m.name} {program} \"$@\"\n")
    out.chmod(out.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return out


def _patched(src: Path, old: str, new: str, out: Path) -> None:
    text = src.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"plant-bug: {src} does not have the line {old!r} once (another version: update the corpus)")
    out.write_text(text.replace(old, new))
    out.chmod(0o755)
