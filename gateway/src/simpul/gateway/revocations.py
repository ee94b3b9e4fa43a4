"""Revocations told to notifications, which disables the revoked client's webhooks and cancels
their pending deliveries (`POST /internal/client-revocations`).

The notice is a row written in the revoking transaction (clients.py), so a revocation committed is
never forgotten: this worker sends every pending one (woken by the revocation, else every few
seconds) until notifications answers, backing off while it is down. The call is idempotent there,
so replicas sending the same notice at once, or a notice sent again after a lost answer, change
nothing more; the answer is recorded once (`notified_at`), with an audit row. A 4xx other than
the retryable ones refuses the notice as it is: recorded (`failed_at`, the reason, an audit row
with outcome `failed`) and not retried for ever.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.gateway.models import audit, revocation_notices
from simpul.shared import audit as audit_log
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity
from simpul.shared.internal import InternalClient, refused_for_good
from simpul.shared.requestid import REQUEST_ID_HEADER
from simpul.shared.worker import periodic

log = logging.getLogger("simpul.gateway.revocations")

PATH = "/internal/client-revocations"
POLL_SECONDS = 5.0
BATCH = 50
SYSTEM = Identity(subject="system:gateway", role="system")


class NoticeNotAnswered(Exception):
    """Notifications could not be reached or failed; the notice stays pending."""


class RevocationNotices:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifications: InternalClient) -> None:
        self.sessions = sessions
        self.notifications = notifications
        self.worker = periodic("gateway-revocation-notices", self.send_pending, seconds=POLL_SECONDS,
                               backoff_cap=30.0, expected=(NoticeNotAnswered,), logger=log)

    def start(self) -> None:
        self.worker.start()

    def wake(self) -> None:
        self.worker.wake()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.notifications.aclose()

    async def pending(self) -> list[Any]:
        async with self.sessions() as session:
            return (await session.execute(
                select(revocation_notices)
                .where(revocation_notices.c.notified_at.is_(None), revocation_notices.c.failed_at.is_(None))
                .order_by(revocation_notices.c.revoked_at).limit(BATCH))).all()

    async def send_pending(self) -> None:
        """Every pending notice sent once; NoticeNotAnswered (the worker backs off) if any is left."""
        unanswered = 0
        for notice in await self.pending():
            if not await self._send(notice):
                unanswered += 1
        if unanswered:
            raise NoticeNotAnswered(f"{unanswered} revocation notice(s) not answered by notifications")

    async def _send(self, notice: Any) -> bool:
        body = {"client_id": notice.client_id, "revoked_at": notice.revoked_at.isoformat(),
                "revoked_by": notice.revoked_by}
        # The notice goes under the revoking request's id, so notifications' audit rows name it.
        headers = {REQUEST_ID_HEADER.decode(): notice.request_id} if notice.request_id else {}
        try:
            response = await self.notifications.request("POST", PATH, json=body, headers=headers)
        except httpx.HTTPError as exc:
            await self._attempted(notice, f"notifications unreachable ({type(exc).__name__})")
            return False
        if response.is_success:
            await self._settle(notice, notified=True, details={"service": "notifications", **_counts(response)})
            return True
        if refused_for_good(response.status_code):
            await self._settle(notice, notified=False, error=f"notifications refused it: HTTP {response.status_code}",
                               details={"service": "notifications", "status": response.status_code})
            log.error("revocation of %s refused by notifications (HTTP %s): its webhooks were not disabled",
                      notice.client_id, response.status_code)
            return True
        await self._attempted(notice, f"notifications answered HTTP {response.status_code}")
        return False

    async def _attempted(self, notice: Any, error: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(revocation_notices).where(revocation_notices.c.client_id == notice.client_id)
                .values(attempts=revocation_notices.c.attempts + 1, last_error=error))

    async def _settle(self, notice: Any, *, notified: bool, details: dict[str, Any], error: str | None = None) -> None:
        now = utcnow()
        async with self.sessions.begin() as session:
            settled = await session.execute(
                update(revocation_notices)
                .where(revocation_notices.c.client_id == notice.client_id,
                       revocation_notices.c.notified_at.is_(None), revocation_notices.c.failed_at.is_(None))
                .values(attempts=revocation_notices.c.attempts + 1, last_error=error,
                        notified_at=now if notified else None, failed_at=None if notified else now))
            if settled.rowcount != 1:
                return  # another replica recorded the answer first
            await audit_log.record_all(session, audit, [audit_log.Audited(
                SYSTEM, "client.revocation_propagated", "client", notice.client_id, details=details,
                outcome=audit_log.SUCCEEDED if notified else audit_log.FAILED, request_id=notice.request_id)])


def _counts(response: httpx.Response) -> dict[str, int]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return {name: body[name] for name in ("webhooks_disabled", "deliveries_cancelled")
            if isinstance(body, dict) and isinstance(body.get(name), int)}
