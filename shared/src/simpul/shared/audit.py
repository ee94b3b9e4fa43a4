"""One append-only, hash-chained audit log per service.

Every administrative or decision action appends a row in the transaction of its change (a
change without its row cannot commit). Each row carries the hash of the one before it, so an
altered, deleted or reordered row breaks the chain at that point; `verify` recomputes it and
names the first broken sequence. The chain's head is timestamped now and then by the system's
RFC 3161 TSA (`audit_stamper`), so a rewrite of the whole tail, or its truncation behind a
stamp, is found too. Rows hold ids and small facts only: no secrets, no personal data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.responses import JSONResponse, Response

from simpul.shared.db import UTCDateTime, advisory_lock_key, read_session_factory, session_factory, utcnow
from simpul.shared.identity import Identity, require_roles
from simpul.shared.internal import InternalClient
from simpul.shared.pagination import BAD_CURSOR, Page, decode_cursor, encode_cursor, page_params
from simpul.shared.openapi import problems
from simpul.shared.problems import Problem
from simpul.shared.requestid import current_request_id
from simpul.shared.worker import Worker, periodic

log = logging.getLogger(__name__)

LOG_TABLE = "audit_log"
STAMP_TABLE = "audit_stamps"
GENESIS = "0" * 64
SUCCEEDED = "succeeded"
FAILED = "failed"
# Rows read per query while verifying: the check streams, whatever the log's length.
VERIFY_BATCH = 1000
_LOCK_KEY = advisory_lock_key("simpul:audit_log")


def _log_columns() -> list[Column]:
    return [
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime(), nullable=False),
        # Who: the client (token subject), its role and tenant; "system" for the services' own work.
        Column("actor", String(128), nullable=False),
        Column("actor_role", String(32), nullable=False),
        Column("actor_tenant", String(64), nullable=True),
        Column("action", String(64), nullable=False),
        Column("object_type", String(64), nullable=False),
        Column("object_id", String(128), nullable=False),
        Column("request_id", String(128), nullable=True),
        Column("outcome", String(16), nullable=False),
        # Canonical JSON text (sorted keys), hashed as stored.
        Column("details", Text, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    ]


def _stamp_columns() -> list[Column]:
    return [
        # One stamp per head: the primary key makes "stamp this head once" safe among replicas.
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("head_hash", String(64), nullable=False),
        Column("token", LargeBinary, nullable=False),
        Column("stamped_at", UTCDateTime(), nullable=False),
    ]


@dataclass(frozen=True)
class AuditTables:
    log: Table
    stamps: Table


def audit_tables(metadata: MetaData) -> AuditTables:
    """The audit log and its stamps on a service's MetaData."""
    return AuditTables(Table(LOG_TABLE, metadata, *_log_columns()), Table(STAMP_TABLE, metadata, *_stamp_columns()))


def create_audit_tables(op: Any) -> None:
    """The upgrade of each service's "audit log" migration (`op` is alembic's)."""
    op.create_table(LOG_TABLE, *_log_columns())
    op.create_table(STAMP_TABLE, *_stamp_columns())


def drop_audit_tables(op: Any) -> None:
    op.drop_table(STAMP_TABLE)
    op.drop_table(LOG_TABLE)


SYSTEM = Identity(subject="system", role="system")


# The columns a row's hash covers, in `row_hash`'s order.
HASHED_FIELDS = ("prev_hash", "seq", "at", "actor", "actor_role", "actor_tenant", "action", "object_type", "object_id",
                 "request_id", "outcome", "details")


def row_hash(prev_hash: str, seq: int, at: datetime, actor: str, actor_role: str, actor_tenant: str | None,
             action: str, object_type: str, object_id: str, request_id: str | None, outcome: str,
             details: str) -> str:
    """SHA-256 over a canonical encoding of the row (a JSON array in a fixed order, the time in
    UTC to the microsecond) and the previous row's hash."""
    encoded = orjson.dumps([
        prev_hash, seq, at.isoformat(timespec="microseconds"), actor, actor_role, actor_tenant,
        action, object_type, object_id, request_id, outcome, details,
    ])
    return hashlib.sha256(encoded).hexdigest()


