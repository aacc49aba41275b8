"""Kernels built from source: a base tree, a patch series and a config fragment.

One build tree per base lives in the cache (<root>/build/<base>/tree) and is
kept between builds: it is a git repository whose first commit is the pristine
base, so switching patch series is `git reset --hard` (which rewrites only the
files that differ) plus `git apply`, and make recompiles only what changed.
The result is published under a key hashing every input, so a cached build is
reused without touching the tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from kernels import cache, image, tools
from kernels.catalog import KERNELS_DIR, SourceEntry
from kernels.debian import package_info
from kernels.errors import KernelError
from kernels.progress import Progress

BASE_FRAGMENT = KERNELS_DIR / "config" / "iowitness.config"
# Bumped when what a build publishes changes (2: an external-module build dir).
LAYOUT = 2


def _git(tree: Path, *args: str, entry: str) -> str:
    p = subprocess.run(["git", "-C", str(tree), *args], text=True, capture_output=True)
    if p.returncode != 0:
        raise KernelError(entry, f"git {args[0]} failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    return p.stdout


def input_key(entry: SourceEntry) -> str:
    """A hash of everything that determines the built kernel."""
    h = hashlib.sha256()
    h.update(f"layout={LAYOUT}\nbase={base_id(entry)}\nname={entry.name}\n".encode())
    for p in entry.patches:
        h.update(b"patch\0" + _read(p, entry, "patch"))
    for frag in (BASE_FRAGMENT, entry.config):
        if frag:
            h.update(b"config\0" + _read(frag, entry, "config fragment"))
    h.update("\n".join(entry.configs).encode())
    return h.hexdigest()[:16]


def _read(p: Path, entry: SourceEntry, what: str) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise KernelError(entry.name, f"cannot read {what} {p}: {e.strerror}") from None


def base_id(entry: SourceEntry) -> str:
    """The base's exact identity: package version, or the tarball/tree path."""
    if entry.base.startswith("linux-source-"):
        return f"{entry.base}={package_info(entry.base, entry.name)['Version']}"
    return entry.base


def _tree_dir(entry: SourceEntry) -> Path:
    # Only [A-Za-z0-9._-]: an "=" in the tree's absolute path breaks make's
    # dependency files under tools/ (objtool is then rebuilt, and with it everything).
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base_id(entry))
    return cache.root() / "build" / safe / "tree"


def _unpack_base(entry: SourceEntry, tree: Path, prog: Progress) -> None:
    """Create the pristine tree (a git repo with one commit) from the base."""
    staging = tree.with_name(".staging-tree")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    base = entry.base
    if base.startswith("linux-source-"):
        prog.step(f"downloading {base}")
        dl = staging.with_name(".download")
        shutil.rmtree(dl, ignore_errors=True)
        dl.mkdir()
        p = subprocess.run(["apt-get", "download", "-q", base], cwd=dl, text=True, capture_output=True)
        if p.returncode != 0:
            raise KernelError(entry.name, f"download of {base} failed: {p.stderr.strip().splitlines()[-1:]}")
        subprocess.run(["dpkg-deb", "-x", str(next(dl.glob("*.deb"))), str(dl / "x")], check=True)
        base = str(next((dl / "x" / "usr" / "src").glob("linux-source-*.tar.*")))
    src = Path(base)
    prog.step(f"unpacking {src.name}")
    if src.is_dir():
        shutil.copytree(src, staging, symlinks=True, dirs_exist_ok=True)
    else:
        p = subprocess.run(["tar", "-xf", str(src), "-C", str(staging)], text=True, capture_output=True)
        if p.returncode != 0:
            raise KernelError(entry.name, f"cannot unpack {src}: {(p.stderr.strip().splitlines() or ['?'])[0]}")
        tops = list(staging.iterdir())
        if len(tops) == 1 and tops[0].is_dir():  # linux-source-6.1/... -> tree root
            inner = tops[0]
            for child in inner.iterdir():
                child.rename(staging / child.name)
            inner.rmdir()
    if not (staging / "Makefile").exists() or not (staging / "kernel").is_dir():
        raise KernelError(entry.name, f"{entry.base} is not a kernel source tree")
    prog.step("recording the pristine tree (git)")
    for args in (["init", "-q"], ["add", "-A", "-f"],
                 ["-c", "user.name=iowitness", "-c", "user.email=iowitness@localhost",
                  "commit", "-q", "-m", "pristine"], ["tag", "pristine"]):
        _git(staging, *args, entry=entry.name)
    shutil.rmtree(staging.with_name(".download"), ignore_errors=True)
    os.rename(staging, tree)


