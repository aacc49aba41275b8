"""Named kernels: the catalog, and getting each kind of entry ready to boot."""

from __future__ import annotations

from kernels import cache, catalog, debian, local, source
from kernels.cache import CachedKernel
from kernels.catalog import DebianEntry, Entry, PathEntry, SourceEntry, TreeEntry
from kernels.errors import KernelError

__all__ = ["CachedKernel", "KernelError", "ensure", "lookup", "catalog"]


def lookup(entry: Entry) -> CachedKernel | None:
    """The kernel if it is ready now, without network or build."""
    if isinstance(entry, DebianEntry):
        return debian.cached(entry)
    if isinstance(entry, SourceEntry):
        keys = cache.cached_keys(entry.name)
        try:
            key = source.input_key(entry)
        except KernelError:
            return None
        return cache.load_kernel(entry.name, key, entry.features) if key in keys else None
    if isinstance(entry, PathEntry):
        return local.from_path(entry)
    return local.from_tree(TreeEntry(**{**entry.__dict__, "build": False}), quiet=True)


def ensure(name: str, quiet: bool = False, verify: bool = True) -> CachedKernel:
    """Fetch or build the named kernel as needed; verify cached files before use."""
    entry = catalog.get(name)
    if isinstance(entry, DebianEntry):
        k = debian.fetch(entry, quiet=quiet)
    elif isinstance(entry, SourceEntry):
        k = source.build(entry, quiet=quiet)
    elif isinstance(entry, PathEntry):
        return local.from_path(entry)
    else:
        return local.from_tree(entry, quiet=quiet)
    if verify:
        cache.require_intact(k)
    return k