def canonical_details(details: dict[str, Any] | None) -> str:
    return orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class Audited:
    """One action to append. `request_id`: of the request that asked for it, when the append runs
    in another task (a group writer's); by default the current request's."""

    actor: Identity
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] | None = None
    outcome: str = SUCCEEDED
    request_id: str | None = None


async def record(
    executor: AsyncSession | AsyncConnection,
    tables: AuditTables,
    actor: Identity,
    action: str,
    object_type: str,
    object_id: str,
    *,
    details: dict[str, Any] | None = None,
    outcome: str = SUCCEEDED,
) -> int:
    """Append one row in the transaction of `executor` (a session or its connection); its
    sequence number."""
    return (await record_all(executor, tables, [Audited(actor, action, object_type, object_id, details, outcome)]))[0]


async def record_all(executor: AsyncSession | AsyncConnection, tables: AuditTables,
                     actions: Sequence[Audited]) -> list[int]:
    """Append rows in the transaction of `executor`, in order; their sequence numbers. Appends are
    serialised so the chain stays linear with several replicas: on PostgreSQL by a
    transaction-level advisory lock held until the commit, on SQLite by the writer's lock every
    write transaction takes up front (BEGIN IMMEDIATE). Call it last in the transaction, after
    every row lock the change takes: the lock is then held for the shortest time, and never while
    waiting for a row another appender has locked (a deadlock)."""
    dialect = executor.dialect if isinstance(executor, AsyncConnection) else executor.bind.dialect
    if dialect.name == "postgresql":
        await executor.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    log_table = tables.log
    last = (
        await executor.execute(select(log_table.c.seq, log_table.c.hash).order_by(log_table.c.seq.desc()).limit(1))
    ).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    now = utcnow()
    request_id = current_request_id()
    rows = []
    for action in actions:
        seq += 1
        values = {
            "seq": seq,
            "at": now,
            "actor": action.actor.subject,
            "actor_role": action.actor.role,
            "actor_tenant": action.actor.tenant,
            "action": action.action,
            "object_type": action.object_type,
            "object_id": str(action.object_id),
            "request_id": action.request_id or request_id,
            "outcome": action.outcome,
            "details": canonical_details(action.details),
            "prev_hash": prev_hash,
        }
        values["hash"] = prev_hash = row_hash(**values)
        rows.append(values)
    if rows:
        await executor.execute(insert(log_table), rows)
    return [row["seq"] for row in rows]


@dataclass(frozen=True)
class Verification:
    valid: bool
    checked: int
    first_broken: int | None
    # altered | missing | relinked | stamp: why the chain breaks at first_broken.
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "checked": self.checked, "first_broken": self.first_broken,
                "reason": self.reason}


@dataclass(frozen=True)
class Stamp:
    seq: int
    head_hash: str
    token: bytes


