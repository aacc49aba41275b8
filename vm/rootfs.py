"""How the host's root reaches the guest, read-only: 9p or virtio-fs.

virtme-ng shares the host's root with the guest. It tries virtio-fs first, with
the Rust virtiofsd, which Debian 12 does not package; as root it takes QEMU's C
daemon for it, which refuses the Rust daemon's options, and falls back to 9p
after ~3 s of waiting (virtme/commands/run.py VirtioFS.start: 0.1 + 0.2 + ... +
1.6 s). So the transport is chosen here, from the kernel's config:
- 9p: `vng --force-9p` (no attempt, no wait);
- virtio-fs: vm/virtiofsd/virtiofsd first on vng's PATH, which serves the
  C daemon with a recursive read-only bind (a kernel without 9p, such as
  Debian's cloud flavour, has only this).
"""

from __future__ import annotations

from pathlib import Path

from vm.errors import BootFailed

NINE_P = "9p"
VIRTIO_FS = "virtiofs"
CHOICES = (NINE_P, VIRTIO_FS)
# What the guest needs for each, built in or as a module (virtme's initramfs
# loads modules: kernels/debian.py leaves them uncompressed).
NEEDS = {NINE_P: ("CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS"),
         VIRTIO_FS: ("CONFIG_FUSE_FS", "CONFIG_VIRTIO_FS")}
# Where both work: virtio-fs. `python -m vm.bench --rootfs both`, interleaved boots
# under TCG on 2 cores, medians (9p -> virtio-fs): debian-6.1 boot to ready 17.2 ->
# 14.8 s, command p50 22.3 -> 14.3 ms, cold Python start 3.0 -> 1.9 s (a cold 20 MB
# read 124 -> 106 MB/s); debian-6.12 24.4 -> 17.1 s, 30.8 -> 21.5 ms, 4.5 -> 3.1 s
# (12.8 -> 64.7 MB/s). docs/performance.md has the whole figures.
PREFERRED = (VIRTIO_FS, NINE_P)
SHIM_DIR = Path(__file__).resolve().parent / "virtiofsd"
C_DAEMON = Path("/usr/lib/qemu/virtiofsd")


def supported(kconfig: dict[str, str]) -> list[str]:
    """The transports this kernel config can mount its root with, preferred first;
    both when the config is not known (a kernel that lacks one fails to boot, and
    says which)."""
    if not kconfig:
        return list(PREFERRED)
    return [t for t in PREFERRED if all(kconfig.get(s) in ("y", "m") for s in NEEDS[t])]


def choose(kconfig: dict[str, str], asked: str | None, label: str) -> str:
    can = supported(kconfig)
    if asked is not None:
        if asked not in CHOICES:
            raise BootFailed(f"{label}: root transport {asked!r} is not one of {', '.join(CHOICES)}")
        if asked not in can:
            raise BootFailed(f"{label}: the kernel cannot mount its root over {asked} "
                              f"(needs {', '.join(NEEDS[asked])})")
        can = [asked]
    if not can:
        raise BootFailed(f"{label}: the kernel has neither 9p ({', '.join(NEEDS[NINE_P])}) nor virtio-fs "
                          f"({', '.join(NEEDS[VIRTIO_FS])}) to mount the host's root")
    chosen = can[0]
    if chosen == VIRTIO_FS and not C_DAEMON.exists():
        raise BootFailed(f"{label}: virtio-fs needs {C_DAEMON} (Debian's qemu-system-common; run ./bootstrap)")
    return chosen


def vng_args(transport: str) -> list[str]:
    return ["--force-9p"] if transport == NINE_P else []


def path_for(transport: str, path: str) -> str:
    """vng's PATH: with the read-only virtiofsd shim first for virtio-fs."""
    return f"{SHIM_DIR}:{path}" if transport == VIRTIO_FS else path