def _apply_patches(entry: SourceEntry, tree: Path, prog: Progress) -> None:
    """Return the tree to pristine sources (keeping build output) and apply the series."""
    _git(tree, "reset", "-q", "--hard", "pristine", entry=entry.name)
    # Files a previous series added are untracked but not ignored: remove them.
    for line in _git(tree, "status", "--porcelain", "--untracked-files=all", entry=entry.name).splitlines():
        if line.startswith("?? "):
            (tree / line[3:]).unlink(missing_ok=True)
    for patch in entry.patches:
        prog.step(f"applying {patch.name}")
        p = subprocess.run(["git", "-C", str(tree), "apply", "--whitespace=nowarn", str(patch)],
                           text=True, capture_output=True)
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["?"])[0]
            _git(tree, "reset", "-q", "--hard", "pristine", entry=entry.name)
            raise KernelError(entry.name, f"patch {patch.name} does not apply: {msg}")


def _configure(entry: SourceEntry, tree: Path, prog: Progress) -> None:
    prog.step("configuring (vng --kconfig + fragments)")
    if not (tree / ".config").exists():
        try:
            p = subprocess.run([tools.vng(), "--kconfig"], cwd=tree, text=True, capture_output=True, env=tools.env())
        except FileNotFoundError:
            raise KernelError(entry.name, "vng (virtme-ng) not found: run ./bootstrap") from None
        if p.returncode != 0:
            raise KernelError(entry.name, f"vng --kconfig failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    frag = tree / ".iowitness.config"
    parts = [BASE_FRAGMENT.read_text()]
    if entry.config:
        parts.append(entry.config.read_text())
    parts.append("\n".join(entry.configs))
    parts.append(f'CONFIG_LOCALVERSION="-{entry.name}"\nCONFIG_LOCALVERSION_AUTO=n\n')
    frag.write_text("\n".join(parts) + "\n")
    p = subprocess.run(["scripts/kconfig/merge_config.sh", "-m", ".config", str(frag)], cwd=tree,
                       text=True, capture_output=True)
    if p.returncode != 0:
        raise KernelError(entry.name, "merging the config fragment failed")
    p = subprocess.run(["make", "olddefconfig"], cwd=tree, text=True, capture_output=True)
    if p.returncode != 0:
        raise KernelError(entry.name, f"make olddefconfig failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")


STOP_S = 30  # how long an interrupted make has to delete what it was writing


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # the group is gone
        pass


def _make(entry: SourceEntry, tree: Path, log: Path, prog: Progress, *targets: str) -> None:
    """Run make with output to a log, reporting progress and elapsed time every 30 s."""
    jobs = str(os.cpu_count() or 2)
    with open(log, "a") as out:
        # GIT_DIR hidden: the tree is our own git repo, and setlocalversion would
        # append "+" to the release for it.
        env = dict(os.environ, GIT_DIR="/nonexistent")
        proc = subprocess.Popen(["make", f"-j{jobs}", *targets], cwd=tree, stdout=out, env=env,
                                stderr=subprocess.STDOUT, start_new_session=True)
        done = threading.Event()

        def report():
            while not done.wait(30):
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                prog.step(f"make {' '.join(targets)}: {last[0][:100]}")

        t = threading.Thread(target=report, daemon=True)
        t.start()
        try:
            rc = proc.wait()
        except BaseException:
            # SIGTERM first: make deletes the targets it was writing. Killed
            # outright, it left a half-linked vmlinux that the next incremental
            # make took as built ("objcopy: vmlinux: file format not recognized").
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            raise
        finally:
            done.set()
    if rc != 0:
        errors = [ln for ln in log.read_text(errors="replace").splitlines() if "error" in ln.lower()]
        raise KernelError(entry.name, f"build failed: {(errors or ['see ' + str(log)])[0].strip()} (log: {log})")


def _install_headers(tree: Path, dest: Path, entry: SourceEntry) -> None:
    """What `make M=dir modules` needs from the built tree, as 6.1's
    scripts/package/builddeb (deploy_kernel_headers) packs it: kept with the
    kernel, because the shared tree moves on to other patch series."""
    arch = "arch/x86"
    script = f"""
        set -e
        {{ find . {arch} -maxdepth 1 -name 'Makefile*'
          find include scripts -type f -o -type l
          find {arch} -name Kbuild.platforms -o -name Platform
          find $(find {arch} -name include -o -name scripts -type d) -type f
          find {arch}/include Module.symvers -type f
          test ! -e tools/objtool/objtool || echo tools/objtool/objtool
          echo .config
        }} | sort -u | tar -c -f - -T - | tar -x -f - -C "$1"
    """
    dest.mkdir(parents=True)
    p = subprocess.run(["sh", "-c", script, "sh", str(dest)], cwd=tree, capture_output=True, text=True)
    if p.returncode != 0:
        raise KernelError(entry.name, f"copying build files failed: {p.stderr.strip()[-200:]}")


def build(entry: SourceEntry, quiet: bool = False) -> cache.CachedKernel:
    prog = Progress(entry.name, quiet)
    key = input_key(entry)
    have = cache.load_kernel(entry.name, key, entry.features)
    if have:
        prog.step(f"build {key} already cached")
        return have
    tree = _tree_dir(entry)
    with cache.locked(f"build-{tree.parent.name}"), cache.locked(entry.name):
        have = cache.load_kernel(entry.name, key, entry.features)
        if have:
            return have
        if not (tree / ".git").exists():
            tree.parent.mkdir(parents=True, exist_ok=True)
            _unpack_base(entry, tree, prog)
        _apply_patches(entry, tree, prog)
        _configure(entry, tree, prog)
        log = tree.parent / f"build-{entry.name}.log"
        log.write_text("")
        t0 = time.monotonic()
        prog.step(f"building (log: {log})")
        _make(entry, tree, log, prog, "bzImage", "modules")
        build_s = time.monotonic() - t0
        release = (tree / "include" / "config" / "kernel.release").read_text().strip()
        with cache.staging(entry.name) as stage:
            img = stage / "boot" / f"vmlinuz-{release}"
            img.parent.mkdir(parents=True)
            shutil.copy2(tree / "arch" / "x86" / "boot" / "bzImage", img)
            if image.bzimage_version(img, entry.name) != release:
                raise KernelError(entry.name, "built image does not report the tree's kernel.release")
            prog.step("installing modules")
            _make(entry, tree, log, prog, f"INSTALL_MOD_PATH={stage}", "modules_install")
            for link in ("build", "source"):  # they would point into the shared, changing tree
                (stage / "lib" / "modules" / release / link).unlink(missing_ok=True)
            headers = stage / "usr" / "src" / f"linux-headers-{release}"
            prog.step("copying the external-module build files")
            _install_headers(tree, headers, entry)
            final_headers = cache.final_dir(entry.name, key) / headers.relative_to(stage)
            (stage / "lib" / "modules" / release / "build").symlink_to(final_headers)
            shutil.copy2(tree / ".config", stage / "boot" / f"config-{release}")
            cache.write_manifest(stage, {
                "name": entry.name, "kind": "source", "key": key, "version": release,
                "image": str(img.relative_to(stage)), "modules": f"lib/modules/{release}",
                "headers": str(headers.relative_to(stage)), "base": base_id(entry),
                "patches": [{"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                            for p in entry.patches],
                "build_seconds": round(build_s, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            })
            cache.publish(stage, entry.name, key)
        prog.step(f"built {release} in {build_s:.0f}s (total {prog.elapsed:.0f}s)")
        return cache.load_kernel(entry.name, key, entry.features)
