"""A hold as data: everything its witnesses judged (the samples, the tasks'
reports and sleeps, each tool's raw output, exit status and reads), written as
JSON so that the judging code can be run again on a real hold without a guest:
the unit tests replay captured holds (tests/data/holds/), and feed them the same
output rewritten by a lying build (suites/tools/mutants/lie.py).

    IOWITNESS_CAPTURE=DIR pytest suites/...     # each judged hold to DIR/<label>.json
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from suites.waits import Wait
from suites.watch.hold import Hold, HoldRun, Snapshot, Span
from suites.watch.procfs import TaskStat
from suites.watch.reads import Read
from suites.watch.tools import ToolSeen
from vm.channel import CommandResult

ENV = "IOWITNESS_CAPTURE"


def _snap(s: Snapshot) -> dict:
    return {"t": s.t, "files": s.files, "pids": list(s.pids), "cgroup": s.cgroup, "spread": s.spread}


def _unsnap(d: dict) -> Snapshot:
    return Snapshot(d["t"], d["files"], tuple(d["pids"]), d["cgroup"], d["spread"])


def _span(samples: list[dict]) -> Span:
    snaps = [_unsnap(s) for s in samples]
    return Span(snaps[0], snaps[-1], snaps)


def dump(h: Hold, base: Span, hz: int, label: str, hog: bool) -> dict:
    run = h.run
    if run is None or run.go is None:
        raise ValueError("only a hold that ran to its gate is captured")
    tools = {}
    for name, seen in h.collected.items():
        if isinstance(seen, ToolSeen):
            tools[name] = {"stdout": seen.stdout, "rc": seen.rc, "command": seen.command, "lag": list(seen.lag),
                           "reads": [asdict(r) for r in seen.reads], "extra": seen.extra}
    return {
        "wait": asdict(h.wait) | {"wchans": sorted(h.wait.wchans)}, "cpu": h.cpu, "pids": h.pids,
        "window": [_snap(s) for s in h.window.samples], "base": [_snap(s) for s in base.samples],
        "reports": {str(p): asdict(t) for p, t in h.reports.items()}, "cgroup": h.cgroup,
        "slept": {str(p): list(v) for p, v in h.slept.items()}, "unavailable": h.unavailable, "failed": h.failed,
        "exited": h.exited,
        "hz": hz, "label": label, "hog": hog, "tools": tools,
        "run": {"window_s": run.window_s, "delayacct": run.delayacct, "go": _snap(run.go), "started": run.started,
                "gated": run.gated, "wall_offset": run.wall_offset, "window_open": run.window_open,
                "window_close": run.window_close, "label": run.label},
    }


def save(h: Hold, base: Span, hz: int, label: str, hog: bool) -> None:
    """To $IOWITNESS_CAPTURE/<label>.json, if it is set."""
    d = os.environ.get(ENV)
    if not d or h.run is None or h.run.go is None:
        return
    name = "".join(c if c.isalnum() else "_" for c in label or h.wait.name) + ("_hog" if hog else "")
    path = Path(d) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dump(h, base, hz, label, hog), indent=1))


def _read(path: Path | str) -> dict:
    path = Path(path)
    if path.suffix == ".gz":
        import gzip
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text())


def load(path: Path | str, rewrite: dict | None = None, moved: dict | None = None):
    """(the Hold, its baseline Span, hz, label, hog) of a captured hold, each tool's
    output parsed again by its witness; `rewrite`: {tool: function(stdout) -> stdout},
    a lying build's output in place of what the tool printed; `moved`: {tool:
    function(reads) -> reads}, its traced reads as a slower host would have timed them."""
    from suites.witnesses import by_name
    d = _read(path)
    w = d["wait"]
    kw: dict[str, Any] = {f.name: (frozenset(w[f.name]) if f.name == "wchans" else w[f.name]) for f in fields(Wait)}
    wait = Wait(**kw)
    r = d["run"]
    no_guest: Any = None  # a captured hold has no guest to ask
    run = HoldRun(no_guest, wait, d["cpu"], r["window_s"], tuple(d["pids"]), d["cgroup"], r["window_open"],
                  r["window_close"], label=r["label"], delayacct=r["delayacct"])
    run.go, run.started, run.gated = _unsnap(r["go"]), r["started"], r.get("gated", 0.0)
    run.__dict__["wall_offset"] = r["wall_offset"]  # a cached_property: no guest to ask
    collected, failed = {}, dict(d["failed"])
    for name, t in d["tools"].items():
        stdout = t["stdout"]
        if rewrite and name in rewrite:
            stdout = rewrite[name](stdout)
        witness = by_name(name)
        reads = tuple(Read(**x) for x in t["reads"])
        if moved and name in moved:
            reads = tuple(moved[name](reads))
        result = CommandResult(t["command"], t["rc"], stdout, "", 0.0)
        try:
            parsed = witness.reparse(result, run, t.get("extra"))
        except (ValueError, KeyError, IndexError) as e:  # as ToolWitness.stop() would have said
            failed[name] = f"stop: output not understood ({e!r})"
            continue
        collected[name] = ToolSeen(parsed, t["rc"], reads, t["command"], tuple(t["lag"]), stdout, t.get("extra"),
                                   getattr(witness, "first_report_reading", None))
    h = Hold(wait, d["cpu"], d["pids"], _span(d["window"]), {int(p): TaskStat(**v) for p, v in d["reports"].items()},
             d["cgroup"], {int(p): tuple(v) for p, v in d["slept"].items()}, collected, d["unavailable"], failed, run,
             {k: int(v) for k, v in d.get("exited", {}).items()})
    return h, _span(d["base"]), d["hz"], d["label"], d["hog"]


def judge_tools(path: Path | str, rewrite: dict | None = None, only: tuple[str, ...] = (),
                moved: dict | None = None):
    """The evidence the tool witnesses write about a captured hold (replayed:
    no guest); `rewrite` and `moved` as in load()."""
    from suites.watch.evidence import Evidence
    from suites.watch.witness import Seen
    from suites.witnesses import by_name
    h, base, hz, label, hog = load(path, rewrite, moved)
    ev = Evidence(f"replay of {Path(path).name}")
    for name in only or tuple(h.collected) + tuple(h.failed):
        witness = by_name(name)
        seen = Seen(h, base, hz, label, hog, h.collected.get(name))
        with ev.tagged(name, seen.case):
            if name in h.failed:  # as check_hold() writes it
                witness.judge_failed(ev, seen, h.failed[name], h.exited.get(name))
            else:
                witness.judge(ev, seen)
    return ev
