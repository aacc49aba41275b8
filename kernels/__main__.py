"""python -m kernels list | fetch NAME | build NAME | path NAME | verify NAME

(Booting each kernel to check it, and bisecting, are `iowitness check` and
`iowitness bisect`: harness/kernel_commands.py, a floor above.)"""

from __future__ import annotations

import argparse
import sys

import kernels
from kernels import cache, catalog, command, debian
from kernels.catalog import DebianEntry, SourceEntry
from kernels.errors import KernelError


def cmd_list(args) -> int:
    from kernels.seen import load_seen
    cat = catalog.load()
    seen = load_seen()
    w = max(22, *(len(n) for n in cat))
    print(f"{'name':{w}} {'kind':7} {'default':7} {'cached':6} version  [last check]")
    for name, entry in cat.items():
        have = kernels.lookup(entry) if isinstance(entry, (DebianEntry, SourceEntry)) else None
        version = have.version if have else "-"
        if isinstance(entry, DebianEntry) and args.resolve:
            try:
                version = f"{debian.resolve(entry)}-{entry.flavour} (archive)" + (
                    f", {have.version} cached" if have else "")
            except KernelError as e:
                version = f"unresolved: {e.cause}"
        s = seen.get(name)
        last = f"  [{s['result']} {s['seen']}, {s['version']}, root over {s['root']}" + (
            f", lacks {', '.join(s['lacks'])}" if s.get("lacks") else "") + "]" if s and "result" in s else ""
        if s and "suites" in s:
            r = s["suites"]
            last += (f"  [suites {r['seen']}: {r['passed']} passed, {r['failed'] + r['error']} not, "
                     f"{r['skipped']} skipped]")
        print(f"{name:{w}} {entry.__class__.__name__[:-5].lower():7} {'yes' if entry.default else '':7} "
              f"{'yes' if have else 'no':6} {version}{last}")
    return 0


def cmd_fetch(args) -> int:
    for name in args.names:
        entry = catalog.get(name)
        if isinstance(entry, SourceEntry):
            raise KernelError(name, "is a source entry: use `iowitness kernels build`")
        print(kernels.ensure(name).image)
    return 0


def cmd_build(args) -> int:
    for name in args.names:
        if not isinstance(catalog.get(name), SourceEntry):
            raise KernelError(name, "is not a source entry: use `iowitness kernels fetch`")
        print(kernels.ensure(name).image)
    return 0


def _ready(name: str) -> kernels.CachedKernel:
    k = kernels.lookup(catalog.get(name))
    if k is None:
        raise KernelError(name, "not cached (fetch or build it first)")
    return k


def cmd_path(args) -> int:
    print(_ready(args.name).dir)
    return 0


def cmd_verify(args) -> int:
    k = _ready(args.name)
    bad = cache.verify(k)
    for line in bad:
        print(f"{args.name}: {line}")
    print(f"{args.name}: {k.version}: {'CORRUPT' if bad else 'ok'} "
          f"({len(k.manifest.get('files', {}))} files checked)")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="iowitness kernels", description="iowitness kernel catalog and cache")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="named kernels, defaults, cached, versions")
    p.add_argument("--no-resolve", dest="resolve", action="store_false",
                   help="do not ask the archive for the newest ABI")
    p.set_defaults(func=cmd_list)
    for n, f, h in (("fetch", cmd_fetch, "download and unpack"), ("build", cmd_build, "build a source kernel")):
        p = sub.add_parser(n, help=h)
        p.add_argument("names", nargs="+", metavar="NAME")
        p.set_defaults(func=f)
    for n, f, h in (("path", cmd_path, "where it is cached"), ("verify", cmd_verify, "check sha256")):
        p = sub.add_parser(n, help=h)
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=f)
    return command.run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
