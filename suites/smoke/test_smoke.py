"""Smoke: the plumbing works on every selected kernel, before any scenario relies on it."""

from __future__ import annotations

import hashlib
import signal

import pytest

from core import budget
from fixtures import TRACERS, WORKLOADS
from vm import probes
from vm.errors import CommandTimeout

pytestmark = pytest.mark.behaviour("smoke")


def test_uname_matches_catalog(guest):
    assert probes.release(guest) == guest.kernel.version


def test_channel_returns_stdout_stderr_and_exit_code(guest):
    r = guest.run("printf 'out\\n'; printf 'err\\n' >&2; exit 7")
    assert (r.rc, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert guest.run("cat", input=b"through stdin").stdout == "through stdin"


def test_channel_timeout_kills_the_command(guest):
    with pytest.raises(CommandTimeout) as exc:
        guest.run("echo started; exec sleep 600", timeout=3)
    assert exc.value.result.stdout == "started\n"
    assert exc.value.result.duration < 600
    # Killed with its process group: nothing of it is left in the guest.
    assert guest.run("pgrep -x -f 'sleep 600'").rc == 1


def test_background_process_signal_and_output(guest):
    p = guest.spawn("trap 'echo got-term; exit 3' TERM; echo $$; while :; do sleep 0.1; done")
    guest.wait_for_output(p, "\n", timeout=30)  # the trap is set once the pid is printed
    assert guest.poll(p).rc is None
    assert guest.read_text(f"/proc/{p.pid}/stat").startswith(f"{p.pid} (sh) ")
    guest.signal(p, signal.SIGTERM, group=False)
    r = guest.wait(p, timeout=30)
    assert r.rc == 3
    assert r.stdout.splitlines() == [str(p.pid), "got-term"]


def test_file_copy_in_and_out(guest, tmp_path):
    src = tmp_path / "blob"
    src.write_bytes(bytes(range(256)) * 64)
    guest.copy_in(src, "/tmp/iowitness-blob")
    assert guest.sh("sha256sum /tmp/iowitness-blob").split()[0] == hashlib.sha256(
        src.read_bytes()).hexdigest()
    guest.copy_out("/tmp/iowitness-blob", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()


@pytest.mark.modules("null_blk")
def test_null_blk_module_loads(guest):
    guest.sh("modprobe null_blk nr_devices=1")
    size = int(guest.sh("blockdev --getsize64 /dev/nullb0"))
    # null_blk's default gb=250 (drivers/block/null_blk/main.c: g_gb = 250).
    assert size == 250 * 1024**3
    guest.sh("dd if=/dev/nullb0 of=/dev/null bs=4096 count=1 iflag=direct")


def test_bpftrace_sees_a_syscall_made_by_the_test(guest):
    nr = 4242  # an io_setup size nothing else in the guest asks for
    # Without BTF (source builds) the tracepoint's aio_context_t comes from aio_abi.h; with
    # BTF the include is left out: it runs clang in the guest, ~100 s more under TCG.
    prog = ('' if probes.has_btf(guest) else '#include <linux/aio_abi.h>\n') + (
            f'tracepoint:syscalls:sys_enter_io_setup /args->nr_events == {nr}/ '
            '{ printf("seen pid=%d nr=%d\\n", pid, args->nr_events); exit(); }')
    tracer = guest.spawn(f"exec bpftrace -e '{prog}'")
    with budget.spend(budget.TRACER):
        guest.wait_for_output(tracer, "Attaching", timeout=240)
    pid = int(guest.sh(f"/usr/bin/python3 {WORKLOADS}/io_setup_once.py {nr}"))
    out = guest.wait(tracer, timeout=60).stdout
    assert f"seen pid={pid} nr={nr}" in out


def test_bcc_program_sees_a_syscall_made_by_the_test(guest):
    nr = 4243
    tracer = guest.spawn(f"exec /usr/bin/python3 -u {TRACERS}/bcc_io_setup.py {nr}")
    with budget.spend(budget.TRACER):  # bcc compiles in the guest (~50 s under TCG)
        guest.wait_for_output(tracer, "READY", timeout=600)
    pid = int(guest.sh(f"/usr/bin/python3 {WORKLOADS}/io_setup_once.py {nr}"))
    out = guest.wait(tracer, timeout=60).stdout
    assert f"seen pid={pid} nr={nr}" in out


_before: dict[str, str] = {}


def test_sysctl_fixture_sets_a_value(guest, sysctl):
    _before[guest.kernel.name] = sysctl.get("fs.aio-max-nr")
    new = int(_before[guest.kernel.name]) + 12345
    sysctl.set("fs.aio-max-nr", new)
    assert int(guest.read_text("/proc/sys/fs/aio-max-nr")) == new


def test_sysctl_fixture_restored_it(guest):
    if guest.kernel.name not in _before:
        pytest.fail("test_sysctl_fixture_sets_a_value did not run first on this kernel")
    assert guest.read_text("/proc/sys/fs/aio-max-nr").strip() == _before[guest.kernel.name]