class ChainCheck:
    """The chain recomputed row by row (rows in the order of their sequence numbers), each row
    against its stamp if it has one. Pure: fed by `AuditLog.verify` in batches."""

    def __init__(self) -> None:
        self.checked = 0
        self.expected_seq = 1
        self.prev_hash = GENESIS
        self.broken: Verification | None = None

    def feed(self, rows: Iterable[Any], stamps: Iterable[Stamp] = ()) -> bool:
        """`stamps`: those of these rows. False once the chain is broken (no more rows are needed)."""
        stamped = {stamp.seq: stamp for stamp in stamps}
        for row in rows:
            self.checked += 1
            if row.seq != self.expected_seq:
                # A deleted row leaves a gap; rows moved to other numbers fail their own hash.
                return self._break(min(row.seq, self.expected_seq), "missing")
            if row.prev_hash != self.prev_hash:
                return self._break(row.seq, "relinked")
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            if row_hash(**fields) != row.hash:
                return self._break(row.seq, "altered")
            stamp = stamped.get(row.seq)
            if stamp is not None and (stamp.head_hash != row.hash or not stamp_covers(stamp.token, row.hash)):
                return self._break(row.seq, "stamp")
            self.expected_seq = row.seq + 1
            self.prev_hash = row.hash
        return True

    def result(self, last_stamped: int | None) -> Verification:
        """`last_stamped`: the sequence of the newest stamp, if any."""
        if self.broken is not None:
            return self.broken
        # A stamp beyond the last row: the tail it covered was cut off.
        if last_stamped is not None and last_stamped >= self.expected_seq:
            return Verification(False, self.checked, self.expected_seq, "missing")
        return Verification(True, self.checked, None)

    def _break(self, seq: int, reason: str) -> bool:
        self.broken = Verification(False, self.checked, seq, reason)
        return False


# -- RFC 3161: the request for a head, and the check that a token covers it --------------------

def head_digest(head_hash: str) -> bytes:
    """The message a stamp covers is the head's hash (32 bytes); the TSA gets its SHA-256."""
    return hashlib.sha256(bytes.fromhex(head_hash)).digest()


def timestamp_request(head_hash: str) -> bytes:
    # asn1crypto is imported here: only the stamping worker and the check need it.
    from asn1crypto import tsp

    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": head_digest(head_hash)},
        "nonce": secrets.randbits(63),
        "cert_req": True,
    }).dump()


def token_of(reply: bytes) -> bytes:
    """The TimeStampToken of a granted TimeStampResp; ValueError for a rejection or garbage."""
    from asn1crypto import tsp

    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        if status not in ("granted", "granted_with_mods") or token.native is None:
            raise ValueError(f"timestamp not granted: {status}")
        return token.dump()
    except (TypeError, KeyError) as exc:
        raise ValueError("not a TimeStampResp") from exc


def stamp_covers(token: bytes, head_hash: str) -> bool:
    """Whether the token's message imprint is that of the head."""
    from asn1crypto import cms, tsp

    try:
        signed = cms.ContentInfo.load(token)["content"]
        # Loaded as TSTInfo explicitly: `.parsed` knows the type only once asn1crypto.tsp is imported.
        info = tsp.TSTInfo.load(bytes(signed["encap_content_info"]["content"]))
        imprint = info["message_imprint"]
        return (imprint["hash_algorithm"]["algorithm"].native == "sha256"
                and imprint["hashed_message"].native == head_digest(head_hash))
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


# -- the log of one service -------------------------------------------------------------------

