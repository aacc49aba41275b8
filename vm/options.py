"""How guests are booted: CPUs, memory, boot parameters, accelerator, SSH."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GuestOptions:
    cpus: int = 2
    memory: str = "2G"
    append: tuple[str, ...] = ()
    accel: str | None = None  # None: decide by evidence (vm.accel)
    boot_timeout: float = 300.0
    rwdirs: tuple[str, ...] = ()
    # Address-space randomization. None: off under TCG, on under KVM. TCG keys its
    # translated code by virtual address, so with ASLR every exec translates the C
    # library anew: measured here, a trivial command 40 -> 18 ms, `cat` 85 -> 41 ms.
    # No scenario depends on it; `--vm-aslr on` keeps it.
    aslr: bool | None = None
    extra_vng: tuple[str, ...] = field(default=())
    # How the host's root reaches the guest (vm/rootfs.py): "9p", "virtiofs", or
    # None: the preferred one the kernel has.
    rootfs: str | None = None
    # SSH into the guest (an interactive shell, SSH's own tests, the naive figure
    # of the bench). Off by default: commands do not use it, and the NIC and
    # sshd it needs delay the end of udev's coldplug by ~1.5 s under TCG.
    ssh: bool = False
