"""What was sent for a tenant (the inbox) and the dead-letter store, as read by the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.notifications.models import as_seen, dead_letters, deliveries, notifications
from simpul.notifications.paging import newest_first, next_cursor
from simpul.notifications.templates import OFFICIAL_EVENT_TYPES
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.visibility import Visibility

NOTIFICATION_NOT_FOUND = Text("Notifikasi tidak ditemukan.", "Notification not found.")


def _visible(identity: Identity):
    """An applicant sees its region's notifications, an officer its unit's, an admin all; what is
    for officials only is not an applicant's."""
    condition = Visibility.of(identity).where(notifications)
    if identity.role == "applicant":
        condition = condition & notifications.c.event_type.not_in(OFFICIAL_EVENT_TYPES)
    return condition


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


class Inbox:
    """What was sent for a tenant and the dead letters, as the API reads them."""

    def __init__(self, read_sessions: async_sessionmaker[AsyncSession]) -> None:
        self.read_sessions = read_sessions

    async def list_notifications(self, identity: Identity, limit: int, cursor: str | None, *,
                                 event_type: str | None = None,
                                 submission_id: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first."""
        query = select(notifications).where(_visible(identity))
        if event_type:
            query = query.where(notifications.c.event_type == event_type)
        if submission_id:
            query = query.where(notifications.c.submission_id == submission_id)
        query = newest_first(query, notifications.c.position, limit, cursor)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
            page = rows[:limit]
            channels = await _channels(session, [row.id for row in page])
        following = next_cursor(rows, limit)
        return [_item(row, channels[row.id]) for row in page], following

    async def get_notification(self, identity: Identity, notification_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = (await session.execute(select(notifications).where(
                notifications.c.id == notification_id, _visible(identity)))).first()
            if row is None:
                raise Problem(404, NOTIFICATION_NOT_FOUND)
            channels = await _channels(session, [row.id])
        return _item(row, channels[row.id])

    async def list_dead_letters(self, limit: int, cursor: str | None,
                                *, replayed: bool | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `replayed=False` leaves only those still waiting for attention."""
        query = select(dead_letters)
        if replayed is not None:
            replayed_at = dead_letters.c.replayed_at
            query = query.where(replayed_at.is_not(None) if replayed else replayed_at.is_(None))
        query = newest_first(query, dead_letters.c.position, limit, cursor)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        following = next_cursor(rows, limit)
        items = [{
            "id": row.id, "event_id": row.event_id, "source": row.source, "type": row.type, "subject": row.subject,
            "error": row.error, "transport": row.transport, "received_at": row.received_at,
            "replayed_at": row.replayed_at, "envelope": row.envelope,
        } for row in rows[:limit]]
        return items, following
