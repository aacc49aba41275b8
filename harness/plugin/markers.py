"""Markers that name things outside the test, checked when the tests are collected:

    @pytest.mark.behaviour("dstate-vfork")       the documented behaviour the test shows
                                                 (suites/catalog.py; `python -m suites reproduce`)
    @pytest.mark.catches("source-6.1-mut-...")   planted-bug kernels it is expected to catch
                                                 (harness/mutants.py)
    @pytest.mark.features("aio-memlock")         catalog features (kernels/catalog.py FEATURES)

A name outside its vocabulary stops the run with one line, instead of a test
that silently never runs or skips. The markers are the one source of these
relations: JUnit carries them per testcase (`behaviour`, `catches`), `--behaviour
NAME` selects the tests that show a behaviour, and `--marked-json FILE` writes
them for every collected test (python -m suites reproduce --list, the mutants
harness).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import registry
from harness.plugin.guests import kernel_of
from harness.runs import without_kernel

MARKERS = {
    "behaviour": "behaviour(*names): the documented behaviours this test shows (suites/catalog.py)",
    "catches": "catches(*kernels): planted-bug catalog kernels this test is expected to catch",
}


def pytest_addoption(parser):
    g = parser.getgroup("iowitness")
    g.addoption("--behaviour", action="append", default=[], metavar="NAME",
                help="only the tests that show this documented behaviour (repeatable; see suites/catalog.py)")
    g.addoption("--marked-json", metavar="FILE", default=None,
                help="write each collected test's behaviour and catches markers to FILE as JSON")


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


def marked(item, name: str) -> list[str]:
    return [a for m in item.iter_markers(name) for a in m.args]


def _vocabularies() -> dict[str, dict]:
    from kernels import catalog
    BEHAVIOURS = registry.behaviours
    try:
        kernels = set(catalog.load())
    except Exception as e:  # a broken catalog is reported where kernels are used
        kernels = None
        print(f"iowitness: catalog not read for the markers check: {e}")
    return {"behaviour": BEHAVIOURS, "features": catalog.FEATURES, "catches": kernels}


def _check(items) -> None:
    vocab = _vocabularies()
    for item in items:
        for name, known in vocab.items():
            if known is None:
                continue
            unknown = [a for a in marked(item, name) if a not in known]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{name}({', '.join(map(repr, unknown))}): "
                                        f"not one of {', '.join(sorted(known))}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    _check(items)
    wanted = config.getoption("behaviour")
    if wanted:
        _check_names(wanted)
        keep = [it for it in items if set(marked(it, "behaviour")) & set(wanted)]
        gone = [it for it in items if it not in keep]
        if gone:
            config.hook.pytest_deselected(items=gone)
            items[:] = keep
    for it in items:
        for name in MARKERS:
            values = marked(it, name)
            if values:
                it.user_properties.append((name, ",".join(values)))
    out = config.getoption("marked_json")
    if out:
        rows = [{"nodeid": it.nodeid, "test": _test_id(it),
                 **{name: marked(it, name) for name in MARKERS}} for it in items]
        Path(out).write_text(json.dumps(rows, indent=1))


def _check_names(wanted: list[str]) -> None:
    unknown = [w for w in wanted if w not in registry.behaviours]
    if unknown:
        raise pytest.UsageError(f"--behaviour: no behaviour named {', '.join(unknown)}; see iowitness "
                                f"reproduce --list")


def _test_id(item) -> str:
    """The node id without the kernel parameter."""
    return without_kernel(item.nodeid, kernel_of(item))
