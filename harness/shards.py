"""Splitting one run's tests between machines (--shard I/N) or workers
(pytest-xdist), by kernel first: all tests of a kernel stay together, so each
kernel boots once per shard. Tests that boot no session guest are grouped by
their module. Groups go to shards greedily, heaviest first (a group's weight is
its number of tests), ties broken by name: every machine computes the same
split from the same collection.
"""

from __future__ import annotations

import re

_SHARD = re.compile(r"^(\d+)/(\d+)$")


def parse(spec: str) -> tuple[int, int]:
    """'2/3' -> (2, 3): the second of three shards."""
    m = _SHARD.match(spec.strip())
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ValueError(f"--shard {spec}: expected I/N with 1 <= I <= N, e.g. 1/2")
    return int(m[1]), int(m[2])


def group_of(nodeid: str, kernel: str | None) -> str:
    """The unit that is never split: a kernel's tests, or one module's host-side tests."""
    return f"kernel:{kernel}" if kernel else f"module:{nodeid.split('::')[0]}"


def assign(groups: dict[str, int], n: int) -> dict[str, int]:
    """Group name -> shard (1..n), each group to the least loaded shard, heaviest first."""
    load = [0] * n
    out = {}
    for name, weight in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])):
        i = min(range(n), key=lambda s: (load[s], s))
        out[name] = i + 1
        load[i] += weight
    return out


def select(tests: list[tuple[str, str | None]], index: int, n: int) -> set[str]:
    """The nodeids of shard `index` of `n`, from (nodeid, kernel) of every collected test."""
    groups: dict[str, int] = {}
    for nodeid, kernel in tests:
        g = group_of(nodeid, kernel)
        groups[g] = groups.get(g, 0) + 1
    shard = assign(groups, n)
    return {nodeid for nodeid, kernel in tests if shard[group_of(nodeid, kernel)] == index}
