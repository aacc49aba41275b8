"""Module builds publish whole or not at all (fixtures/modules cached_build)."""

import pytest

from fixtures.build import BuildError
from fixtures.modules import cached_build


def test_a_build_is_published_once_and_then_taken_from_the_cache(tmp_path):
    out = tmp_path / "dsleep-abc"
    calls = []

    def build(work):
        calls.append(work)
        (work / "m.ko").write_bytes(b"ko")

    assert cached_build(out, "m.ko", build) == out / "m.ko"
    assert cached_build(out, "m.ko", build) == out / "m.ko"
    assert len(calls) == 1 and calls[0] != out
    assert [p.name for p in tmp_path.iterdir()] == ["dsleep-abc"]


@pytest.mark.parametrize("error", [BuildError("make: planted"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_build_leaves_nothing(tmp_path, error):
    out = tmp_path / "dsleep-abc"

    def build(work):
        (work / "m.ko").write_bytes(b"half")  # written, then the build fails after it
        raise error

    with pytest.raises(type(error)):
        cached_build(out, "m.ko", build)
    assert list(tmp_path.iterdir()) == []
    assert cached_build(out, "m.ko", lambda work: (work / "m.ko").write_bytes(b"ko")).read_bytes() == b"ko"
