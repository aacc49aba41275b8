"""The floor every layer stands on (kernels, vm, harness, suites): the fault
vocabulary every error is one of, and the time budget each second is charged to.
It imports nothing of iowitness."""
