"""The consumer: turns each event into an inbox entry and its deliveries, exactly once.

Whatever the transport (HTTP push, RabbitMQ, an admin's replay), events go through
`Intake.accept_batch`. Its (source, id) is recorded in `processed_events` in the same transaction as
the notification and deliveries it produces, so a redelivery finds the row and does nothing.
An event that cannot be handled (malformed, missing fields, a template that fails on it) is a
poison event: it goes to `dead_letters` with the error and is marked processed, so it never
blocks the events behind it. Database errors are not poison: they propagate, and the
transport delivers the event again later.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simpul.notifications.database import Database
from simpul.notifications.models import dead_letters, deliveries, notifications, processed_events, templates
from simpul.notifications.personaldata import ERASED_EVENT
from simpul.notifications.subscriptions import LiveSubscriptions
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.templates import EVENT_TYPES, LANGUAGES, OFFICIAL_EVENT_TYPES, Sources, context_for, render
from simpul.shared import idempotency
from simpul.shared.db import utcnow

log = logging.getLogger("simpul.notifications.intake")

PROCESSED = "processed"
IGNORED = "ignored"
DEAD_LETTERED = "dead_lettered"
DUPLICATE = "duplicate"
# Templates change rarely; an edit reaches every process of the service within this time.
TEMPLATE_CACHE_SECONDS = 5.0


class Envelope(BaseModel):
    """CloudEvents attributes as the relay sends them; anything else is kept but not needed."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    data: dict[str, Any]


class PoisonEvent(Exception):
    """The event can never be handled as it is."""


@dataclass
class Plan:
    """What one event produces; built without touching the database."""

    notification: dict[str, Any]
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def channels(self) -> set[str]:
        return {delivery["channel"] for delivery in self.deliveries if delivery["status"] == "pending"}


def _required_text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise PoisonEvent(f"data.{name} is missing or not a string")
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


# A change to these states comes with a dedicated event besides `submission.status_changed`;
# the dedicated one brings the applicant's mail, so each state change is one mail.
DEDICATED_EVENTS = {"submitted": "submission.submitted", "issued": "submission.issued"}


def covered_by_dedicated_event(event_type: str, data: dict[str, Any]) -> bool:
    return event_type == "submission.status_changed" and data.get("to") in DEDICATED_EVENTS


def subscription_matches(subscription: Any, event_type: str, tenant: str | None, unit: str | None) -> bool:
    """An applicant's subscription gets the events of its region, an officer's those of its unit."""
    if event_type not in subscription.events:
        return False
    if subscription.owner_role == "applicant":
        if event_type in OFFICIAL_EVENT_TYPES:
            return False
        return tenant is not None and subscription.tenant == tenant
    if subscription.owner_role == "officer":
        return unit is not None and subscription.tenant == unit
    return False


@lru_cache(maxsize=4096)
def mail_recipient(address: str) -> str | None:
    """The address to send to, normalised; None if it is not a valid one. Applicants write again
    and again, so the answers are kept."""
    try:
        # ASCII addresses only: not every mail server speaks SMTPUTF8.
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized.lower()
    except EmailNotValidError:
        return None


