"""What was sent for a tenant (the inbox) and the dead-letter store, as read by the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.notifications.models import dead_letters, deliveries, notifications, as_seen
from simpul.notifications.paging import next_cursor, position_before
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text

NOTIFICATION_NOT_FOUND = Text("Notifikasi tidak ditemukan.", "Notification not found.")


def _scope(identity: Identity) -> list[Any]:
    """An applicant sees its region's notifications, an officer its unit's, an admin all."""
    if identity.role == "admin":
        return []
    if not identity.tenant:
        return [false()]
    if identity.role == "applicant":
        return [notifications.c.tenant == identity.tenant]
    if identity.role == "officer":
        return [notifications.c.unit == identity.tenant]
    return [false()]


def _item(row: Any, channels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id, "event_id": row.event_id, "event_type": row.event_type, "subject": row.subject,
        "submission_id": row.submission_id, "complaint_id": row.complaint_id, "tracking_code": row.tracking_code,
        "tenant": row.tenant, "unit": row.unit, "occurred_at": row.occurred_at, "created_at": row.created_at,
        "data": row.payload.get("data", {}), "channels": channels,
    }


async def _channels(session: AsyncSession, notification_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {notification_id: [] for notification_id in notification_ids}
    if not notification_ids:
        return found
    rows = (await session.execute(
        select(deliveries.c.notification_id, deliveries.c.channel, deliveries.c.recipient, deliveries.c.status,
               deliveries.c.attempts, deliveries.c.updated_at)
        .where(deliveries.c.notification_id.in_(notification_ids)).order_by(deliveries.c.position)
    )).all()
    for row in rows:
        status, attempts = as_seen(row.status, row.attempts)
        found[row.notification_id].append({"channel": row.channel, "recipient": row.recipient, "status": status,
                                           "attempts": attempts, "updated_at": row.updated_at})
    return found


async def list_notifications(read_sessions: async_sessionmaker[AsyncSession], identity: Identity, limit: int,
                             cursor: str | None, *, event_type: str | None = None,
                             submission_id: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first."""
    query = select(notifications).where(*_scope(identity))
    if event_type:
        query = query.where(notifications.c.event_type == event_type)
    if submission_id:
        query = query.where(notifications.c.submission_id == submission_id)
    if cursor:
        query = query.where(notifications.c.position < position_before(cursor))
    query = query.order_by(notifications.c.position.desc()).limit(limit + 1)
    async with read_sessions() as session:
        rows = (await session.execute(query)).all()
        page = rows[:limit]
        channels = await _channels(session, [row.id for row in page])
    following = next_cursor(rows, limit)
    return [_item(row, channels[row.id]) for row in page], following


async def get_notification(read_sessions: async_sessionmaker[AsyncSession], identity: Identity,
                           notification_id: str) -> dict[str, Any]:
    async with read_sessions() as session:
        row = (await session.execute(
            select(notifications).where(notifications.c.id == notification_id, *_scope(identity)))).first()
        if row is None:
            raise Problem(404, NOTIFICATION_NOT_FOUND)
        channels = await _channels(session, [row.id])
    return _item(row, channels[row.id])


async def list_dead_letters(read_sessions: async_sessionmaker[AsyncSession], limit: int, cursor: str | None,
                            *, replayed: bool | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; `replayed=False` leaves only those still waiting for attention."""
    query = select(dead_letters)
    if replayed is not None:
        query = query.where(dead_letters.c.replayed_at.is_not(None) if replayed else dead_letters.c.replayed_at.is_(None))
    if cursor:
        query = query.where(dead_letters.c.position < position_before(cursor))
    query = query.order_by(dead_letters.c.position.desc()).limit(limit + 1)
    async with read_sessions() as session:
        rows = (await session.execute(query)).all()
    following = next_cursor(rows, limit)
    items = [{
        "id": row.id, "event_id": row.event_id, "source": row.source, "type": row.type, "subject": row.subject,
        "error": row.error, "transport": row.transport, "received_at": row.received_at,
        "replayed_at": row.replayed_at, "envelope": row.envelope,
    } for row in rows[:limit]]
    return items, following
