"""The one command line, iowitness (suites/cli.py): every verb reaches the module that does
its work, and bad input is one line and exit 2."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from suites import cli


def test_help_lists_every_verb(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {verb} " in out for verb in cli.VERBS)


def test_no_verb_is_usage_and_exit_2(capsys):
    assert cli.main([]) == 2
    assert "usage: iowitness VERB" in capsys.readouterr().out


def test_an_unknown_verb_is_one_line(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err == "iowitness: unknown verb 'frobnicate' (iowitness --help lists them)\n"


@pytest.mark.parametrize("verb", list(cli.VERBS))
def test_each_verb_reaches_its_modules_own_help(verb, capsys):
    """argparse's --help of the module (and sub-command) the verb names: exit 0,
    its usage printed. A verb its module does not know would exit 2."""
    try:
        code = cli.main([verb, "--help"])
    except SystemExit as done:
        code = done.code
    assert code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_command_is_installed_where_bootstrap_puts_it():
    script = shutil.which("iowitness", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("iowitness is not installed in this environment (./bootstrap installs it: pip install -e .)")
    assert Path(script).read_text().count("suites.cli") == 1
