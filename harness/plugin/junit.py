"""What each JUnit testcase carries beyond pytest's own: the fault that ended the
test (core/faults.py), so every reader takes the verdict from the report and
never from the failure text; and no testcase for a test a signal interrupted."""

from __future__ import annotations

import pytest

# pytest's junitxml keeps its LogXML under this private stash key; there is no
# public way to drop an entry before the file is written (see pytest_sessionfinish).
from _pytest import junitxml

from core.faults import fault_of

FAULTED = pytest.StashKey[bool]()
COLLECTED_PROPS = pytest.StashKey[list]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each attempt starts from the properties the test was collected with: a test
    run again after an emulator fault (pytest.ini) keeps none of its first attempt's
    fault, and says what it was run again after."""
    if COLLECTED_PROPS not in item.stash:
        item.stash[COLLECTED_PROPS] = list(item.user_properties)
        return
    first = dict(item.user_properties)
    item.user_properties[:] = [*item.stash[COLLECTED_PROPS], ("rerun_after", first.get("fault", "a failure"))]
    item.stash[FAULTED] = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed and call.excinfo is not None and not item.stash.get(FAULTED, False):
        fault = fault_of(call.excinfo.value)
        if fault is not None:
            item.stash[FAULTED] = True  # the first fault ends the test; later ones follow from it
            # junitxml writes the properties of the teardown report, made from the
            # item's list: a fault in teardown itself goes into that report too.
            props = [("fault", fault.fault), ("fault_status", fault.status)]
            item.user_properties.extend(props)
            if rep.when == "teardown":
                rep.user_properties.extend(props)
    return rep


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """Before JUnit is written: the test a signal interrupted is left without a
    testcase (it has no verdict; --resume runs it again), and a test run again has
    one testcase."""
    xml = session.config.stash.get(junitxml.xml_key, None)
    if xml is not None:
        # pytest's junitxml opens an entry for a test's duration at its setup
        # report; interrupted before its call report, the entry has no name and
        # would be written as a nameless <testcase> that readers count as a pass.
        # A finished entry has been finalized (its state cleared, its XML kept).
        kept = [r for r in xml.node_reporters_ordered if not hasattr(r, "attrs") or r.attrs.get("name")]
        # A test run again (pytest.ini: an emulator fault) has an entry per attempt;
        # the earlier ones hold no verdict: the test's testcase is its last attempt's.
        # A finished entry keeps only its XML (junitxml's finalize): it names the test.
        def test_of(r):
            attrib = r.to_xml().attrib
            return attrib.get("classname"), attrib.get("name")
        last = {test_of(r): r for r in kept}
        xml.node_reporters_ordered[:] = [r for r in kept if last[test_of(r)] is r]