def plan_event(event: Envelope, *, sources: dict[str, Sources], subscriptions: Sequence[Any],
               settings: NotificationsSettings, now: datetime) -> Plan:
    """The inbox entry, the email (rendered now, so a template error surfaces as poison at once)
    and one delivery per matching webhook subscription. Raises on anything that makes the event
    unusable."""
    data = event.data
    if event.type.startswith("complaint."):
        complaint_id = _required_text(data, "complaint_id")
        submission_id = _optional_text(data, "submission_id")
    else:
        complaint_id = None
        submission_id = _required_text(data, "submission_id")
    tenant = _required_text(data, "tenant")
    unit = _optional_text(data, "unit")
    occurred_at = event.occurred_at.isoformat()
    notification_id = str(uuid.uuid4())
    plan = Plan(notification={
        "id": notification_id,
        "source": event.source,
        "event_id": event.id,
        "event_type": event.type,
        "subject": event.subject,
        "tenant": tenant,
        "unit": unit,
        "submission_id": submission_id,
        "complaint_id": complaint_id,
        "tracking_code": _optional_text(data, "tracking_code"),
        "payload": {"id": event.id, "type": event.type, "timestamp": occurred_at, "subject": event.subject,
                    "data": data},
        "occurred_at": event.occurred_at,
        "created_at": now,
    })

    def delivery(channel: str, recipient: str, window: float, **values: Any) -> dict[str, Any]:
        row = {
            "id": str(uuid.uuid4()), "notification_id": notification_id, "event_id": event.id,
            "channel": channel, "recipient": recipient, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "give_up_at": now + timedelta(seconds=window),
            "created_at": now, "updated_at": now, "subscription_id": None, "content": None,
            "completed_at": None, "last_error": None,
        }
        row.update(values)
        return row

    def mail(address: str, language: str) -> None:
        if language not in sources:
            raise PoisonEvent(f"no {language} template for {event.type}")
        context = context_for(event.type, data, event_id=event.id, occurred_at=occurred_at, language=language,
                              public_url=settings.public_url)
        content = render(sources[language], context, language).as_dict()
        recipient = mail_recipient(address)
        if recipient is None:
            # Nothing to retry: recorded as a failed channel so the inbox shows it.
            plan.deliveries.append(delivery("email", address[:320].lower(), settings.email_retry_window_seconds,
                                            status="failed", content=content, completed_at=now,
                                            last_error="invalid email address"))
        else:
            plan.deliveries.append(delivery("email", recipient, settings.email_retry_window_seconds,
                                            content=content))

    if event.type == "submission.step_assigned":
        # A disposition is mailed to the official it names, when the registry holds an address.
        assignee = data.get("assignee") if isinstance(data.get("assignee"), dict) else {}
        address = assignee.get("email")
        if isinstance(address, str) and address:
            mail(address, settings.default_language)
    elif event.type == "submission.issue_failed":
        for address in settings.operator_emails:
            mail(address, settings.default_language)
    # submission.step_overdue is mailed to no one: the unit's inbox and webhooks have it, a late
    # step being the unit's to chase rather than the operators'.
    elif event.type not in OFFICIAL_EVENT_TYPES:
        applicant = data.get("applicant") if isinstance(data.get("applicant"), dict) else {}
        address = applicant.get("email")
        if isinstance(address, str) and address and not covered_by_dedicated_event(event.type, data):
            language = applicant.get("language")
            mail(address, language if language in LANGUAGES else settings.default_language)

    for subscription in subscriptions:
        if subscription_matches(subscription, event.type, tenant, unit):
            plan.deliveries.append(delivery("webhook", subscription.id, settings.webhook_retry_window_seconds,
                                            subscription_id=subscription.id))
    return plan


