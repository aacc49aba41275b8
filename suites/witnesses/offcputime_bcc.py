"""bcc's `offcputime-bpfcc --state 2 -m 1000000 -K` (Debian's bpfcc-tools 0.26,
Python with embedded BPF C compiled in the guest): per thread and kernel stack,
the time spent off CPU in sleeps of at least 1 s, for threads that switched out
in the given state.

Its filter is a bitmask: a switch-out counts when `prev->__state & 2`, the field
named `__state` or `state` as the kernel's BTF says (bcc tools/offcputime.py:
STATE_FILTER, kernel_struct_has_field(); bcc#3658 for the rename in 5.14). Every
D sleep counts, TASK_KILLABLE and TASK_FREEZABLE ones too; no S sleep does.
One process per guest (suites/watch/offcputime.py); its Python must see SIGINT
(vm/agent.py) and write unbuffered to be read."""

from __future__ import annotations

from suites.watch.offcputime import OffcputimeWitness
from vm import probes


class OffcputimeBcc(OffcputimeWitness):
    name = "offcputime-bcc"
    title = "bcc offcputime --state 2"
    order = 291
    package = "bpfcc-tools"
    programs = ("/usr/sbin/offcputime-bpfcc",)
    rule = "bitmask"
    source = "bcc 0.26 tools/offcputime.py: STATE_FILTER 'prev->STATE_FIELD & %d' (bitmask), __state from BTF"

    def command(self) -> str:
        return f"env PYTHONUNBUFFERED=1 {super().command()} -K"

    def wait_ready(self, guest, proc) -> None:
        guest.wait_for_output(proc, "Tracing", timeout=self.ready_timeout)

    def check(self, guest) -> str | None:
        # Without BTF, kernel_struct_has_field() says no and the filter names
        # `prev->state`, which 5.14 renamed to __state (2f064a59a11f): the
        # embedded C does not compile (seen on source-6.1: "no member named 'state'").
        if not probes.has_btf(guest) and probes.kernel_version(guest) >= (5, 14):
            return ("the kernel has no BTF: bcc 0.26 offcputime then filters on task_struct.state, "
                    "named __state since 5.14 (2f064a59a11f), and its BPF program does not compile")
        return super().check(guest)


WITNESS = OffcputimeBcc()
