"""Events and the transactional outbox.

A service that changes state stages the event in its own `outbox` table inside the same
transaction as the change; a relay publishes staged rows afterwards (at least once). The
envelope uses CloudEvents attribute names.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncSession

from simpul.shared.db import UTCDateTime

SPEC_VERSION = "1.0"
OUTBOX_TABLE = "outbox"


def outbox_columns() -> list[Column]:
    """Shared by the table below and each service's migration that creates it."""
    return [
        # Insertion order is the publication order, per subject and overall.
        Column("position", Integer, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("source", String(100), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("occurred_at", UTCDateTime(), nullable=False),
        Column("data", JSON, nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
    ]


def outbox_indexes(table_name: str = OUTBOX_TABLE) -> list[tuple[str, list[str]]]:
    return [(f"ix_{table_name}_unpublished", ["published_at", "position"])]


def outbox_table(metadata: MetaData) -> Table:
    table = Table(OUTBOX_TABLE, metadata, *outbox_columns())
    for name, columns in outbox_indexes():
        Index(name, *(table.c[column] for column in columns))
    return table


def envelope(*, type: str, source: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": SPEC_VERSION,
        "id": str(uuid.uuid4()),
        "type": type,
        "source": source,
        "subject": subject,
        "occurred_at": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


async def stage_event(
    session: AsyncSession, table: Table, *, type: str, source: str, subject: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Add the event to the session's transaction; it is published only if that commits."""
    event = envelope(type=type, source=source, subject=subject, data=data)
    await session.execute(
        insert(table).values(
            id=event["id"],
            type=type,
            source=source,
            subject=subject,
            occurred_at=datetime.fromisoformat(event["occurred_at"]),
            data=data,
        )
    )
    return event
