"""W3C Trace Context `traceparent`: a valid incoming one is passed on, otherwise a new one is made."""

from __future__ import annotations

import random
import re

# version 00: 2-32-16-2 lowercase hex. Later versions may append fields after another dash.
_TRACEPARENT = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = b"0" * 32
_ZERO_PARENT = b"0" * 16


def valid_traceparent(value: bytes) -> bool:
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return False
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == b"ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return False
    return version != b"00" or rest is None


def new_traceparent() -> bytes:
    """A new trace with this hop as its root span, marked sampled so that tracers downstream keep it.
    Trace ids must be unique, not secret: the fast non-cryptographic generator does (no syscall)."""
    digits = b"%048x" % random.getrandbits(192)
    return b"00-" + digits[:32] + b"-" + digits[32:] + b"-01"

