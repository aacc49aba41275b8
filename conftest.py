pytest_plugins = ["harness.plugin"]  # the iowitness plugin (harness/plugin/)

# The plugin learns the witnesses and behaviours from the suites here, at the
# top, so that nothing in harness/ imports suites/ (harness/registry.py).
from suites.registration import install  # noqa: E402

install()
