"""`python -m kernels` on bad input: one clear line on stderr, non-zero exit."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kernels", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def test_unknown_kernel(tmp_path):
    p = run("fetch", "debian-9.9", env={"IOWITNESS_CACHE": str(tmp_path)})
    assert p.returncode == 2
    assert p.stderr.splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith("error: debian-9.9: unknown kernel")
    assert not (tmp_path / "kernels").exists()


def test_bad_yaml(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("kernels:\n  x: {kind: debian, abi: [\n")
    p = run("list", env={"IOWITNESS_CATALOG": str(bad)})
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1
    assert "invalid YAML" in p.stderr


def test_image_that_is_not_a_kernel(tmp_path):
    img = tmp_path / "vmlinuz"
    img.write_bytes(b"\x7fELF" + b"\0" * 4096)
    cat = tmp_path / "c.yaml"
    cat.write_text(f"kernels:\n  mine: {{kind: path, image: {img}}}\n")
    p = run("path", "mine", env={"IOWITNESS_CATALOG": str(cat)})
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: mine: {img} is not an x86 kernel image (no bzImage header)"


def test_package_no_longer_in_archive(tmp_path):
    cat = tmp_path / "c.yaml"
    cat.write_text("kernels:\n  old: {kind: debian, abi: '6\\.1\\.0-\\d+', pin: 6.1.0-1}\n")
    p = run("fetch", "old", env={"IOWITNESS_CATALOG": str(cat), "IOWITNESS_CACHE": str(tmp_path / "c")})
    assert p.returncode == 2
    assert "old: package linux-image-6.1.0-1-amd64-unsigned is not in the archive" in p.stderr
    assert not list((tmp_path / "c").glob("kernels/old/6*"))


def test_fetch_of_a_source_entry_points_to_build():
    p = run("fetch", "source-6.1")
    assert p.returncode == 2 and "use `iowitness kernels build`" in p.stderr
