"""Catalog parsing: every mistake is one line naming the entry and the cause."""

import textwrap

import pytest

from kernels import catalog
from kernels.catalog import DebianEntry, PathEntry, SourceEntry
from kernels.errors import KernelError


def load(tmp_path, text):
    p = tmp_path / "catalog.yaml"
    p.write_text(textwrap.dedent(text))
    return catalog.load(p)


def test_shipped_catalog_has_the_two_default_debian_kernels():
    cat = catalog.load()
    assert catalog.defaults(cat) == ["debian-6.1", "debian-6.12"]
    assert all(isinstance(cat[n], DebianEntry) for n in catalog.defaults(cat))


def test_each_kind_parses(tmp_path):
    cat = load(tmp_path, """
        kernels:
          d: {kind: debian, abi: '6\\.1\\.0-\\d+', pin: 6.1.0-56, features: [aio-memlock]}
          p: {kind: path, image: img/bzImage}
          s: {kind: source, base: linux-source-6.1, patches: [a.patch], config: frag.config}
    """)
    assert cat["d"] == DebianEntry(name="d", abi=r"6\.1\.0-\d+", pin="6.1.0-56", features=("aio-memlock",))
    assert cat["p"] == PathEntry(name="p", image=tmp_path / "img" / "bzImage")
    assert isinstance(cat["s"], SourceEntry)
    assert cat["s"].patches == (tmp_path / "a.patch",)


@pytest.mark.parametrize("body, message", [
    ("kernels:\n  k: {kind: floppy}\n", "k: unknown kind 'floppy'"),
    ("kernels:\n  k: {kind: debian, abi: x, features: [aio-memlok]}\n", "k: unknown feature(s) aio-memlok (known: "),
    ("kernels:\n  k: {kind: debian}\n", "k: missing key(s) abi for kind debian"),
    ("kernels:\n  k: {kind: debian, abi: x, flavor: amd64}\n", "k: unknown key(s) flavor for kind debian"),
    ("kernels:\n  k: {kind: debian, abi: '6\\.1\\.(', default: true}\n", "k: abi is not a valid regular expression"),
    ("kernels:\n  k: {kind: debian, abi: '6\\.1\\.0-\\d+', pin: 7.0}\n", "k: pin 7.0 does not match abi"),
    ("kernels:\n  k: {kind: path, image: x, features: nope}\n", "k: features must be a list of strings"),
    ("kernels: [a, b]\n", "expected a top-level 'kernels:' mapping"),
    ("kernels:\n  k: {kind: debian\n", "invalid YAML"),
])
def test_bad_entries_give_one_line_naming_entry_and_cause(tmp_path, body, message):
    with pytest.raises(KernelError) as exc:
        load(tmp_path, body)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_kernel_suggests_close_names():
    with pytest.raises(KernelError, match=r"^debian-6\.13: unknown kernel \(did you mean debian-6\.1"):
        catalog.get("debian-6.13")


def test_unknown_kernel_far_from_everything_lists_the_catalog():
    with pytest.raises(KernelError, match=r"^zzz: unknown kernel \(known: debian-6\.1, "):
        catalog.get("zzz")
