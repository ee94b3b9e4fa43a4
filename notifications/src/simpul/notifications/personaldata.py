"""Personal data in the notifications service (UU 27/2022): the mails, inbox entries and webhook
deliveries about an applicant.

- Officers' and admins' reads of the inbox are recorded (simpul.shared.personal_data).
- `submission.personal_data_erased` (the submissions service's retention worker) erases what was
  sent about that submission and its complaints: the events' data in the inbox entries becomes
  the ids alone, the email deliveries lose their address and rendered message (the ones not yet
  sent are given up), and the mailbox files of those mails are deleted. The entries and the
  delivery statuses stay: that a notice went out, and when, is the service's own record.
- The data subject's export: every mail sent to the address, the inbox entries and webhook
  deliveries of those events, and who read them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.notifications.database import Database
from simpul.notifications.models import (
    as_seen,
    audit,
    deliveries,
    notifications,
    personal_data_reads,
    processed_events,
)
from simpul.shared import audit as audit_log
from simpul.shared.audit import SYSTEM
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity
from simpul.shared.personal_data import email_of, read_rows, read_view, recorded

log = logging.getLogger(__name__)

ERASED_EVENT = "submission.personal_data_erased"
PROCESSED = "processed"
DUPLICATE = "duplicate"
INBOX_READ = "inbox"
EXPORT_READ = "data_subject_export"
ERASED_RECIPIENT_DOMAIN = "erased.invalid"
# The email deliveries that are still to go when their data is erased: given up.
UNSENT = ("pending", "sending")


def subject_of(payload: dict[str, Any]) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    return email_of(data.get("applicant")) if isinstance(data, dict) else None


def erased_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What an inbox entry keeps: the event's envelope and the ids that name no one."""
    data = payload.get("data") or {}
    kept = {key: data[key] for key in ("submission_id", "complaint_id", "tracking_code", "service_code", "unit",
                                       "tenant", "from", "to", "status", "at") if key in data}
    return {**{key: payload[key] for key in ("id", "type", "timestamp", "subject") if key in payload},
            "data": {**kept, "personal_data_erased": True}}


class PersonalData:
    def __init__(self, database: Database, read_sessions: async_sessionmaker[AsyncSession], mailbox: Path) -> None:
        self.database = database
        self.read_sessions = read_sessions
        self.mailbox = mailbox

    async def record_reads(self, identity: Identity, items: Iterable[dict[str, Any]]) -> None:
        """The inbox entries an officer or admin was shown, one row each (those naming a person)."""
        if not recorded(identity):
            return
        subjects = [{"subject_email": subject_of({"data": item["data"]}), "submission_id": item["submission_id"],
                     "notification_id": item["id"]} for item in items]
        rows = read_rows(identity, INBOX_READ, [s for s in subjects if s["subject_email"]], utcnow())
        if rows:
            async with self.database.begin() as connection:
                await connection.execute(insert(personal_data_reads), rows)

    async def erase(self, event: Any, transport: str) -> str:
        """Handle `submission.personal_data_erased` once: PROCESSED, or DUPLICATE for a redelivery."""
        submission_id = str(event.data.get("submission_id") or "")
        complaint_ids = [str(i) for i in event.data.get("complaint_ids") or []]
        now = utcnow()
        try:
            async with self.database.begin() as connection:
                await connection.execute(insert(processed_events).values(
                    source=event.source, event_id=event.id, type=event.type, outcome=PROCESSED,
                    transport=transport, processed_at=now))
                about = notifications.c.submission_id == submission_id
                if complaint_ids:
                    about = or_(about, notifications.c.complaint_id.in_(complaint_ids))
                entries = (await connection.execute(select(notifications.c.id, notifications.c.payload)
                                                    .where(about))).all()
                ids = [entry.id for entry in entries]
                for entry in entries:
                    await connection.execute(update(notifications).where(notifications.c.id == entry.id)
                                             .values(payload=erased_payload(entry.payload)))
                mails = (await connection.execute(select(deliveries.c.id, deliveries.c.status).where(
                    deliveries.c.notification_id.in_(ids), deliveries.c.channel == "email"))).all() if ids else []
                for mail in mails:
                    values: dict[str, Any] = {"recipient": f"{mail.id}@{ERASED_RECIPIENT_DOMAIN}", "content": None,
                                              "updated_at": now}
                    if mail.status in UNSENT:
                        values.update(status="failed", claim=None, completed_at=now,
                                      last_error="personal data erased before sending")
                    await connection.execute(update(deliveries).where(deliveries.c.id == mail.id).values(**values))
                if ids:
                    await connection.execute(update(personal_data_reads)
                                             .where(personal_data_reads.c.notification_id.in_(ids))
                                             .values(subject_email=None))
                # Inside the transaction: should it fail, the redelivered event deletes again (a no-op).
                removed = sum(self._delete_mail_file(mail.id) for mail in mails)
                await audit_log.record(connection, audit, SYSTEM, ERASED_EVENT, "submission", submission_id,
                                       details={"notifications": len(ids), "mails": len(mails),
                                                "mailbox_files_deleted": removed})
        except IntegrityError:
            return DUPLICATE
        log.info("personal data of submission %s erased from %d notifications", submission_id, len(ids))
        return PROCESSED

    def _delete_mail_file(self, delivery_id: str) -> bool:
        path = self.mailbox / f"{delivery_id}.eml"
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def export(self, identity: Identity, email: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            mails = (await session.execute(select(deliveries).where(
                deliveries.c.recipient == email, deliveries.c.channel == "email").order_by(deliveries.c.position))).all()
            mailed = sorted({mail.notification_id for mail in mails})
            # Every entry about the submissions those mails were about, also those no mail went out for.
            about = sorted({row.submission_id for row in (await session.execute(
                select(notifications.c.submission_id).where(notifications.c.id.in_(mailed)))).all()
                if row.submission_id}) if mailed else []
            entries = (await session.execute(select(notifications).where(
                or_(notifications.c.id.in_(mailed), notifications.c.submission_id.in_(about)))
                .order_by(notifications.c.position))).all() if mailed else []
            ids = [entry.id for entry in entries]
            hooks = (await session.execute(select(deliveries).where(
                deliveries.c.notification_id.in_(ids), deliveries.c.channel == "webhook")
                .order_by(deliveries.c.position))).all() if ids else []
            whose = personal_data_reads.c.subject_email == email
            reads = (await session.execute(select(personal_data_reads).where(whose)
                                           .order_by(personal_data_reads.c.id))).mappings().all()
        if recorded(identity):
            rows = read_rows(identity, EXPORT_READ, [{"subject_email": email, "submission_id": None,
                                                      "notification_id": None}], utcnow())
            async with self.database.begin() as connection:
                await connection.execute(insert(personal_data_reads), rows)
        return {
            "notifications": [{
                "id": entry.id, "event_type": entry.event_type, "submission_id": entry.submission_id,
                "complaint_id": entry.complaint_id, "tenant": entry.tenant, "unit": entry.unit,
                "occurred_at": entry.occurred_at, "data": (entry.payload or {}).get("data", {}),
            } for entry in entries],
            "deliveries": [_delivery(row) for row in [*mails, *hooks]],
            "reads": [read_view(row, "notification_id") for row in reads],
        }


def _delivery(row: Any) -> dict[str, Any]:
    status, attempts = as_seen(row.status, row.attempts)
    return {
        "id": row.id, "notification_id": row.notification_id, "channel": row.channel,
        "recipient": row.recipient, "status": status, "attempts": attempts, "content": row.content,
        "created_at": row.created_at, "completed_at": row.completed_at,
    }
