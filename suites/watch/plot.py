"""A picture of per-CPU time over a test's phases: for each CPU, the share of
each sampling interval spent in user, system, idle and iowait, stacked, with
each phase (a hold's window) labelled. Written to the run's results."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from suites.watch.hold import Span  # noqa: E402

# (label, fields of CpuTimes summed, colour)
BANDS = (
    ("user", ("user", "nice"), "tab:blue"),
    ("system", ("system", "irq", "softirq", "steal"), "tab:orange"),
    ("iowait", ("iowait",), "tab:red"),
    ("idle", ("idle",), "lightgrey"),
)


def cpu_time_plot(path: Path, title: str, phases: list[tuple[str, Span]]) -> Path:
    """One row per CPU; x is the guest's monotonic time from the first phase."""
    t0 = min(span.before.t for _, span in phases)
    cpus = phases[0][1].cpus
    fig, axes = plt.subplots(len(cpus), 1, sharex=True, squeeze=False,
                             figsize=(11, 1.9 * len(cpus) + 1.2))
    for row, cpu in zip(axes[:, 0], cpus, strict=True):
        for label, span in phases:
            for a, b in pairwise(span.samples):
                d = b.stat.cpus[cpu] - a.stat.cpus[cpu]
                total = max(d.total, 1)
                bottom = 0.0
                for name, fields, colour in BANDS:
                    share = sum(getattr(d, f) for f in fields) / total
                    row.bar(a.t - t0, share, width=b.t - a.t, bottom=bottom, align="edge",
                            color=colour, linewidth=0, label=name)
                    bottom += share
            row.axvline(span.before.t - t0, color="black", linewidth=0.6)
            row.text(span.before.t - t0, 1.02, label, fontsize=7, va="bottom")
        row.set_ylim(0, 1)
        row.set_ylabel(f"CPU {cpu}")
    handles, names = axes[0, 0].get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=len(BANDS))
    axes[-1, 0].set_xlabel("guest time (s); gaps are set-up between phases")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
