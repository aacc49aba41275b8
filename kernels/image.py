"""What a kernel image and a headers tree say about their own version."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from kernels.errors import KernelError

# Documentation/arch/x86/boot.rst: "HdrS" at 0x202; the 16-bit field at 0x20E is
# the offset (minus 0x200) of the NUL-terminated kernel version string.
_MAGIC_OFFSET, _VERSION_PTR = 0x202, 0x20E


def bzimage_version(path: Path, entry: str) -> str:
    """The release (`uname -r`) of an x86 bzImage; KernelError if it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x10000)
    except OSError as e:
        raise KernelError(entry, f"cannot read kernel image {path}: {e.strerror}") from None
    if len(head) < 0x210 or head[_MAGIC_OFFSET:_MAGIC_OFFSET + 4] != b"HdrS":
        raise KernelError(entry, f"{path} is not an x86 kernel image (no bzImage header)")
    off = struct.unpack_from("<H", head, _VERSION_PTR)[0] + 0x200
    text = head[off:off + 256].split(b"\0")[0].decode("ascii", "replace")
    if not text:
        raise KernelError(entry, f"{path} has a bzImage header but no version string")
    return text.split()[0]


def headers_version(headers: Path) -> str | None:
    """The release a headers tree was generated for, from include/generated/utsrelease.h."""
    p = headers / "include" / "generated" / "utsrelease.h"
    if not p.exists():
        return None
    m = re.search(r'UTS_RELEASE\s+"([^"]+)"', p.read_text())
    return m.group(1) if m else None


def check_headers_match(headers: Path, version: str, entry: str) -> None:
    found = headers_version(headers)
    if found is None:
        raise KernelError(entry, f"{headers} is not a kernel headers tree (no include/generated/utsrelease.h)")
    if found != version:
        raise KernelError(entry, f"headers are for {found} but the image is {version}")
