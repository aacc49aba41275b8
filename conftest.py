pytest_plugins = ["harness.plugin"]  # the iowitness plugin (harness/plugin/)