class Intake:
    def __init__(self, database: Database, settings: NotificationsSettings,
                 on_work: Callable[[set[str]], None], erase: Callable[[Any, str], Awaitable[str]]) -> None:
        """`erase(event, transport)` handles the erasure of a submission's personal data."""
        self._erase = erase
        self._db = database
        self._settings = settings
        # Told which channels got new deliveries, to wake their dispatchers.
        self._on_work = on_work
        self._templates: dict[str, tuple[float, dict[str, Sources]]] = {}
        self._subscriptions = LiveSubscriptions(database)

    def forget_templates(self) -> None:
        """After an edit in this process; other processes see it within TEMPLATE_CACHE_SECONDS."""
        self._templates.clear()

    def forget_subscriptions(self) -> None:
        """After a change in this process; other processes see it within LiveSubscriptions.STALE_SECONDS."""
        self._subscriptions.forget()

    async def _sources(self, event_types: set[str]) -> dict[str, dict[str, Sources]]:
        now = time.monotonic()
        stale = {event_type for event_type in event_types if event_type not in self._templates
                 or now - self._templates[event_type][0] > TEMPLATE_CACHE_SECONDS}
        if stale:
            async with self._db.read() as connection:
                for event_type in stale:
                    self._templates[event_type] = (now, await _load_sources(connection, event_type))
        return {event_type: self._templates[event_type][1] for event_type in event_types}

    async def accept(self, item: Any, transport: str) -> str:
        return (await self.accept_batch([item], transport))[0]

    async def accept_batch(self, items: Sequence[Any], transport: str) -> list[str]:
        """The outcome of each item, in order. The batch's events are recorded in one
        transaction; should that meet a concurrent delivery of one of them, each is recorded on
        its own instead. A database error propagates: the sender retries the batch, and what was
        recorded is then skipped as duplicates."""
        outcomes: list[str] = [DUPLICATE] * len(items)
        events: list[tuple[int, Envelope]] = []
        keys: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            try:
                event = Envelope.model_validate(item)
            except ValidationError as exc:
                outcomes[index] = await self._dead_letter(item, _validation_summary(exc), transport)
                continue
            if (event.source, event.id) not in keys:  # else: twice in one batch
                keys.add((event.source, event.id))
                if event.type == ERASED_EVENT:
                    # Not a notice to anyone: it erases what earlier ones left (personaldata.py).
                    outcomes[index] = await self._erase(event, transport)
                    continue
                events.append((index, event))
        known = [(index, event) for index, event in events if event.type in EVENT_TYPES]
        sources: dict[str, dict[str, Sources]] = {}
        subscriptions: list[Any] = []
        if known:
            sources = await self._sources({event.type for _, event in known})
            subscriptions = await self._subscriptions.of([event.data for _, event in known])
        # Redeliveries are not looked for up front: they are rare, and the unique key on
        # processed_events finds them when the batch is written.
        now = utcnow()
        records: list[tuple[int, Envelope, str, Plan | None]] = []
        for index, event in events:
            if event.type not in EVENT_TYPES:
                records.append((index, event, IGNORED, None))
                continue
            try:
                plan = plan_event(event, sources=sources[event.type], subscriptions=subscriptions,
                                  settings=self._settings, now=now)
            except Exception as exc:  # anything the event's content makes fail is poison, not a crash
                outcomes[index] = await self._dead_letter(items[index], _describe(exc), transport, event)
                continue
            records.append((index, event, PROCESSED, plan))
        if not records:
            return outcomes

        processed = [_processed(event, outcome, transport, now) for _, event, outcome, _ in records]
        plans = [plan for *_, plan in records if plan is not None]
        try:
            await self._db.run(lambda connection: _write(connection, processed, plans))
        except IntegrityError:
            for index, event, outcome, plan in records:
                outcomes[index] = await self._record(event, transport, outcome, plan)
            return outcomes
        channels: set[str] = set()
        for index, _, outcome, plan in records:
            outcomes[index] = outcome
            if plan is not None:
                channels |= plan.channels()
        if channels:
            self._on_work(channels)
        return outcomes

    async def _record(self, event: Envelope, transport: str, outcome: str, plan: Plan | None) -> str:
        processed = [_processed(event, outcome, transport, utcnow())]
        try:
            await self._db.run(lambda connection: _write(connection, processed, [plan] if plan else []))
        except IntegrityError:
            # Handled meanwhile by a concurrent delivery of the same event.
            return DUPLICATE
        if plan is not None and plan.channels():
            self._on_work(plan.channels())
        return outcome

    async def _dead_letter(self, item: Any, error: str, transport: str, event: Envelope | None = None) -> str:
        values = _identity_of(item)
        processed = [_processed(event, DEAD_LETTERED, transport, utcnow())] if event is not None else []
        letter = {"id": str(uuid.uuid4()), "envelope": item if isinstance(item, dict) else {"raw": repr(item)[:10000]},
                  "error": error[:4000], "transport": transport, "received_at": utcnow(), **values}

        def record(connection: Connection) -> None:
            _write(connection, processed, [])
            connection.execute(insert(dead_letters), letter)

        try:
            await self._db.run(record)
        except IntegrityError:
            return DUPLICATE
        log.warning("dead-lettered event %s (%s) from %s: %s", values["event_id"], values["type"],
                    values["source"], error)
        return DEAD_LETTERED

    async def replay(self, dead_letter_id: str) -> str:
        """Handle a dead-lettered event again (after a template was fixed, say). Returns
        `processed`; raises ReplayRefused when it still fails or was replayed already."""
        async with self._db.read() as session:
            letter = (await session.execute(select(dead_letters).where(dead_letters.c.id == dead_letter_id))).first()
            if letter is None:
                raise LookupError(dead_letter_id)
            if letter.replayed_at is not None:
                raise ReplayRefused("already replayed")
            try:
                event = Envelope.model_validate(letter.envelope)
            except ValidationError as exc:
                raise ReplayRefused(_validation_summary(exc)) from exc
            sources = await _load_sources(session, event.type)
        subscriptions = await self._subscriptions.of([event.data])
        plan = None
        if event.type in EVENT_TYPES:
            try:
                plan = plan_event(event, sources=sources, subscriptions=subscriptions, settings=self._settings,
                                  now=utcnow())
            except Exception as exc:  # still poison: keep it dead-lettered, with the newest error
                error = _describe(exc)
                await self._db.run(lambda connection: connection.execute(
                    update(dead_letters).where(dead_letters.c.id == dead_letter_id).values(error=error[:4000])))
                raise ReplayRefused(error) from exc

        def record(connection: Connection) -> None:
            claimed = connection.execute(
                update(dead_letters).where(dead_letters.c.id == dead_letter_id, dead_letters.c.replayed_at.is_(None))
                .values(replayed_at=utcnow()))
            if claimed.rowcount != 1:
                raise ReplayRefused("already replayed")
            marked = connection.execute(
                update(processed_events)
                .where(processed_events.c.source == event.source, processed_events.c.event_id == event.id,
                       processed_events.c.outcome == DEAD_LETTERED)
                .values(outcome=PROCESSED if plan else IGNORED, transport="replay", processed_at=utcnow()))
            if marked.rowcount != 1:
                raise ReplayRefused("the event was handled meanwhile")
            _write(connection, [], [plan] if plan else [])

        try:
            async with self._db.begin() as session:
                await session.run_sync(record)
                # No route reads a replay's outcome again: a retry after a crash is told the key was used.
                await idempotency.settle(session, idempotency.not_replayable())
        except IntegrityError as exc:
            raise ReplayRefused("the event was handled meanwhile") from exc
        if plan is not None and plan.channels():
            self._on_work(plan.channels())
        return PROCESSED


