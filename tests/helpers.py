"""Helpers the framework's tests share: a made-up run directory, and the host's
QEMU processes."""

import json
import struct
import zlib
from pathlib import Path

JUNIT = (Path(__file__).parent / "data" / "junit-sample.xml").read_text()


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def make_run(tmp_path):
    run = tmp_path / "20261122-000000-1"
    (run / "evidence").mkdir(parents=True)
    (run / "plots").mkdir()
    (run / "junit.xml").write_text(JUNIT)
    (run / "environment.json").write_text(json.dumps({"kernels": {"debian-6.1": {"version": "6.1.192"}}}))
    table = {"title": "suites/dstate/test_dstate.py::test_vfork_parent[debian-6.12]", "ok": False, "notes": ["W 6 s"],
             "rows": [{"witness": "CPU 1 iowait", "predicted": "+0 | none", "observed": "+577", "ok": False,
                       "source": "kernel/sched/cputime.c"}]}
    (run / "evidence" / "t.json").write_text(json.dumps(table))
    (run / "evidence" / "t.md").write_text("the same table as markdown")
    (run / "evidence" / "half.json").write_text("{")  # a table cut short by a killed run
    (run / "evidence" / "half.md").write_text("### half\n| a | b |\n")
    (run / "plots" / "p.png").write_bytes(png())
    return run


def qemu_pids() -> set[int]:
    pids = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().startswith("qemu-system"):
                    pids.add(int(p.name))
            except OSError:
                pass
    return pids


def alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False
