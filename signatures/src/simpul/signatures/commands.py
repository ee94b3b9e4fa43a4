"""Operator commands of the signatures service (`python -m simpul.signatures <name>`): name ->
function of the settings returning the exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from simpul.shared.db import create_engine, session_factory, utcnow
from simpul.shared.envelope import ReloadingKeys, keys_for, rotate_key_encryption_key
from simpul.signatures.keystore import DevelopmentKeystore
from simpul.signatures.settings import SignaturesSettings

ACTOR = "operator"


def rotate_key_encryption_key_command(settings: SignaturesSettings) -> int:
    """Every sealed private key of the development PKI re-wrapped under the (new) key-encryption key."""

    async def run() -> int:
        engine = create_engine(settings.resolved_database_url())
        try:
            keystore = DevelopmentKeystore(session_factory(engine), keks=ReloadingKeys(partial(keys_for, settings)),
                                           public_url=settings.public_url,
                                           crl_validity=timedelta(hours=settings.crl_validity_hours), clock=utcnow)
            return await rotate_key_encryption_key(settings, lambda keks: keystore.rewrap(keks, ACTOR))
        finally:
            await engine.dispose()

    print(f"re-wrapped {asyncio.run(run())} private key(s) under the current key-encryption key")
    return 0


COMMANDS: dict[str, Callable[[SignaturesSettings], int]] = {
    "rotate-key-encryption-key": rotate_key_encryption_key_command,
}