class ReplayRefused(Exception):
    pass


# Built once: every batch of events runs them.
_INSERT_PROCESSED = insert(processed_events)
_INSERT_NOTIFICATIONS = insert(notifications)
_INSERT_DELIVERIES = insert(deliveries)


def _processed(event: Envelope, outcome: str, transport: str, now: datetime) -> dict[str, Any]:
    return {"source": event.source, "event_id": event.id, "type": event.type, "outcome": outcome,
            "transport": transport, "processed_at": now}


def _write(connection: Connection, processed: list[dict[str, Any]], plans: Sequence[Plan]) -> None:
    """Events recorded as processed and what they produce: a statement per table, whatever the count."""
    if processed:
        connection.execute(_INSERT_PROCESSED, processed)
    if plans:
        connection.execute(_INSERT_NOTIFICATIONS, [plan.notification for plan in plans])
        rows = [delivery for plan in plans for delivery in plan.deliveries]
        if rows:
            connection.execute(_INSERT_DELIVERIES, rows)


async def _load_sources(session: AsyncConnection, event_type: str) -> dict[str, Sources]:
    rows = (await session.execute(select(templates).where(templates.c.event_type == event_type))).all()
    return {row.language: Sources(subject=row.subject, text=row.text, html=row.html) for row in rows}


def _identity_of(item: Any) -> dict[str, str | None]:
    """What can be told about an event even when it is malformed."""

    def text(name: str, limit: int) -> str | None:
        value = item.get(name) if isinstance(item, dict) else None
        return value[:limit] if isinstance(value, str) else None

    return {"source": text("source", 100), "event_id": text("id", 100), "type": text("type", 100),
            "subject": text("subject", 200)}


def _validation_summary(exc: ValidationError) -> str:
    problems = [f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}" for error in exc.errors()]
    return "invalid envelope: " + "; ".join(problems)


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, PoisonEvent) else f"{type(exc).__name__}: {exc}"
