"""Guest's channel operations are real methods (vm/guest.py), one for each of
AgentChannel's public ones with the same parameters: "go to definition" on
guest.run finds it, and none is left to a forwarding hook."""

from __future__ import annotations

import inspect

from vm.channel import AgentChannel
from vm.guest import Guest

CHANNEL_ONLY = {"hello", "request", "close"}  # the channel's own handshake, framing and socket


def _public(cls) -> dict:
    return {n: f for n, f in vars(cls).items() if callable(f) and not n.startswith("_")}


def test_every_channel_operation_is_a_guest_method_with_its_parameters():
    ops = set(_public(AgentChannel)) - CHANNEL_ONLY
    missing = sorted(op for op in ops if op not in vars(Guest))
    assert not missing
    differ = [op for op in ops if list(inspect.signature(getattr(Guest, op)).parameters)
              != list(inspect.signature(getattr(AgentChannel, op)).parameters)]
    assert not differ
    assert "__getattr__" not in vars(Guest)
