"""A producer of events for the notification tests and the benchmark: an outbox table of its own
(the shape every service uses) with the shared relay in front of it, so events travel exactly
the path a service's events travel, over either transport."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, func, select

from simpul.shared.db import create_engine, read_session_factory, session_factory
from simpul.shared.events import outbox_table, stage_event
from simpul.shared.relay import OutboxRelay, Transport

SOURCE = "simpul/submissions"


def submission_data(*, tenant: str = "31", unit: str = "KDN-BH", email: str = "warga@example.id",
                    language: str = "id", to: str = "in_review", submission_id: str | None = None) -> dict[str, Any]:
    submission_id = submission_id or str(uuid.uuid4())
    return {
        "submission_id": submission_id, "tracking_code": "SPL" + uuid.uuid4().hex[:9].upper(),
        "service_code": "IZIN-USAHA", "service_name": "Izin Usaha Mikro", "service_version": 1,
        "unit": unit, "tenant": tenant, "applicant": {"name": "Warga", "email": email, "language": language},
        "from": "submitted", "to": to, "note": None, "at": datetime.now(UTC).isoformat(),
        "due_at": "2030-01-10T10:00:00+00:00",
    }


class Producer:
    def __init__(self, database_url: str) -> None:
        self.metadata = MetaData()
        self.table = outbox_table(self.metadata)
        self.engine = create_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.read_sessions = read_session_factory(self.engine)

    async def open(self) -> Producer:
        async with self.engine.begin() as connection:
            await connection.run_sync(self.metadata.create_all)
        return self

    async def close(self) -> None:
        await self.engine.dispose()

    async def stage(self, data: dict[str, Any], event_type: str = "submission.status_changed") -> dict[str, Any]:
        """One state change: the event committed to the outbox, as the service would do it."""
        async with self.sessions.begin() as session:
            return await stage_event(session, self.table, type=event_type, source=SOURCE,
                                     subject=f"submissions/{data['submission_id']}", data=data)

    def relay(self, transport: Transport, **options: Any) -> OutboxRelay:
        relay = OutboxRelay(self.sessions, self.read_sessions, self.table, transport, **options)
        relay.watch(self.sessions)
        return relay

    async def unpublished(self) -> int:
        async with self.read_sessions() as session:
            return (await session.execute(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None)))).scalar_one()
