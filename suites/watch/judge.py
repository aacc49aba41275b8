"""Judge a hold: every registered witness writes its rows, tagged with the witness
and the wait, into the test's evidence table."""

from __future__ import annotations

from suites.watch.evidence import Evidence
from suites.watch.hold import Hold, Span
from suites.watch.witness import Seen


def check_hold(ev: Evidence, h: Hold, base: Span, hz: int, label: str = "", hog: bool = False) -> None:
    """Every witness's rows for one hold. `hog`: a CPU hog ran on the tasks' CPU
    for the whole window, so that CPU was never idle."""
    from suites.watch import capture
    from suites.witnesses import registered
    capture.save(h, base, hz, label, hog)
    w = h.window
    ev.note(f"{label or 'hold'}: {h.n} task(s) on CPU {h.cpu}, window {w.seconds:.2f} s, {len(w.cpus)} CPUs, HZ={hz}")
    if h.run is not None:
        slowest = sorted(h.run.seconds.items(), key=lambda kv: -kv[1])[:5]
        ev.note(f"{label or 'hold'}: host time " + ", ".join(f"{k} {v:.1f} s" for k, v in h.run.phases.items())
                + "; the witnesses that took longest: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    for witness in registered():
        seen = Seen(h, base, hz, label, hog, h.collected.get(witness.name))
        with ev.tagged(witness.name, seen.case, title=witness.title, kind=witness.kind, order=witness.order):
            why = h.unavailable.get(witness.name)
            if why:
                ev.not_run(why)
            elif witness.name in h.failed:
                witness.judge_failed(ev, seen, h.failed[witness.name], h.exited.get(witness.name))
            else:
                witness.judge(ev, seen)
