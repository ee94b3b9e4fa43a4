"""Webhook subscriptions: owned by a tenant (an applicant's region or an officer's unit), seen and
managed by the clients of that tenant and role; admins see all. Anything else is 404."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from simpul.notifications.database import Database
from simpul.notifications.models import DUE, SENDING, as_seen, deliveries, delivery_attempts, notifications
from simpul.notifications.models import audit, webhook_subscriptions
from simpul.notifications.paging import newest_first, next_cursor
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.templates import OFFICIAL_EVENT_TYPES
from simpul.notifications.webhooks import UrlRefused, check_url, new_secret, secret_context
from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.db import advisory_lock_key, utcnow
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text

NOT_FOUND = Text("Langganan webhook tidak ditemukan.", "Webhook subscription not found.")
NO_TENANT = Text("Klien Anda tidak terikat pada wilayah atau unit.", "Your client has no region or unit.")
OFFICIALS_ONLY = Text("Jenis peristiwa ini hanya untuk petugas.", "These event types are for officers only.")
URL_REFUSED = Text("URL webhook tidak dapat dipakai: {reason}.", "The webhook URL cannot be used: {reason}.")
DISABLED = Text("Webhook ini dinonaktifkan ({reason}).", "This webhook is disabled ({reason}).")
TOO_MANY = Text("Wilayah atau unit Anda sudah memiliki {limit} webhook; hapus satu sebelum menambah.",
                "Your region or unit already has {limit} webhooks; delete one before adding another.")

_PUBLIC_COLUMNS = [
    webhook_subscriptions.c.position, webhook_subscriptions.c.id, webhook_subscriptions.c.url,
    webhook_subscriptions.c.events, webhook_subscriptions.c.owner_role, webhook_subscriptions.c.tenant,
    webhook_subscriptions.c.created_at, webhook_subscriptions.c.rotated_at,
    webhook_subscriptions.c.previous_secret_expires_at, webhook_subscriptions.c.disabled_at,
    webhook_subscriptions.c.disabled_reason,
]
CLIENT_REVOKED = "client_revoked"


class LiveSubscriptions:
    """The live subscriptions the intake matches events against: all of them, read in one
    prepared query at most every STALE_SECONDS and kept by owner (an applicant's region, an
    officer's unit), so events do not each cost a query, nor each batch a statement built for
    its owners. (They are few: one per integration of a region or unit.) A change made through
    this app shows at once (`forget`); one made through another process within STALE_SECONDS,
    and a delivery planned meanwhile for a subscription deleted there fails when it is due."""

    STALE_SECONDS = 1.0

    def __init__(self, database: Database) -> None:
        self._db = database
        self._by_owner: dict[tuple[str, str], list[Any]] = {}
        self._read_at: float | None = None
        # Counts `forget`s: what a read that was under way meanwhile found is not kept.
        self._generation = 0

    def forget(self) -> None:
        self._read_at = None
        self._generation += 1

    async def of(self, data: Sequence[dict[str, Any]]) -> list[Any]:
        """Those of the regions and units that events with these `data` concern."""
        owners = {("applicant", item["tenant"]) for item in data if isinstance(item.get("tenant"), str)}
        owners |= {("officer", item["unit"]) for item in data if isinstance(item.get("unit"), str)}
        by_owner = self._by_owner
        now = time.monotonic()
        if self._read_at is None or now - self._read_at > self.STALE_SECONDS:
            generation = self._generation
            by_owner = {}
            for row in await self._db.run(lambda connection: connection.execute(_LIVE).all()):
                by_owner.setdefault((row.owner_role, row.tenant), []).append(row)
            if generation == self._generation:
                self._by_owner, self._read_at = by_owner, now
        return sorted((row for owner in owners for row in by_owner.get(owner, ())), key=lambda row: row.position)


_LIVE = (select(webhook_subscriptions.c.position, webhook_subscriptions.c.id, webhook_subscriptions.c.events,
                webhook_subscriptions.c.owner_role, webhook_subscriptions.c.tenant)
         .where(webhook_subscriptions.c.deleted_at.is_(None), webhook_subscriptions.c.disabled_at.is_(None)))


def public_view(row: Any) -> dict[str, Any]:
    """Everything but the secrets."""
    view = {column.name: getattr(row, column.name) for column in _PUBLIC_COLUMNS if column.name != "position"}
    view["status"] = "active" if row.disabled_at is None else "disabled"
    if view["previous_secret_expires_at"] is not None and view["previous_secret_expires_at"] <= utcnow():
        view["previous_secret_expires_at"] = None
    return view


def _visible(identity: Identity):
    conditions = [webhook_subscriptions.c.deleted_at.is_(None)]
    if identity.role != "admin":
        conditions += [webhook_subscriptions.c.owner_role == identity.role,
                       webhook_subscriptions.c.tenant == identity.tenant]
    return conditions


async def _find(session: AsyncSession, identity: Identity, subscription_id: str) -> Any:
    row = (await session.execute(
        select(*_PUBLIC_COLUMNS).where(webhook_subscriptions.c.id == subscription_id, *_visible(identity))
    )).first()
    if row is None:
        raise Problem(404, NOT_FOUND)
    return row


class Subscriptions:
    """Webhook subscriptions as their owners manage them. `on_change` is told of every one created
    or deleted, once it is committed."""

    def __init__(self, database: Database, read_sessions: async_sessionmaker[AsyncSession],
                 settings: NotificationsSettings, keks: ReloadingKeys,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.database = database
        self.read_sessions = read_sessions
        self.settings = settings
        self.keks = keks
        self.on_change = on_change

    async def create(self, identity: Identity, *, url: str, events: list[str]) -> dict[str, Any]:
        if not identity.tenant:
            raise Problem(403, NO_TENANT, slug="no-tenant")
        if identity.role == "applicant" and OFFICIAL_EVENT_TYPES.intersection(events):
            raise Problem(422, OFFICIALS_ONLY, errors=[
                {"field": "events", "message": f"for officers only: {', '.join(sorted(OFFICIAL_EVENT_TYPES & set(events)))}"}])
        try:
            await check_url(url, self.settings.webhook_allow_loopback)
        except UrlRefused as exc:
            detail = Text(URL_REFUSED.id.format(reason=exc.text.id), URL_REFUSED.en.format(reason=exc.text.en))
            raise Problem(422, detail, slug="webhook-url-refused",
                          errors=[{"field": "url", "message": exc.text.en}]) from exc
        now = utcnow()
        secret = new_secret()
        subscription_id = str(uuid.uuid4())
        row = {
            "id": subscription_id, "url": url, "events": list(events), "owner_role": identity.role,
            "tenant": identity.tenant, "created_by": identity.subject, "created_at": now,
            "sealed_secret": self.keks.seal(secret.encode(), secret_context(subscription_id)),
        }
        async with self.database.begin() as session:
            await self._hold_tenant_limit(session, identity.tenant)
            await session.execute(webhook_subscriptions.insert().values(**row))
            # The URL may carry a token of its owner's: the row names the events only.
            await audit_log.record(session, audit, identity, "webhook.created", "webhook", row["id"],
                                   details={"events": sorted(events)})
            # The answer shows the secret once: a retry after a crash is told the key was used.
            await idempotency.settle(session, idempotency.not_replayable())
        self.on_change()
        return {**{key: row[key] for key in ("id", "url", "events", "owner_role", "tenant", "created_at")},
                "rotated_at": None, "previous_secret_expires_at": None, "secret": secret}

    async def _hold_tenant_limit(self, session: AsyncConnection, tenant: str) -> None:
        """409 when the tenant has its maximum of webhooks: each one is a delivery per event, and
        without a bound one client could multiply the work of every event (and its SSRF probes).
        Concurrent creations of a tenant queue on a lock (SQLite: the one writer), so the count
        they check is the one they add to."""
        if session.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                  {"key": advisory_lock_key(f"simpul:webhooks:{tenant}")})
        held = (await session.execute(
            select(func.count()).select_from(webhook_subscriptions)
            .where(webhook_subscriptions.c.tenant == tenant, webhook_subscriptions.c.deleted_at.is_(None),
                   webhook_subscriptions.c.disabled_at.is_(None))
        )).scalar_one()
        limit = self.settings.webhook_max_per_tenant
        if held >= limit:
            raise Problem(409, TOO_MANY, slug="webhook-limit", params={"limit": limit}, limit=limit)

    async def list_visible(self, identity: Identity, limit: int,
                           cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        query = select(*_PUBLIC_COLUMNS).where(*_visible(identity))
        query = newest_first(query, webhook_subscriptions.c.position, limit, cursor)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        following = next_cursor(rows, limit)
        return [public_view(row) for row in rows[:limit]], following

    async def get(self, identity: Identity, subscription_id: str) -> dict:
        async with self.read_sessions() as session:
            return public_view(await _find(session, identity, subscription_id))

    async def delete(self, identity: Identity, subscription_id: str) -> None:
        """Stops deliveries at once: the pending ones are failed."""
        now = utcnow()
        async with self.database.begin() as session:
            await _find(session, identity, subscription_id)
            await session.execute(update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
                                  .values(deleted_at=now))
            stopped = await session.execute(
                update(deliveries)
                .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status == "pending",
                       deliveries.c.claim.is_(None))
                .values(status="failed", last_error="subscription deleted", updated_at=now, completed_at=now))
            await audit_log.record(session, audit, identity, "webhook.deleted", "webhook", subscription_id,
                                   details={"pending_deliveries_failed": stopped.rowcount})
        self.on_change()

    async def rotate_secret(self, identity: Identity, subscription_id: str,
                            grace_seconds: int | None) -> dict[str, Any]:
        """A new secret at once; the current one keeps signing (next to it) for the grace period."""
        now = utcnow()
        grace = self.settings.webhook_secret_grace_seconds if grace_seconds is None else grace_seconds
        expires = now + timedelta(seconds=grace)
        secret = new_secret()
        async with self.database.begin() as session:
            found = await _find(session, identity, subscription_id)
            if found.disabled_at is not None:
                raise Problem(409, DISABLED, slug="webhook-disabled", params={"reason": found.disabled_reason})
            await session.execute(
                update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
                .values(sealed_previous_secret=webhook_subscriptions.c.sealed_secret,
                        previous_secret_expires_at=expires, rotated_at=now,
                        sealed_secret=self.keks.seal(secret.encode(), secret_context(subscription_id))))
            await audit_log.record(session, audit, identity, "webhook.secret_rotated", "webhook", subscription_id,
                                   details={"grace_seconds": grace})
            await idempotency.settle(session, idempotency.not_replayable())
        return {"id": subscription_id, "secret": secret, "rotated_at": now, "previous_secret_expires_at": expires}

    async def disable_for_client(self, service: Identity, client_id: str, *, revoked_by: str | None,
                                 revoked_at: datetime | None) -> dict[str, int]:
        """The API client `client_id` was revoked at the gateway: every live webhook it created is
        disabled (kept, with the reason, for its owner to see) and their deliveries not yet made
        are failed, including one a dispatcher holds (it checks again before posting,
        dispatch.py). Idempotent: the gateway repeats the call until it is answered."""
        now = utcnow()
        async with self.database.begin() as session:
            disabled = (await session.execute(
                update(webhook_subscriptions)
                .where(webhook_subscriptions.c.created_by == client_id, webhook_subscriptions.c.deleted_at.is_(None),
                       webhook_subscriptions.c.disabled_at.is_(None))
                .values(disabled_at=now, disabled_reason=CLIENT_REVOKED)
                .returning(webhook_subscriptions.c.id))).scalars().all()
            # Those disabled before (an earlier call) too: a delivery planned from a stale copy of the
            # live subscriptions after that is stopped here as well.
            all_disabled = select(webhook_subscriptions.c.id).where(
                webhook_subscriptions.c.created_by == client_id,
                webhook_subscriptions.c.disabled_reason == CLIENT_REVOKED)
            stopped = (await session.execute(
                update(deliveries)
                .where(deliveries.c.subscription_id.in_(all_disabled), deliveries.c.status.in_(DUE))
                # A claimed one's attempt was counted at the claim; it is not made (dispatch.py).
                .values(status="failed", claim=None, last_error="cancelled: client revoked", updated_at=now,
                        completed_at=now, attempts=case((deliveries.c.status == SENDING, deliveries.c.attempts - 1),
                                                        else_=deliveries.c.attempts))
                .returning(deliveries.c.subscription_id))).scalars().all()
            per_webhook = Counter(stopped)
            details = {"reason": CLIENT_REVOKED, "client_id": client_id, "revoked_by": revoked_by,
                       "revoked_at": revoked_at.isoformat() if revoked_at else None}
            await audit_log.record_all(session, audit, [
                audit_log.Audited(service, "webhook.disabled", "webhook", subscription_id,
                                  details={**details, "deliveries_cancelled": per_webhook[subscription_id]})
                for subscription_id in disabled])
        if disabled:
            self.on_change()
        return {"webhooks_disabled": len(disabled), "deliveries_cancelled": len(stopped)}

    async def check_key_encryption_key(self) -> None:
        """EnvelopeError when the newest secret does not open here: a replica given another
        key-encryption key refuses to start rather than fail every delivery."""
        async with self.read_sessions() as session:
            newest = (await session.execute(
                select(webhook_subscriptions.c.id, webhook_subscriptions.c.sealed_secret)
                .order_by(webhook_subscriptions.c.position.desc()).limit(1))).first()
        if newest is not None:
            self.keks.open(newest.sealed_secret, secret_context(newest.id))

    async def rewrap_secrets(self, keks: KeyEncryptionKeys, actor: str) -> int:
        """Every sealed secret re-wrapped under the current key of `keks`; the subscriptions changed."""
        def rewrapped(sealed: bytes | None) -> bytes | None:
            return None if sealed is None else keks.rewrap(sealed)

        async with self.database.begin() as session:
            # Locked (PostgreSQL; SQLite's writer lock is held from the start): a rotation meanwhile
            # would otherwise be overwritten with the secret it replaced.
            rows = (await session.execute(
                select(webhook_subscriptions.c.id, webhook_subscriptions.c.sealed_secret,
                       webhook_subscriptions.c.sealed_previous_secret).with_for_update())).all()
            stale = [row for row in rows
                     if not all(keks.is_current(sealed) for sealed in (row.sealed_secret, row.sealed_previous_secret)
                                if sealed is not None)]
            for row in stale:
                await session.execute(
                    update(webhook_subscriptions).where(webhook_subscriptions.c.id == row.id)
                    .values(sealed_secret=rewrapped(row.sealed_secret),
                            sealed_previous_secret=rewrapped(row.sealed_previous_secret)))
            operator = Identity(subject=actor, role="operator")
            await audit_log.record_all(session, audit, [
                audit_log.Audited(operator, "webhook.secret_rewrapped", "webhook", row.id) for row in stale])
        return len(stale)

    async def list_deliveries(self, identity: Identity, subscription_id: str, limit: int, cursor: str | None,
                              status: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, each with every attempt."""
        query = (
            select(deliveries.c.position, deliveries.c.id, deliveries.c.event_id, notifications.c.event_type,
                   deliveries.c.status, deliveries.c.created_at, deliveries.c.updated_at, deliveries.c.completed_at,
                   deliveries.c.next_attempt_at)
            .select_from(deliveries.join(notifications, notifications.c.id == deliveries.c.notification_id))
            .where(deliveries.c.subscription_id == subscription_id, deliveries.c.channel == "webhook")
        )
        if status:
            query = query.where(deliveries.c.status.in_(DUE) if status == "pending" else deliveries.c.status == status)
        query = newest_first(query, deliveries.c.position, limit, cursor)
        async with self.read_sessions() as session:
            await _find(session, identity, subscription_id)
            rows = (await session.execute(query)).all()
            page = rows[:limit]
            attempts: dict[str, list[dict[str, Any]]] = {row.id: [] for row in page}
            if page:
                for attempt in (await session.execute(
                    select(delivery_attempts).where(delivery_attempts.c.delivery_id.in_(list(attempts)))
                    .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
                )).all():
                    attempts[attempt.delivery_id].append({
                        "attempt": attempt.attempt, "at": attempt.started_at, "status_code": attempt.status_code,
                        "duration_ms": attempt.duration_ms, "error": attempt.error, "outcome": attempt.outcome})
        following = next_cursor(rows, limit)
        items = [{
            "id": row.id, "event_id": row.event_id, "event_type": row.event_type,
            "status": as_seen(row.status, 0)[0],
            "created_at": row.created_at, "updated_at": row.updated_at, "completed_at": row.completed_at,
            "next_attempt_at": row.next_attempt_at if row.status in DUE else None,
            "attempts": attempts[row.id],
        } for row in page]
        return items, following
