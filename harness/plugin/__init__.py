"""The iowitness pytest plugin: kernels as parameters, one guest per kernel, honest verdicts.

Tests that take the `guest` fixture run once per selected kernel (ids like
`test_x[debian-6.12]`), grouped so each kernel boots once. Around each such
test the guest's kernel log is marked and sliced, and an oops/BUG/WARNING or a
taint change fails the test; what the test left behind is undone.

The root conftest.py loads this package; its modules are plugins of their own:
  options   command-line options and the requirement markers
  markers   behaviour/catches/features markers: checked, selected, written out
  session   the run directory, --resume, the reports written at the end
  guests    kernel and guest fixtures, per-test isolation, KTAP to the guest
  junit     what JUnit carries: the fault that ended a test (and pytest's private API)
  budget    where the run's time went (core/budget.py), per test and in total
  parallel  --shard I/N, and pytest-xdist's workers sharing one run directory
"""

pytest_plugins = ["harness.plugin.options", "harness.plugin.markers", "harness.plugin.session",
                  "harness.plugin.guests", "harness.plugin.junit", "harness.plugin.budget",
                  "harness.plugin.parallel"]
