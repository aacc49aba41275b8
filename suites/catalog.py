"""The documented behaviours, by name: what `python -m suites reproduce NAME` runs.

Each names the scenario tests that show it (pytest node ids without the kernel
parameter, which the plugin adds) and says in one line what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    name: str
    shows: str
    tests: tuple[str, ...]


def _b(name: str, shows: str, *tests: str) -> Behaviour:
    return Behaviour(name, shows, tests)


BEHAVIOURS = {b.name: b for b in (
    _b("aio-nr-accounting", "io_setup(n) adds exactly n to aio-nr; the ring has the predicted pages",
       "suites/aio/test_accounting.py::test_aio_nr_grows_by_n_and_ring_has_predicted_pages"),
    _b("aio-max-nr-exhaustion", "EAGAIN exactly at aio-max-nr; capacity back when io_destroy or waitpid returns",
       "suites/aio/test_accounting.py::test_exhaustion_at_the_limit",
       "suites/aio/test_accounting.py::test_capacity_returns_when_io_destroy_returns",
       "suites/aio/test_accounting.py::test_capacity_returns_when_waitpid_returns"),
    _b("aio-holders", "who holds aio capacity: maps, bcc and bpftrace agree with the workload and aio-nr",
       "suites/aio/test_attribution.py"),
    _b("aio-rings-vs-memlock", "aio rings and RLIMIT_MEMLOCK (mainline: not charged; aio-memlock kernels: charged)",
       "suites/memlock/test_aio_rings.py"),
    _b("io-uring-buffers-memlock", "io_uring registered buffers are charged to RLIMIT_MEMLOCK per uid",
       "suites/memlock/test_uring_buffers.py"),
    _b("dstate-vfork", "a vfork parent in D: loadavg counts it, no iowait, PSI, procs_blocked or delayacct",
       "suites/dstate/test_dstate.py::test_vfork_parent"),
    _b("dstate-module-msleep", "the seed's module: msleep in D without iowait, and with in_iowait = 1",
       "suites/dstate/test_dstate.py::test_module_msleep"),
    _b("dstate-io-destroy", "io_destroy with a read in flight waits in D, not iowait",
       "suites/dstate/test_dstate.py::test_io_destroy_with_read_in_flight"),
    _b("dstate-frozen-fs", "a writer on a frozen ext4 waits in D, not iowait",
       "suites/dstate/test_dstate.py::test_writer_on_frozen_fs"),
    _b("busy-cpu-masks-iowait", "a CPU hog on the waiting task's CPU hides its iowait and PSI io full, not the wait",
       "suites/busy_cpu/test_busy_cpu.py::test_busy_cpu_masks_iowait"),
    _b("io-uring-iowait-without-d", "io_uring_enter waits in S yet counts as I/O wait (in flight, and idle per kernel)",
       "suites/busy_cpu/test_busy_cpu.py::test_io_uring_wait_with_read_in_flight",
       "suites/busy_cpu/test_busy_cpu.py::test_io_uring_wait_with_nothing_in_flight"),
    _b("libaio-getevents-not-iowait", "io_getevents sleeps in S and is no I/O wait anywhere",
       "suites/busy_cpu/test_busy_cpu.py::test_libaio_getevents_is_not_iowait"),
    _b("smoke", "the plumbing: channel, modules, bpftrace, bcc, sysctls", "suites/smoke"),
)}