class AuditLog:
    """Reading, verifying and stamping one service's log."""

    def __init__(self, engine: AsyncEngine, tables: AuditTables) -> None:
        self.engine = engine
        self.tables = tables
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.read_sessions: async_sessionmaker[AsyncSession] = read_session_factory(engine)

    async def page(self, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Oldest first; the cursor is the last sequence number seen."""
        log_table = self.tables.log
        query = select(log_table).order_by(log_table.c.seq).limit(limit + 1)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, int) or isinstance(after, bool):
                raise Problem(400, BAD_CURSOR, slug="invalid-cursor",
                              errors=[{"field": "cursor", "message": "invalid"}])
            query = query.where(log_table.c.seq > after)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        items = [entry_view(row) for row in rows[:limit]]
        return items, encode_cursor([rows[limit - 1].seq]) if len(rows) > limit else None

    async def verify(self) -> Verification:
        log_table, stamps = self.tables.log, self.tables.stamps
        check = ChainCheck()
        async with self.read_sessions() as session:
            last_stamped = (await session.execute(select(func.max(stamps.c.seq)))).scalar_one()
            after = 0
            while True:
                rows = (await session.execute(
                    select(log_table).where(log_table.c.seq > after).order_by(log_table.c.seq).limit(VERIFY_BATCH)
                )).all()
                if not rows:
                    break
                # Stamps a batch at a time as well (a token is ~3 KB, and there may be one per interval).
                batch_stamps = (await session.execute(
                    select(stamps).where(stamps.c.seq.between(rows[0].seq, rows[-1].seq))
                )).all()
                if not check.feed(rows, (Stamp(row.seq, row.head_hash, row.token) for row in batch_stamps)):
                    break
                after = rows[-1].seq
        return check.result(last_stamped)

    async def stamp_head(self, timestamp: Callable[[bytes], Awaitable[bytes]]) -> int | None:
        """Timestamp the head unless it has a stamp already; the sequence stamped, or None.
        `timestamp` sends a DER TimeStampReq to the TSA and returns its DER reply."""
        log_table, stamps = self.tables.log, self.tables.stamps
        async with self.read_sessions() as session:
            head = (await session.execute(
                select(log_table.c.seq, log_table.c.hash).order_by(log_table.c.seq.desc()).limit(1)
            )).first()
            if head is None:
                return None
            if (await session.execute(select(stamps.c.seq).where(stamps.c.seq == head.seq))).first():
                return None
        token = token_of(await timestamp(timestamp_request(head.hash)))
        if not stamp_covers(token, head.hash):
            raise ValueError("the TSA's token does not cover the head it was asked for")
        try:
            async with self.sessions.begin() as session:
                await session.execute(
                    insert(stamps).values(seq=head.seq, head_hash=head.hash, token=token, stamped_at=utcnow())
                )
        except IntegrityError:
            return None  # another replica stamped this head first
        return head.seq


def entry_view(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": {"id": row.actor, "role": row.actor_role, "tenant": row.actor_tenant},
        "action": row.action,
        "object": {"type": row.object_type, "id": row.object_id},
        "request_id": row.request_id,
        "outcome": row.outcome,
        "details": orjson.loads(row.details),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


# -- stamping: the head sent to the signatures service's TSA now and then -----------------------

class StampUnavailable(Exception):
    """The TSA gave no timestamp this round (none configured, or it refused)."""


TSA_PATH = "/internal/tsa"


def audit_stamper(audit: AuditLog, tsa: InternalClient, *, seconds: float) -> Worker[None]:
    """Every `seconds`, the head gets a timestamp unless it has one; several replicas may run it
    (the stamp's primary key keeps one per head)."""

    async def timestamp(request_der: bytes) -> bytes:
        response = await tsa.request("POST", TSA_PATH, content=request_der,
                                     headers={"Content-Type": "application/timestamp-query"})
        if response.status_code != 200:
            raise StampUnavailable(f"the TSA answered {response.status_code}")
        return response.content

    async def tick() -> None:
        seq = await audit.stamp_head(timestamp)
        if seq is not None:
            log.info("audit log head %d timestamped", seq)

    # The first stamp after one interval (a process that starts and stops at once asks nothing);
    # a TSA that is down is asked again at the next interval, not sooner.
    return periodic("audit-stamper", tick, seconds=seconds, start_after=seconds, backoff_base=seconds,
                    backoff_cap=seconds,
                    expected=(httpx.HTTPError, StampUnavailable, ValueError))


class AuditStamping:
    """The stamper and its client of the signatures service's TSA, started and stopped together."""

    def __init__(self, settings: Any, audit_log: AuditLog) -> None:
        self.tsa = InternalClient(caller=settings.service_name, target="signatures",
                                  base_url=settings.signatures_url, secret=settings.resolved_internal_secret())
        self.worker = audit_stamper(audit_log, self.tsa, seconds=settings.audit_stamp_seconds)

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.tsa.aclose()


# -- the admin endpoints, the same in every service ------------------------------------------

class AuditActor(BaseModel):
    id: str
    role: str
    tenant: str | None


class AuditObject(BaseModel):
    type: str
    id: str


class AuditEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"seq": 42, "at": "2026-03-01T02:05:00+00:00", "actor": {"id": "simpul-admin", "role": "admin", "tenant": None},
         "action": "service.published", "object": {"type": "service", "id": "REKOM-PINJAMAN-DAERAH"},
         "request_id": "0f9c2a3e6b7d4e21", "outcome": "success", "details": {"version": 1},
         "prev_hash": "5d41402abc4b2a76b9719d911017c592ae1f0c3e9b7d2a4c6e8f0a1b3c5d7e9f",
         "hash": "7b52009b64fd0a2a49e6d8a939753077792b0554fc1a3e5c7d9b2f4a6c8e0d1f"},
    ]})

    seq: int
    at: datetime
    actor: AuditActor
    action: str
    object: AuditObject
    request_id: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"valid": True, "checked": 1204, "first_broken": None, "reason": None},
    ]})

    valid: bool
    checked: int = Field(description="Rows read, up to and including the first broken one")
    first_broken: int | None = Field(description="Sequence number where the chain first breaks")
    reason: str | None = Field(description="altered | missing | relinked | stamp")


