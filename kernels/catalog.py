"""The YAML catalog of named kernels, parsed into frozen dataclasses.

Adding a kernel is one YAML entry; every mistake in an entry is reported as one
line naming the entry and the key at fault.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kernels.errors import KernelError

KERNELS_DIR = Path(__file__).resolve().parent
DEFAULT_CATALOG = KERNELS_DIR / "catalog.yaml"

# What an entry's `features` may say, and what each means to the tests that ask
# for it (@pytest.mark.features): a word outside this list is a catalog error,
# not a test that silently skips.
FEATURES = {
    "aio-memlock": "aio rings charged to RLIMIT_MEMLOCK (kernels/patches/aio-memlock/)",
    "no-aio-max-nr": "aio-max-nr removed: only RLIMIT_MEMLOCK limits io_setup (the 2009 proposal as posted)",
    "aio-memlock-per-process": "aio rings charged to the calling process's locked_vm (VmLck), not the user's "
                               "(kernels/patches/aio-memlock-2009/)",
    "aio-max-nr-deprecated": "aio-max-nr kept writable, logging a deprecation warning, limiting nothing",
    "aio-nr-atomic-t": "aio_nr an atomic_t (an int), d55b5fdaf408 undone",
    "preempt-rt": "a PREEMPT_RT kernel",
}


@dataclass(frozen=True)
class Entry:
    name: str
    default: bool = False
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class DebianEntry(Entry):
    """A Debian kernel package series (or one exact ABI when pinned)."""

    abi: str = ""  # regular expression for the ABI part of the package name
    flavour: str = "amd64"
    pin: str | None = None


@dataclass(frozen=True)
class PathEntry(Entry):
    """A kernel image given by path, with optional modules and headers."""

    image: Path = Path()
    modules: Path | None = None  # a lib/modules/<version> directory
    headers: Path | None = None  # a directory usable as lib/modules/<version>/build


@dataclass(frozen=True)
class TreeEntry(Entry):
    """A local kernel source tree, built with `vng --build` unless already built."""

    tree: Path = Path()
    build: bool = True


@dataclass(frozen=True)
class SourceEntry(Entry):
    """A kernel built from a source base, a patch series and a config fragment."""

    base: str = ""  # Debian source package (linux-source-6.1), tarball or tree
    patches: tuple[Path, ...] = ()
    config: Path | None = None
    configs: tuple[str, ...] = field(default=())  # extra CONFIG_X=y lines


_KINDS = {
    "debian": (DebianEntry, {"abi"}, {"flavour", "pin"}),
    "path": (PathEntry, {"image"}, {"modules", "headers"}),
    "tree": (TreeEntry, {"tree"}, {"build"}),
    "source": (SourceEntry, {"base"}, {"patches", "config", "configs"}),
}
_COMMON = {"kind", "default", "features"}


def _path(value, base_dir: Path) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else (base_dir / p).resolve()


def _parse_entry(name: str, raw: dict, base_dir: Path) -> Entry:
    if not isinstance(raw, dict):
        raise KernelError(name, "entry must be a mapping of keys")
    kind = raw.get("kind")
    if kind not in _KINDS:
        raise KernelError(name, f"unknown kind {kind!r} (expected one of {', '.join(_KINDS)})")
    cls, required, optional = _KINDS[kind]
    unknown = set(raw) - required - optional - _COMMON
    if unknown:
        raise KernelError(name, f"unknown key(s) {', '.join(sorted(unknown))} for kind {kind}")
    missing = required - set(raw)
    if missing:
        raise KernelError(name, f"missing key(s) {', '.join(sorted(missing))} for kind {kind}")
    features = raw.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise KernelError(name, "features must be a list of strings")
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise KernelError(name, f"unknown feature(s) {', '.join(unknown)} (known: {', '.join(sorted(FEATURES))})")
    args: dict = {"name": name, "default": bool(raw.get("default", False)), "features": tuple(features)}
    if kind == "debian":
        try:
            re.compile(raw["abi"])
        except re.error as e:
            raise KernelError(name, f"abi is not a valid regular expression: {e}") from None
        args.update(abi=str(raw["abi"]), flavour=str(raw.get("flavour", "amd64")))
        if raw.get("pin") is not None:
            pin = str(raw["pin"])
            if not re.fullmatch(raw["abi"], pin):
                raise KernelError(name, f"pin {pin} does not match abi {raw['abi']}")
            args["pin"] = pin
    elif kind == "path":
        args["image"] = _path(raw["image"], base_dir)
        for key in ("modules", "headers"):
            if raw.get(key) is not None:
                args[key] = _path(raw[key], base_dir)
    elif kind == "tree":
        args.update(tree=_path(raw["tree"], base_dir), build=bool(raw.get("build", True)))
    else:
        patches = raw.get("patches", [])
        if not isinstance(patches, list):
            raise KernelError(name, "patches must be a list of files")
        base = str(raw["base"])
        if "/" in base or base.endswith((".tar", ".tar.xz", ".tar.gz")):
            base = str(_path(base, base_dir))
        args.update(
            base=base,
            patches=tuple(_path(p, base_dir) for p in patches),
            config=_path(raw["config"], base_dir) if raw.get("config") else None,
            configs=tuple(str(c) for c in raw.get("configs", [])),
        )
    return cls(**args)


def load(path: Path | None = None) -> dict[str, Entry]:
    """Parse the catalog; the first bad entry raises KernelError."""
    path = Path(path or os.environ.get("IOWITNESS_CATALOG") or DEFAULT_CATALOG)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise KernelError("catalog", f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise KernelError("catalog", f"{path}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("kernels"), dict):
        raise KernelError("catalog", f"{path}: expected a top-level 'kernels:' mapping")
    return {name: _parse_entry(str(name), raw, path.parent) for name, raw in data["kernels"].items()}


def get(name: str, catalog: dict[str, Entry] | None = None) -> Entry:
    catalog = load() if catalog is None else catalog
    if name not in catalog:
        close = difflib.get_close_matches(name, list(catalog), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(sorted(catalog))}"
        raise KernelError(name, f"unknown kernel ({hint})")
    return catalog[name]


def defaults(catalog: dict[str, Entry] | None = None) -> list[str]:
    catalog = load() if catalog is None else catalog
    return [name for name, entry in catalog.items() if entry.default]
