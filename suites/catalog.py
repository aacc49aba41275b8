"""The documented behaviours, by name: what `python -m suites reproduce NAME` runs.

Each is one line saying what is shown. The tests that show it carry
`@pytest.mark.behaviour(NAME)` (harness/plugin/markers.py checks the name against
this list when the tests are collected), so the tests are found by their marker,
never by a list of test names kept here.
"""

from __future__ import annotations

BEHAVIOURS = {
    "aio-nr-accounting": "io_setup(n) adds exactly n to aio-nr; the ring has the predicted pages",
    "aio-max-nr-exhaustion": "EAGAIN exactly at aio-max-nr; capacity back when io_destroy or waitpid returns",
    "aio-holders": "who holds aio capacity: maps, bcc and bpftrace agree with the workload and aio-nr",
    "aio-holders-systemtap": "the SystemTap probe on syscall.io_setup, run as first answered: exact for contexts "
                             "made while it runs, blind to older ones",
    "posix-aio-is-not-kernel-aio": "glibc aio_read holds no aio capacity: a helper thread's plain read, in D "
                                   "and I/O wait; the kernel's AIO read moves aio-nr",
    "aio-rings-vs-memlock": "aio rings and RLIMIT_MEMLOCK (mainline: not charged; aio-memlock kernels: charged)",
    "aio-memlock-as-posted": "the 2009 proposal as posted (aio-max-nr gone, RLIMIT_MEMLOCK the only limit) beside "
                             "the forward port that keeps aio-max-nr (source-6.1-aio-memlock[-posted])",
    "io-uring-buffers-memlock": "io_uring registered buffers are charged to RLIMIT_MEMLOCK per uid",
    "dstate-vfork": "a vfork parent in D: loadavg counts it, no iowait, PSI, procs_blocked or delayacct",
    "dstate-module-msleep": "a module's msleep in D without iowait, and with in_iowait = 1",
    "dstate-io-destroy": "io_destroy with a read in flight waits in D, not iowait",
    "dstate-frozen-fs": "a writer on a frozen ext4 waits in D, not iowait",
    "busy-cpu-masks-iowait": "a CPU hog on the waiting task's CPU hides its iowait and PSI io full, not the wait",
    "io-uring-iowait-without-d": "io_uring_enter waits in S yet counts as I/O wait (in flight, and idle per kernel)",
    "libaio-getevents-not-iowait": "io_getevents sleeps in S and is no I/O wait anywhere",
    "smoke": "the plumbing: channel, modules, bpftrace, bcc, sysctls",
    # Tool behaviours users trip over (docs/tools.md), with the upstream reports
    "io-delay-without-delayacct": "pidstat -d, iotop and atop show no I/O delay with delay accounting off (the "
                                  "default since 5.14) or switched on after the task forked (Tomas-M/iotop#21, "
                                  "#38, #50, #75; void-packages#34663)",
    "iowait-without-a-task-in-d": "mpstat/top/vmstat show a CPU near 100 % iowait while ps and atop show no task "
                                  "in D: io_uring waits sleep in S with in_iowait (htop#1278, eio#862, "
                                  "dragonflydb#2181)",
    "offcputime-state-filter": "offcputime --state 2: bcc counts every D sleep (bitmask), libbpf-tools only "
                               "__state == 2, missing the vfork parent's TASK_KILLABLE; neither sees an io_uring "
                               "wait (bcc#3871)",
}