def audit_router(service_name: str) -> APIRouter:
    """`GET /v1/admin/audit/<service>` and `.../verify` over `app.state.audit` (admins only)."""
    router = APIRouter(tags=["admin"])
    admin_only = problems(s401="An access token is required", s403="The caller is not an admin")

    @router.get(f"/v1/admin/audit/{service_name}", response_model=Page[AuditEntry],
                responses={**problems(s400="The cursor is not valid"), **admin_only},
                summary=f"The {service_name} service's audit log, oldest first",
                operation_id=f"list{service_name.capitalize()}AuditEntries")
    async def audit_page(request: Request, page: tuple[int, str | None] = Depends(page_params),
                         _admin: Identity = Depends(require_roles("admin"))) -> Response:
        """Every state change the service recorded, oldest first, a page at a time: who, what, when,
        the request id, and the hash that chains each entry to the one before."""
        limit, cursor = page
        items, next_cursor = await request.app.state.audit.page(limit=limit, cursor=cursor)
        return JSONResponse({"items": items, "next_cursor": next_cursor}, headers=NO_STORE)

    @router.get(f"/v1/admin/audit/{service_name}/verify", response_model=AuditVerification, responses=admin_only,
                summary=f"Recompute the {service_name} service's audit hash chain",
                operation_id=f"verify{service_name.capitalize()}AuditChain")
    async def audit_verify(request: Request, _admin: Identity = Depends(require_roles("admin"))) -> Response:
        """Recompute the audit log's hash chain and its RFC 3161 stamps: whether it is intact, how many
        entries were checked, and the first broken one if any."""
        verification = await request.app.state.audit.verify()
        return JSONResponse(verification.as_dict(), headers=NO_STORE)

    return router


NO_STORE = {"Cache-Control": "no-store"}


# -- `python -m simpul.<service> verify-audit` ------------------------------------------------

def verify_audit_command(create_app: Callable[[Any], Any]) -> Callable[[Any], int]:
    """Exit 0 when the chain holds, 1 with the first broken sequence printed."""

    def run(settings: Any) -> int:
        audit: AuditLog = create_app(settings).state.audit
        verification = asyncio.run(_verify_and_close(audit))
        if verification.valid:
            print(f"{settings.service_name}: audit log valid, {verification.checked} rows checked")
            return 0
        print(f"{settings.service_name}: audit log broken at sequence {verification.first_broken} "
              f"({verification.reason}), {verification.checked} rows checked")
        return 1

    return run


async def _verify_and_close(audit: AuditLog) -> Verification:
    try:
        return await audit.verify()
    finally:
        await audit.engine.dispose()
