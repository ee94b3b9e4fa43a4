from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from simpul.notifications.api import router
from simpul.notifications.database import Database
from simpul.notifications.dispatch import EmailDispatcher, WebhookDispatcher
from simpul.notifications.inbox import Inbox
from simpul.notifications.intake import Intake
from simpul.notifications.mail import mailer_for
from simpul.notifications.personaldata import PersonalData
from simpul.notifications.models import audit, idempotency
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.subscriptions import Subscriptions
from simpul.notifications.template_store import TemplateStore
from simpul.notifications.webhooks import WebhookClient
from simpul.shared.app import create_service_app
from simpul.shared.envelope import ReloadingKeys, keys_for


async def start_workers(app: FastAPI) -> None:
    """The key-encryption key checked, templates seeded, then the dispatchers and (with a broker)
    the intake's consumer."""
    state = app.state
    settings: NotificationsSettings = state.settings
    await state.subscriptions.check_key_encryption_key()
    await state.templates.seed()
    state.dispatchers = {
        "email": EmailDispatcher(state.database, settings,
                                 [mailer_for(settings) for _ in range(settings.smtp_connections)]),
        "webhook": WebhookDispatcher(state.database, settings, WebhookClient(settings), state.keks),
    }
    for dispatcher in state.dispatchers.values():
        dispatcher.worker.start()
    state.consumer = None
    if settings.event_broker:
        # Imported only with a broker: aio-pika is not needed when events arrive over HTTP.
        from simpul.notifications.broker import BrokerConsumer

        state.consumer = BrokerConsumer(settings.event_broker, state.intake)
        await state.consumer.start()


async def stop_workers(app: FastAPI) -> None:
    state = app.state
    if getattr(state, "consumer", None) is not None:
        await state.consumer.stop()
    for dispatcher in getattr(state, "dispatchers", {}).values():
        await dispatcher.stop()
    await state.database.close()


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    app = create_service_app(
        settings,
        title="Simpul notifications",
        description="Email, webhook and inbox notifications for every event.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
        audit=audit,
        on_startup=[start_workers],
        on_shutdown=[stop_workers],
    )
    state = app.state
    state.database = database = Database(state.engine)
    state.keks = ReloadingKeys(partial(keys_for, settings))

    def wake(channels: set[str]) -> None:
        """New deliveries for these channels: their dispatchers (started with the app) take them."""
        for channel in channels:
            state.dispatchers[channel].worker.wake()

    state.personal_data = PersonalData(database, state.read_sessions, settings.data_dir / "mailbox")
    state.intake = intake = Intake(database, settings, on_work=wake, erase=state.personal_data.erase)
    state.inbox = Inbox(state.read_sessions)
    state.subscriptions = Subscriptions(database, state.read_sessions, settings, state.keks,
                                        on_change=intake.forget_subscriptions)
    state.templates = TemplateStore(database, state.read_sessions, settings.public_url,
                                    on_change=intake.forget_templates)
    app.include_router(router)
    return app
