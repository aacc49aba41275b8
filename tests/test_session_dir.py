"""The guest's session dir (keys, QEMU's sockets) must be a path QEMU can take:
a TMPDIR it cannot use gives one clear boot error, not a QEMU option error."""

from pathlib import Path

from tests.conftest import child_pytest, first_kernel
from vm.vng import SUN_PATH_MAX, session_dir_problem


def test_a_plain_short_dir_is_fine():
    assert session_dir_problem(Path("/tmp/iowitness-vm-ab_c1.x")) is None


def test_a_comma_would_split_the_chardev_option():
    assert "characters" in session_dir_problem(Path("/tmp/a,b/iowitness-vm-x"))


def test_a_space_would_split_vngs_shell_words():
    assert "characters" in session_dir_problem(Path("/tmp/a b/iowitness-vm-x"))


def test_the_socket_path_limit_is_counted_with_the_socket_name():
    # unix(7): sun_path is 108 bytes, one for the NUL; "/agent.sock" is 11 more
    fits = Path("/" + "d" * (SUN_PATH_MAX - len("/agent.sock") - 1))
    assert session_dir_problem(fits) is None
    assert "too long" in session_dir_problem(Path(str(fits) + "d"))


def test_a_bad_tmpdir_errors_the_tests_with_one_line_and_leaves_nothing(tmp_path, request):
    bad = tmp_path / "a,b"
    bad.mkdir()
    out = child_pytest("suites/smoke/test_smoke.py", "--kernel", first_kernel(request.config),
                       "--results-dir", str(tmp_path / "results"), env={"TMPDIR": str(bad)}, timeout=300)
    assert out.returncode != 0
    assert "has characters QEMU's -chardev path cannot take; set TMPDIR" in out.stdout + out.stderr
    assert not list(bad.glob("iowitness-vm-*"))
