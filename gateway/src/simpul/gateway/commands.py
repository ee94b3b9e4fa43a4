"""Operator commands of the gateway (`python -m simpul.gateway <name>`): name -> function of the
settings returning the exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from simpul.gateway.keys import SigningKeys
from simpul.gateway.settings import GatewaySettings
from simpul.shared.db import create_engine, session_factory
from simpul.shared.envelope import ReloadingKeys, keys_for, rotate_key_encryption_key
from simpul.shared.identity import ASSERTION_LIFETIME_SECONDS

ACTOR = "operator"
T = TypeVar("T")


def _with_keys(settings: GatewaySettings, work: Callable[[SigningKeys], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings.resolved_database_url())
        try:
            keys = SigningKeys(
                session_factory(engine), ReloadingKeys(partial(keys_for, settings)),
                verify_for=timedelta(seconds=max(settings.token_lifetime_seconds, ASSERTION_LIFETIME_SECONDS)),
            )
            return await work(keys)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def rotate_signing_key(settings: GatewaySettings) -> int:
    """A new token signing key; the old ones verify until their last token expires."""

    async def rotate(keys: SigningKeys) -> tuple[str, object]:
        await keys.ensure()
        return await keys.rotate(ACTOR)

    kid, signs_from = _with_keys(settings, rotate)
    print(f"new signing key {kid}, signing from {signs_from.isoformat()}")
    return 0


def rotate_key_encryption_key_command(settings: GatewaySettings) -> int:
    """Every sealed signing key re-wrapped under the (new) key-encryption key."""
    count = _with_keys(settings, lambda keys: rotate_key_encryption_key(
        settings, lambda keks: keys.rewrap(keks, ACTOR)))
    print(f"re-wrapped {count} signing key(s) under the current key-encryption key")
    return 0


COMMANDS: dict[str, Callable[[GatewaySettings], int]] = {
    "rotate-signing-key": rotate_signing_key,
    "rotate-key-encryption-key": rotate_key_encryption_key_command,
}
