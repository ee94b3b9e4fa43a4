"""What the outbox relay hands events to: the interface both transports (`relay.HttpTransport`,
`relay_amqp.AmqpTransport`) implement, in a module of its own so neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class TransportError(Exception):
    """The destination did not take the events; they stay unpublished and are retried."""


class RefusedForGood(TransportError):
    """The destination refused the events as they are (a 4xx): sending them again gets the same
    answer, so the relay sets them aside instead of retrying them for ever."""


class Transport(Protocol):
    """Where the relay hands events. `publish` returns only once the destination holds every
    event durably, in the order given; otherwise it raises `TransportError`."""

    async def publish(self, events: Sequence[dict[str, Any]]) -> None: ...

    async def aclose(self) -> None: ...
