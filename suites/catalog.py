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
    "aio-holders-systemtap": "aio-holders --method systemtap, an adaptation of the Stack Overflow answer's probe "
                             "(guru mode, .return probes, machine-readable lines): exact for contexts made while it "
                             "runs, blind to older ones",
    "aio-holders-systemtap-as-answered": "the SystemTap script of the Stack Overflow answer to \"How do you determine "
                                         "which process is using up Linux aio context capacity?\", verbatim: a line "
                                         "per io_setup made after it started, an EAGAIN call included, none for older "
                                         "contexts",
    "posix-aio-is-not-kernel-aio": "glibc aio_read holds no aio capacity: a helper thread's plain read, in D "
                                   "and I/O wait; the kernel's AIO read moves aio-nr",
    "aio-in-flight-lifecycle": "a kernel AIO read in flight at exit or exec waits in D in exit_aio; close and "
                               "io_cancel leave it to complete; glibc POSIX AIO is not inherited across fork and "
                               "starts helper threads up to aio_init's aio_threads (IBM AIX AIO documentation, "
                               "docs/aix-and-linux.md)",
    "aio-rings-vs-memlock": "aio rings and RLIMIT_MEMLOCK (mainline: not charged; aio-memlock kernels: charged)",
    "aio-memlock-as-posted": "the 2009 proposal (\"aio: remove aio-max-nr and instead use the memlock rlimit to "
                             "limit the number of pages pinned for the aio completion ring\"): its test program's "
                             "sweep, per-process charging as posted (source-6.1-aio-memlock-2009[-compat]), "
                             "aio-max-nr gone or deprecated, aio_nr an atomic_t that wraps past INT_MAX where "
                             "an unsigned long does not (the reply's two objections), beside the per-user "
                             "forward port (source-6.1-aio-memlock[-posted])",
    "io-uring-buffers-memlock": "io_uring registered buffers are charged to RLIMIT_MEMLOCK per uid",
    "dstate-vfork": "a vfork parent in D: loadavg counts it, no iowait, PSI, procs_blocked or delayacct",
    "dstate-module-msleep": "a module's msleep in D without iowait, and with in_iowait = 1",
    "dstate-io-destroy": "io_destroy with a read in flight waits in D, not iowait",
    "dstate-frozen-fs": "a writer on a frozen ext4 waits in D, not iowait",
    "task-idle-is-not-d": "a sleep in TASK_IDLE shows I: not in loadavg, not D, no iowait; atop 2.8.1 counts it "
                          "with D (atop#256)",
    "dstate-inode-lock": "a writer waiting for a file's inode lock, held by another write, is in D, not iowait",
    "page-cache-miss-iowait": "a buffered read or a major fault that misses the page cache waits in D on the "
                              "page lock, I/O wait to every witness like an O_DIRECT read",
    "direct-write-iowait": "an O_DIRECT write waits in D for its bio, I/O wait to every witness like the read",
    "fsync-writeback-iowait": "fsync of a page the task dirtied waits in D for its writeback, I/O wait to every "
                              "witness",
    "msync-writeback-iowait": "msync(MS_SYNC) of a page dirtied through a shared mapping waits in D for its "
                              "writeback, I/O wait to every witness as fsync's",
    "swap-in-iowait": "a fault on a swapped-out anonymous page waits in D for the swap read, I/O wait to every "
                      "witness; where the one-page read is polled, in swap_readpage(), uninterruptible",
    "fsync-journal-commit-not-iowait": "fsync of an ext4 file whose inode alone changed waits in D for the jbd2 "
                                       "commit, not as I/O wait; the journal thread's wait for the writes is",
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
                               "__state == 2, missing the TASK_KILLABLE of a vfork parent and of a page-cache miss; "
                               "neither sees an io_uring wait (bcc#3871)",
}
