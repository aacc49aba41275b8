"""The kernel cache under faults: a fetch killed half-way, two fetches at once,
corruption after the fact, headers that do not match, a build that fails."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernels import cache, image, source
from kernels.catalog import SourceEntry
from kernels.errors import KernelError
from kernels.progress import Progress

REPO = Path(__file__).resolve().parent.parent


def fetch(cache_dir: Path, name: str = "debian-6.1") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kernels", "fetch", name], cwd=REPO, text=True,
                            env={**os.environ, "IOWITNESS_CACHE": str(cache_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.archive
def test_fetch_killed_half_way_leaves_nothing_and_the_next_fetch_succeeds(tmp_path, monkeypatch):
    p = fetch(tmp_path)
    entry = tmp_path / "kernels" / "debian-6.1"
    deadline = time.monotonic() + 120
    # Kill once the fetch is unpacking into its staging directory.
    while not any(entry.glob(".staging-*/boot")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, "the fetch finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not any(entry.glob("*/manifest.json"))
    ok = fetch(tmp_path)
    out, err = ok.communicate(timeout=600)
    assert ok.returncode == 0, err
    assert not list(entry.glob(".staging-*")), "leftovers of the killed fetch are removed"
    [kdir] = [d for d in entry.iterdir() if (d / "manifest.json").exists()]
    assert Path(out.strip()) == kdir / "boot" / f"vmlinuz-{cache.read_manifest(kdir)['version']}"
    verify = subprocess.run([sys.executable, "-m", "kernels", "verify", "debian-6.1"], cwd=REPO, text=True,
                            capture_output=True, env={**os.environ, "IOWITNESS_CACHE": str(tmp_path)})
    assert verify.returncode == 0, verify.stdout

    # Corrupt one file: verify says so, and the kernel is refused before use.
    victim = next((kdir / "lib" / "modules").rglob("null_blk.ko*"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    verify = subprocess.run([sys.executable, "-m", "kernels", "verify", "debian-6.1"], cwd=REPO, text=True,
                            capture_output=True, env={**os.environ, "IOWITNESS_CACHE": str(tmp_path)})
    assert verify.returncode == 1
    assert f"{victim.relative_to(kdir)}: sha256 differs" in verify.stdout
    monkeypatch.setenv("IOWITNESS_CACHE", str(tmp_path))
    with pytest.raises(KernelError, match=r"cached files do not match their sha256"):
        cache.require_intact(cache.load_kernel("debian-6.1", kdir.name))


@pytest.mark.archive
def test_two_fetches_at_once_give_one_intact_kernel(tmp_path):
    a, b = fetch(tmp_path), fetch(tmp_path)
    outs = [p.communicate(timeout=600) for p in (a, b)]
    assert (a.returncode, b.returncode) == (0, 0), outs
    assert outs[0][0] == outs[1][0]
    entry = tmp_path / "kernels" / "debian-6.1"
    assert len([d for d in entry.iterdir() if (d / "manifest.json").exists()]) == 1
    assert not list(entry.glob(".staging-*"))


def test_headers_for_another_version_are_refused(tmp_path):
    gen = tmp_path / "include" / "generated"
    gen.mkdir(parents=True)
    (gen / "utsrelease.h").write_text('#define UTS_RELEASE "6.1.0-55-amd64"\n')
    with pytest.raises(KernelError, match=r"^k: headers are for 6.1.0-55-amd64 but the image is 6.1.0-56-amd64$"):
        image.check_headers_match(tmp_path, "6.1.0-56-amd64", "k")


def test_build_failure_is_one_line_naming_the_error(tmp_path):
    (tmp_path / "Makefile").write_text("bzImage:\n\t@echo 'fs/aio.c:42: error: planted' >&2; exit 2\n")
    entry = SourceEntry(name="broken", base=str(tmp_path))
    with pytest.raises(KernelError) as exc:
        source._make(entry, tmp_path, tmp_path / "build.log", Progress("broken", True), "bzImage")
    assert str(exc.value).startswith("broken: build failed: fs/aio.c:42: error: planted")
    assert "\n" not in str(exc.value)


class _Stopped(BaseException):
    """Ctrl-C as the build sees it, without pytest taking it for its own."""


def test_an_interrupted_build_leaves_no_half_written_target(tmp_path):
    # A target written in two steps, as the linker writes vmlinux: killed between
    # them, the file stayed half written and the next make took it as built.
    (tmp_path / "Makefile").write_text("out:\n\t@echo half > out; sleep 20; echo whole >> out\n")
    entry = SourceEntry(name="t", base=str(tmp_path))

    def stop(signum, frame):
        raise _Stopped

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(_Stopped):
            source._make(entry, tmp_path, tmp_path / "build.log", Progress("t", True), "out")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not (tmp_path / "out").exists(), "make deleted the target it was writing"
    assert "Deleting file 'out'" in (tmp_path / "build.log").read_text()
