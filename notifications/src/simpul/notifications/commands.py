"""Operator commands of the notifications service (`python -m simpul.notifications <name>`):
name -> function of the settings returning the exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from simpul.notifications.database import Database
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.subscriptions import Subscriptions
from simpul.shared.db import create_engine, session_factory
from simpul.shared.envelope import ReloadingKeys, keys_for, rotate_key_encryption_key

ACTOR = "operator"


def rotate_key_encryption_key_command(settings: NotificationsSettings) -> int:
    """Every sealed webhook secret re-wrapped under the (new) key-encryption key."""

    async def run() -> int:
        engine = create_engine(settings.resolved_database_url())
        database = Database(engine)
        try:
            subscriptions = Subscriptions(database, session_factory(engine), settings,
                                          ReloadingKeys(partial(keys_for, settings)))
            return await rotate_key_encryption_key(settings, lambda keks: subscriptions.rewrap_secrets(keks, ACTOR))
        finally:
            await database.close()
            await engine.dispose()

    print(f"re-wrapped the secrets of {asyncio.run(run())} webhook(s) under the current key-encryption key")
    return 0


COMMANDS: dict[str, Callable[[NotificationsSettings], int]] = {
    "rotate-key-encryption-key": rotate_key_encryption_key_command,
}
