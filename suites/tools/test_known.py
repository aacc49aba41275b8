"""Tool behaviours users trip over, shown on demand with every witness's evidence
(`python -m suites reproduce NAME`; the descriptions in suites/catalog.py cite
the upstream reports).

Delay accounting: a task's I/O delay is recorded only if delay accounting was on
when the task forked (kernel/delayacct.c delayacct_tsk_init(); off by default
since 5.14, e4042ad49235; docs/kernel-rules.md §5). The tools that show I/O delay
(pidstat -d, iotop, atop) show none for it, whatever they say about the sysctl.
"""

from __future__ import annotations

import pytest

from suites.holds import MARKS
from suites.waits import DIRECT_READ

pytestmark = MARKS


@pytest.mark.behaviour("io-delay-without-delayacct")
def test_io_delay_tools_without_delay_accounting(scene, sysctl):
    """The same O_DIRECT reads with delay accounting off, with it switched on only
    after the tasks forked, and (the positive control) on before they forked."""
    scene.setup(DIRECT_READ)
    scene.baseline()
    sysctl.set("kernel.task_delayacct", 0)
    scene.hold(DIRECT_READ, label="delay accounting off")
    scene.hold(DIRECT_READ, label="switched on after the tasks forked",
               on_ready=lambda: sysctl.set("kernel.task_delayacct", 1))
    sysctl.set("kernel.task_delayacct", 1)
    scene.hold(DIRECT_READ, label="control: on before they forked")
    scene.evidence.require()
