"""The kernel cache: where kernels live, how they get there atomically, and their manifests.

Layout: <root>/kernels/<name>/<key>/ holds one kernel (key = ABI for Debian kernels,
a hash of all inputs for source builds) with a manifest.json recording what was
fetched or built and the sha256 of every file. A kernel is staged in a sibling
directory and renamed into place only when complete, under a per-name lock, so an
interrupted or concurrent fetch never leaves a half kernel where a whole one is
expected.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kernels.errors import KernelError

MANIFEST = "manifest.json"


def root() -> Path:
    env = os.environ.get("IOWITNESS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "iowitness"


def entry_dir(name: str) -> Path:
    return root() / "kernels" / name


@dataclass(frozen=True)
class CachedKernel:
    """A kernel ready to boot, as recorded in its manifest."""

    name: str
    key: str
    version: str  # what `uname -r` prints in the guest
    dir: Path
    image: Path
    modules: Path | None
    headers: Path | None
    features: tuple[str, ...]
    manifest: dict
    boot: Path | None = None  # what `vng -r` gets, when not the image (a built tree)

    @property
    def boot_target(self) -> Path:
        return self.boot or self.image

    @property
    def image_sha256(self) -> str:
        rel = str(self.image.relative_to(self.dir)) if self.image.is_relative_to(self.dir) else None
        return self.manifest.get("files", {}).get(rel, "") if rel else self.manifest.get("image_sha256", "")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def locked(name: str):
    """Serialise fetches and builds of one entry across processes."""
    lock_dir = root() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def staging(name: str):
    """A fresh directory beside the final one; removed unless published.

    Call with the entry's lock held: leftovers of killed runs are removed first.
    """
    parent = entry_dir(name)
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def final_dir(name: str, key: str) -> Path:
    return entry_dir(name) / key


def publish(tmp: Path, name: str, key: str) -> Path:
    """Move a complete staged kernel into place (atomic rename)."""
    final = final_dir(name, key)
    if (final / MANIFEST).exists():
        return final  # another run published it first; ours is discarded
    if final.exists():
        shutil.rmtree(final)  # a directory without manifest is not a kernel
    os.rename(tmp, final)
    return final


def write_manifest(tmp: Path, meta: dict) -> None:
    """Record sha256 of every file and the target of every link under tmp."""
    files, links = {}, {}
    for dirpath, dirnames, filenames in os.walk(tmp):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            rel = str(p.relative_to(tmp))
            if p.is_symlink():
                links[rel] = os.readlink(p)
            elif p.is_file():
                files[rel] = sha256_file(p)
    meta = dict(meta, files=files, links=links)
    (tmp / MANIFEST).write_text(json.dumps(meta, indent=1, sort_keys=True))


def read_manifest(d: Path) -> dict:
    return json.loads((d / MANIFEST).read_text())


def load_kernel(name: str, key: str, features: tuple[str, ...] = ()) -> CachedKernel | None:
    d = final_dir(name, key)
    if not (d / MANIFEST).exists():
        return None
    m = read_manifest(d)
    return CachedKernel(
        name=name,
        key=key,
        version=m["version"],
        dir=d,
        image=d / m["image"],
        modules=d / m["modules"] if m.get("modules") else None,
        headers=d / m["headers"] if m.get("headers") else None,
        features=tuple(features),
        manifest=m,
    )


def cached_keys(name: str) -> list[str]:
    d = entry_dir(name)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / MANIFEST).exists())


def verify(kernel: CachedKernel) -> list[str]:
    """Files whose content or link target no longer matches the manifest."""
    bad = []
    for rel, digest in kernel.manifest.get("files", {}).items():
        p = kernel.dir / rel
        if not p.is_file() or p.is_symlink():
            bad.append(f"{rel}: missing")
        elif sha256_file(p) != digest:
            bad.append(f"{rel}: sha256 differs")
    for rel, target in kernel.manifest.get("links", {}).items():
        p = kernel.dir / rel
        if not p.is_symlink() or os.readlink(p) != target:
            bad.append(f"{rel}: link changed")
    return bad


def require_intact(kernel: CachedKernel) -> None:
    bad = verify(kernel)
    if bad:
        raise KernelError(kernel.name, f"cached files do not match their sha256 ({bad[0]}"
                          f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); "
                          f"remove {kernel.dir} and fetch again")
