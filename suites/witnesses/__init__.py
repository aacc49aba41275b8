"""Witnesses of a wait, read in the guest and shared by the iowait scenarios
(D state, busy CPU): /proc/stat per-CPU iowait and procs_blocked, PSI io,
loadavg, a task's state, wchan and delayacct blkio ticks, and an off-CPU tracer.
"""
