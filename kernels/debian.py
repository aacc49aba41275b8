"""Debian kernel packages: resolve a series to an exact ABI, fetch, unpack, wire headers.

apt does the downloading, so packages are checked against Debian's signed archive
(Release -> Packages -> SHA256) before we see them; we record each package's
version and sha256 and, in the manifest, the sha256 of every unpacked file.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kernels import cache, image
from kernels.catalog import DebianEntry
from kernels.errors import KernelError
from kernels.progress import Progress


def _run(cmd: list[str], entry: str, what: str, **kw) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, text=True, **kw)
    except FileNotFoundError:
        raise KernelError(entry, f"{cmd[0]} not found (run ./bootstrap)") from None
    if p.returncode != 0:
        err = (p.stderr or "").strip().splitlines()
        raise KernelError(entry, f"{what} failed: {err[-1] if err else f'exit {p.returncode}'}")
    return p

def _natural(abi: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", abi))

def image_package(abi: str, flavour: str) -> str:
    return f"linux-image-{abi}-{flavour}-unsigned"

def available_abis(entry: DebianEntry) -> list[str]:
    """ABIs of the series the archive offers now, oldest first."""
    p = _run(["apt-cache", "pkgnames", "linux-image-"], entry.name, "apt-cache pkgnames",
             capture_output=True)
    pat = re.compile(rf"linux-image-({entry.abi})-{re.escape(entry.flavour)}-unsigned")
    abis = {m.group(1) for line in p.stdout.split() if (m := pat.fullmatch(line))}
    return sorted(abis, key=_natural)

def package_info(pkg: str, entry: str) -> dict[str, str]:
    """Fields of the candidate version of a package (Version, Depends, SHA256, Size)."""
    p = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg], text=True, capture_output=True)
    if p.returncode != 0 or not p.stdout.strip():
        raise KernelError(entry, f"package {pkg} is not in the archive (apt-get update, or the ABI is gone)")
    fields: dict[str, str] = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^([A-Za-z0-9-]+): ?(.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    return fields

def resolve(entry: DebianEntry) -> str:
    """The exact ABI to use: the pin, or the newest the archive offers."""
    if entry.pin:
        package_info(image_package(entry.pin, entry.flavour), entry.name)
        return entry.pin
    abis = available_abis(entry)
    if not abis:
        raise KernelError(entry.name, f"the archive offers no {image_package('<' + entry.abi + '>', entry.flavour)}"
                          " (run apt-get update?)")
    return abis[-1]

def packages_for(abi: str, flavour: str, entry: str) -> list[str]:
    """Image, flavour headers, and the headers/kbuild packages those headers depend on."""
    headers = f"linux-headers-{abi}-{flavour}"
    deps = package_info(headers, entry).get("Depends", "")
    extra = []
    for alt in deps.split(","):
        name = alt.split("|")[0].strip().split(" ")[0]
        if name.startswith(("linux-headers-", "linux-kbuild-")):
            extra.append(name)
    return [image_package(abi, flavour), headers, *extra]

def _wire_headers(stage: Path, final: Path, release: str, headers_rel: str) -> str:
    """Point build/source and the arch Makefile at the cache, as seen from the guest.

    Debian ships these as absolute /usr/src links; the guest sees the host's paths,
    so absolute links to the final cache location work both on the host and inside
    a virtme-ng guest.
    """
    hdr = stage / headers_rel
    makefile = hdr / "Makefile"
    m = re.match(r"include (/usr/src/\S+)/Makefile", makefile.read_text().strip())
    if not m:
        raise KernelError(release, f"unexpected headers Makefile in {headers_rel}")
    common_rel = m.group(1).lstrip("/")
    makefile.write_text(f"include {final / common_rel}/Makefile\n")
    moddir = stage / "lib" / "modules" / release
    for link, target in (("build", final / headers_rel), ("source", final / common_rel)):
        p = moddir / link
        if p.is_symlink() or p.exists():
            p.unlink()
        p.symlink_to(target)
    return common_rel

def decompress_modules(moddir: Path, entry: str) -> int:
    """Every .ko.xz made a plain .ko, in place (depmod runs after). virtme-ng's
    initramfs loads modules with busybox insmod, which hands the file to
    init_module() as it is; the kernel takes only ELF there, and decompresses in
    finit_module() alone ("Invalid ELF header magic: != ELF": Debian's 6.12 and
    cloud flavours compress theirs). A module the initramfs needs, such as
    overlay, then failed to load."""
    found = sorted(moddir.rglob("*.ko.xz"))

    def one(path: Path) -> None:
        out = path.with_suffix("")  # x.ko.xz -> x.ko
        tmp = out.with_name(out.name + ".part")
        with lzma.open(path) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(out)
        path.unlink()

    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(one, found))  # lzma releases the GIL while it works
    except (lzma.LZMAError, OSError) as e:
        raise KernelError(entry, f"decompressing modules failed: {e}") from None
    return len(found)


def fetch(entry: DebianEntry, quiet: bool = False) -> cache.CachedKernel:
    prog = Progress(entry.name, quiet)
    prog.step("resolving in the Debian archive")
    abi = resolve(entry)
    with cache.locked(entry.name):
        have = cache.load_kernel(entry.name, abi, entry.features)
        if have:
            prog.step(f"{abi} already cached")
            return have
        pkgs = packages_for(abi, entry.flavour, entry.name)
        infos = {p: package_info(p, entry.name) for p in pkgs}
        total = sum(int(i.get("Size", 0)) for i in infos.values())
        with cache.staging(entry.name) as stage:
            debs = stage / ".debs"
            debs.mkdir()
            prog.step(f"downloading {len(pkgs)} packages ({total / 1e6:.0f} MB): {' '.join(pkgs)}")
            t0 = time.monotonic()
            _run(["apt-get", "download", "-q", *pkgs], entry.name, "download", cwd=debs,
                 stdout=sys.stderr if not quiet else subprocess.DEVNULL, stderr=subprocess.PIPE)
            fetch_s = time.monotonic() - t0
            records = []
            for pkg in pkgs:
                version = infos[pkg]["Version"]
                found = list(debs.glob(f"{pkg}_*.deb"))
                if len(found) != 1:
                    raise KernelError(entry.name, f"download of {pkg} left no .deb")
                digest = cache.sha256_file(found[0])
                if infos[pkg].get("SHA256") and digest != infos[pkg]["SHA256"]:
                    raise KernelError(entry.name, f"{found[0].name}: sha256 does not match the archive")
                records.append({"package": pkg, "version": version, "sha256": digest,
                                "size": found[0].stat().st_size})
            prog.step("unpacking")
            for deb in sorted(debs.glob("*.deb")):
                _run(["dpkg-deb", "-x", str(deb), str(stage)], entry.name, f"unpacking {deb.name}",
                     capture_output=True)
            shutil.rmtree(debs)
            release = f"{abi}-{entry.flavour}"
            img = stage / "boot" / f"vmlinuz-{release}"
            if not img.exists():
                raise KernelError(entry.name, f"package has no boot/vmlinuz-{release}")
            found_release = image.bzimage_version(img, entry.name)
            if found_release != release:
                raise KernelError(entry.name, f"image reports {found_release}, expected {release}")
            headers_rel = f"usr/src/linux-headers-{release}"
            image.check_headers_match(stage / headers_rel, release, entry.name)
            final = cache.final_dir(entry.name, abi)
            _wire_headers(stage, final, release, headers_rel)
            moddir = stage / "lib" / "modules" / release
            n = decompress_modules(moddir, entry.name)
            if n:
                prog.step(f"decompressed {n} modules")
            prog.step("depmod")
            _run(["depmod", "-a", "-b", str(stage), release], entry.name, "depmod", capture_output=True)
            prog.step("hashing files for the manifest")
            cache.write_manifest(stage, {
                "name": entry.name, "kind": "debian", "key": abi, "version": release,
                "image": str(img.relative_to(stage)),
                "modules": f"lib/modules/{release}", "headers": headers_rel,
                "packages": records, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "fetch_seconds": round(fetch_s, 1), "total_seconds": round(prog.elapsed, 1),
            })
            cache.publish(stage, entry.name, abi)
        size = sum(f.stat().st_size for f in final.rglob("*") if f.is_file() and not f.is_symlink())
        prog.step(f"cached {release} in {final} ({size / 1e6:.0f} MB unpacked, {prog.elapsed:.1f}s)")
        return cache.load_kernel(entry.name, abi, entry.features)

def cached(entry: DebianEntry) -> cache.CachedKernel | None:
    """The newest cached kernel of the series (or the pinned one), without the network."""
    keys = [k for k in cache.cached_keys(entry.name) if re.fullmatch(entry.pin or entry.abi, k)]
    if not keys:
        return None
    return cache.load_kernel(entry.name, sorted(keys, key=_natural)[-1], entry.features)

