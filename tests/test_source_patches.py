"""Patch series on a (tiny, real) git-tracked tree: applied, reset, refused cleanly."""

import subprocess

import pytest

from kernels import source
from kernels.catalog import SourceEntry
from kernels.errors import KernelError
from kernels.progress import Progress


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    (t / "kernel").mkdir(parents=True)
    (t / "Makefile").write_text("all:\n")
    (t / "fs").mkdir()
    (t / "fs" / "aio.c").write_text("line1\nline2\nline3\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"],
                 ["tag", "pristine"]):
        subprocess.run(["git", "-C", str(t), *args], check=True)
    return t


def patch(tmp_path, name, old, new):
    p = tmp_path / name
    p.write_text(f"--- a/fs/aio.c\n+++ b/fs/aio.c\n@@ -1,3 +1,3 @@\n line1\n-{old}\n+{new}\n line3\n")
    return p


def entry(*patches):
    return SourceEntry(name="t", base="/nonexistent", patches=tuple(patches))


def test_series_applies_and_a_new_series_starts_from_pristine(tmp_path, tree):
    source._apply_patches(entry(patch(tmp_path, "a.patch", "line2", "A")), tree, Progress("t", True))
    assert (tree / "fs" / "aio.c").read_text() == "line1\nA\nline3\n"
    build_output = tree / "fs" / "aio.o"
    build_output.write_text("object")  # untracked build output must survive
    (tree / ".gitignore").write_text("*.o\n")
    subprocess.run(["git", "-C", str(tree), "add", ".gitignore"], check=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
                   check=True)
    subprocess.run(["git", "-C", str(tree), "tag", "-f", "pristine"], check=True, capture_output=True)
    source._apply_patches(entry(patch(tmp_path, "b.patch", "line2", "B")), tree, Progress("t", True))
    assert (tree / "fs" / "aio.c").read_text() == "line1\nB\nline3\n"
    assert build_output.read_text() == "object"


def test_patch_that_does_not_apply_names_it_and_leaves_pristine(tmp_path, tree):
    bad = patch(tmp_path, "0002-bad.patch", "no such line", "X")
    with pytest.raises(KernelError, match=r"^t: patch 0002-bad.patch does not apply: "):
        source._apply_patches(entry(patch(tmp_path, "a.patch", "line2", "A"), bad), tree, Progress("t", True))
    assert (tree / "fs" / "aio.c").read_text() == "line1\nline2\nline3\n"


def test_input_key_changes_with_the_patch(tmp_path):
    p = patch(tmp_path, "a.patch", "line2", "A")
    k1 = source.input_key(entry(p))
    p.write_text(p.read_text().replace("+A", "+AA"))
    assert source.input_key(entry(p)) != k1


def test_missing_vng_is_one_error_line(tmp_path, tree, monkeypatch):
    from kernels import tools
    monkeypatch.setattr(tools, "vng", lambda: str(tmp_path / "no-such-vng"))
    with pytest.raises(KernelError, match="vng .virtme-ng. not found: run ./bootstrap"):
        source._configure(entry(), tree, Progress("t", True))
