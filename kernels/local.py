"""Kernels the user already has: an image by path, or a local source tree."""

from __future__ import annotations

import subprocess

from kernels import cache, image
from kernels.catalog import PathEntry, TreeEntry
from kernels.errors import KernelError
from kernels.progress import Progress


def from_path(entry: PathEntry) -> cache.CachedKernel:
    if not entry.image.is_file():
        raise KernelError(entry.name, f"image {entry.image} does not exist")
    version = image.bzimage_version(entry.image, entry.name)
    if entry.headers:
        image.check_headers_match(entry.headers, version, entry.name)
    if entry.modules and not (entry.modules / "modules.order").exists() and not any(entry.modules.glob("kernel")):
        raise KernelError(entry.name, f"{entry.modules} is not a lib/modules/<version> directory")
    return cache.CachedKernel(
        name=entry.name, key=version, version=version, dir=entry.image.parent, image=entry.image,
        modules=entry.modules, headers=entry.headers, features=entry.features,
        manifest={"kind": "path", "version": version, "image_sha256": cache.sha256_file(entry.image)},
    )


def from_tree(entry: TreeEntry, quiet: bool = False) -> cache.CachedKernel:
    tree = entry.tree
    if not (tree / "Makefile").is_file() or not (tree / "kernel").is_dir():
        raise KernelError(entry.name, f"{tree} is not a kernel source tree")
    img = tree / "arch" / "x86" / "boot" / "bzImage"
    if entry.build:
        Progress(entry.name, quiet).step(f"vng --build in {tree}")
        p = subprocess.run(["vng", "--build"], cwd=tree, text=True, capture_output=quiet)
        if p.returncode != 0:
            raise KernelError(entry.name, f"vng --build failed in {tree} (exit {p.returncode})")
    if not img.is_file():
        raise KernelError(entry.name, f"{tree} is not built (no arch/x86/boot/bzImage); set build: true")
    version = image.bzimage_version(img, entry.name)
    return cache.CachedKernel(
        name=entry.name, key=version, version=version, dir=tree, image=img, modules=None,
        headers=tree, features=entry.features, boot=tree,
        manifest={"kind": "tree", "version": version, "image_sha256": cache.sha256_file(img)},
    )
