"""Not a test of its own: a witness that disagrees with what it predicted, on a
healthy guest, run in a child pytest by tests/test_bisect.py (the positive
control beside a revision that only loses its guest)."""

from suites.watch.evidence import Evidence


def test_a_witness_disagrees(guest, request, run_dir):
    evidence = Evidence(request.node.nodeid, guest.kernel.name)
    release = guest.sh("uname -r").strip()
    evidence.check("the guest's release", release == "not-this-release", "not-this-release", release,
                   "a prediction made false on purpose")
    evidence.save(run_dir, request.node.nodeid)
    evidence.require()
