"""`Idempotency-Key` on POST, safe through crashes: the same key and body answers as the first
request did, another body is 409, and a retry after the process died at any instant either
answers from the committed effect or runs the request once.

Keys are scoped to the caller and the path. The body is hashed while it streams to the route, so
uploads are never held in memory for this. The design follows Stripe's idempotency keys
(Brandur Leach, "Implementing Stripe-like Idempotency Keys in Postgres"): a key row with a lease,
and a recovery point that commits with the effect.

A key's life, one row of `idempotency_keys`:

1. Claim: the row is inserted with a lease (`holder`, a random token of this request, and
   `locked_until`, now + the lease, 30 s by default) in a transaction of its own.
2. Effect: a use case that changes something calls `settle(executor, created(path))` (or
   `changed`, `not_replayable`) inside the transaction of its change. That UPDATE records the
   answer's status and Location and `replay_from`, the path whose GET answers the request
   again; it matches only while this request still holds the key, so a request that lost its
   lease (ran past it and a retry took over) rolls its change back instead of making a second
   one. Effect and "this key is done" therefore commit together or not at all.
3. Answer: once the route's answer is complete, it is kept (successes up to 1 MB) before the
   client sees its end. A refused or failed request frees the key, unless its effect committed.

What a retry with the key finds:
- an answer kept: it is replayed (`Idempotent-Replayed: true`); an answer that showed a secret
  once (`Cache-Control: no-store`) is not kept, and the retry is refused with 409;
- the effect committed but no answer kept (the process died in between): the answer is rebuilt
  from the GET of `replay_from` through the app, with the caller's identity. It shows the
  resource as it is now, which may be later than the first answer would have shown it;
- no effect yet, lease running: 409 `idempotency-in-progress` with `Retry-After` (seconds until
  the lease ends);
- no effect, lease over (the holder died, or runs past its lease): the retry takes the key over
  (compare-and-set on the lease, so one of two retries wins) and runs the request. That is safe
  because an effect that had committed would have settled the key in its own transaction.

Which guarantee holds where: every route that changes the database settles (the use cases call
`settle`), so it has one effect per key however the process dies. A POST that changes nothing
(a check, a preview) has nothing to settle: after a crash it simply runs again. A route that
changes something without settling would run again after a crash; the API tests list every
POST route of every service with its kind so that a new one cannot be added unnoticed. Keys are
kept 24 hours after their claim; a retry after that is a new request.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.db import UTCDateTime
from simpul.shared.problems import Problem, Text, negotiate_language, problem_response

HEADER = b"idempotency-key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
DEFAULT_LEASE_SECONDS = 30.0
MAX_STORED_BODY = 1_000_000
# Headers of the POST that would make the GET rebuilding its answer conditional or carry a body.
NOT_FOR_REBUILD = {b"content-length", b"content-type", b"transfer-encoding", b"if-none-match", b"if-modified-since"}

TABLE_NAME = "idempotency_keys"


def initial_idempotency_columns() -> list[Column]:
    """The table as each service's first migration created it."""
    return [
        Column("scope_hash", String(64), primary_key=True),
        Column("request_hash", String(64), nullable=True),
        Column("status_code", Integer, nullable=True),
        Column("content_type", String(200), nullable=True),
        Column("location", String(2000), nullable=True),
        Column("body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
    ]


def idempotency_lease_columns() -> list[Column]:
    """Added by each service's "idempotency lease" migration (see `add_lease_columns`)."""
    return [
        Column("holder", String(32), nullable=True),
        Column("locked_until", UTCDateTime(), nullable=True),
        Column("replay_from", String(2000), nullable=True),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    return Table(TABLE_NAME, metadata, *initial_idempotency_columns(), *idempotency_lease_columns())


def add_lease_columns(op: Any) -> None:
    """The upgrade of each service's "idempotency lease" migration (`op` is alembic's)."""
    with op.batch_alter_table(TABLE_NAME) as batch:
        for column in idempotency_lease_columns():
            batch.add_column(column)
    # A key claimed before this revision has no lease, and nothing tells whether its effect
    # committed: it stays in progress until it expires, 24 hours after its claim, as it did.
    table = idempotency_table(MetaData())
    op.execute(
        update(table)
        .where(table.c.status_code.is_(None))
        .values(locked_until=datetime.now(UTC) + RETENTION)
    )


def drop_lease_columns(op: Any) -> None:
    """The downgrade of each service's "idempotency lease" migration."""
    with op.batch_alter_table(TABLE_NAME) as batch:
        for column in reversed(idempotency_lease_columns()):
            batch.drop_column(column.name)


def scope_hash(subject: str, path: str, key: str) -> str:
    """The row of a key: one per caller, path and key."""
    return hashlib.sha256(f"{subject}\0{path}\0{key}".encode()).hexdigest()


BAD_KEY = Text(
    "Idempotency-Key harus 1-255 karakter ASCII yang terlihat.",
    "Idempotency-Key must be 1-255 visible ASCII characters.",
)
KEY_REUSED = Text(
    "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi lain.",
    "This Idempotency-Key was already used with a different request body.",
)
NOT_REPLAYABLE = Text(
    "Permintaan dengan Idempotency-Key ini sudah diproses; jawabannya tidak disimpan (berisi rahasia yang "
    "hanya ditampilkan sekali, atau tidak dapat dibaca ulang).",
    "A request with this Idempotency-Key was processed already; its answer was not kept (it held a secret "
    "that is shown only once, or cannot be read again).",
)
ANSWER_LOST = Text(
    "Permintaan dengan Idempotency-Key ini sudah diproses, tetapi jawabannya tidak dapat disusun kembali.",
    "A request with this Idempotency-Key was processed already, but its answer cannot be rebuilt.",
)
IN_PROGRESS = Text(
    "Permintaan dengan Idempotency-Key ini masih diproses; coba lagi setelah {seconds} detik.",
    "A request with this Idempotency-Key is still being processed; try again in {seconds} s.",
)
TAKEN_OVER = Text(
    "Permintaan ini melewati batas waktunya dan permintaan lain dengan Idempotency-Key yang sama "
    "mengambil alih; permintaan ini tidak mengubah apa pun.",
    "This request ran past its lease and a retry with the same Idempotency-Key took over; this one "
    "changed nothing.",
)


@dataclass(slots=True)
class Claim:
    """The key the current request holds: its row, and the lease token that fences its writes."""

    table: Table
    scope_hash: str
    holder: str
    # Set by the middleware once the whole body has been read (a settled key then refuses
    # another body even if the answer was never kept).
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the effect's transaction records for a replay: the answer's status and Location, and
    the path whose GET rebuilds its body (None: the answer is not replayable)."""

    claim: Claim
    status: int
    location: str | None
    replay_from: str | None


_current_claim: ContextVar[Claim | None] = ContextVar("simpul_idempotency_claim", default=None)


def current_claim() -> Claim | None:
    """The key held by the request this task serves, if it sent one. Read it in the request's
    own task: a task it starts (a group writer) sees the claim of whichever request started it."""
    return _current_claim.get()


def created(path: str) -> Settlement | None:
    """The current request created what `path` reads: a replay answers 201, Location `path`."""
    claim = current_claim()
    return None if claim is None else Settlement(claim, 201, path, path)


def changed(path: str) -> Settlement | None:
    """The current request changed what `path` reads: a replay answers 200 with it."""
    claim = current_claim()
    return None if claim is None else Settlement(claim, 200, None, path)


def not_replayable() -> Settlement | None:
    """The current request's answer shows a secret once, or cannot be read again: a replay is
    refused with 409 (the effect is not repeated either)."""
    claim = current_claim()
    return None if claim is None else Settlement(claim, 200, None, None)


def _settle_statement(table: Table):
    return (
        update(table)
        .where(
            table.c.scope_hash == bindparam("match_hash"),
            table.c.holder == bindparam("match_holder"),
            table.c.status_code.is_(None),
        )
        .values(
            status_code=bindparam("settled_status"),
            location=bindparam("settled_location"),
            replay_from=bindparam("settled_replay_from"),
            request_hash=bindparam("settled_request_hash"),
        )
    )


async def settle(executor: AsyncSession | AsyncConnection, *settlements: Settlement | None) -> None:
    """Record, in the transaction of the effect, that these requests' keys are done (None: a
    request without a key). Raises a 409 Problem, so the transaction rolls back, when a key is
    no longer held by its request: a retry took it over after the lease ran out."""
    given = [settlement for settlement in settlements if settlement is not None]
    if not given:
        return
    table = given[0].claim.table
    statement = _settle_statement(table)
    parameters = [
        {
            "match_hash": s.claim.scope_hash,
            "match_holder": s.claim.holder,
            "settled_status": s.status,
            "settled_location": s.location,
            "settled_replay_from": s.replay_from,
            "settled_request_hash": s.claim.request_hash,
        }
        for s in given
    ]
    if len(given) == 1:
        if (await executor.execute(statement, parameters[0])).rowcount != 1:
            raise Problem(409, TAKEN_OVER, slug="idempotency-key-taken-over")
        return
    # A batch UPDATE does not report its rows on every driver (asyncpg): the keys are locked and
    # checked first, then each is written.
    hashes = sorted(s.claim.scope_hash for s in given)
    held = dict(
        (
            await executor.execute(
                select(table.c.scope_hash, table.c.holder)
                .where(table.c.scope_hash.in_(hashes), table.c.status_code.is_(None))
                .order_by(table.c.scope_hash)
                .with_for_update()
            )
        ).all()
    )
    if any(held.get(s.claim.scope_hash) != s.claim.holder for s in given):
        raise Problem(409, TAKEN_OVER, slug="idempotency-key-taken-over")
    await executor.execute(statement, parameters)


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        engine: AsyncEngine,
        table: Table,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        default_language: str = "id",
    ) -> None:
        self.app = app
        self.engine = engine
        self.table = table
        self.lease = timedelta(seconds=lease_seconds)
        self.default_language = default_language
        self._claim_statement = insert(table)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = None
        language_header = None
        for name, value in scope["headers"]:
            if name == HEADER:
                key = value.decode("latin-1")
            elif name == b"accept-language":
                language_header = value.decode("latin-1")
        if key is None:
            await self.app(scope, receive, send)
            return
        language = negotiate_language(language_header, self.default_language)
        if not KEY_PATTERN.match(key):
            await problem_response(400, BAD_KEY.render(language), language, slug="invalid-idempotency-key")(
                scope, receive, send
            )
            return
        identity = scope.get("state", {}).get("identity")
        subject = identity.subject if identity is not None else "anonymous"
        claim = Claim(self.table, scope_hash(subject, scope["path"], key), secrets.token_hex(16))

        # A new key is the common case: claim it straight away (one transaction) and look at the
        # stored row only when the key turns out to be taken.
        if not await self._claim(claim):
            row = await self._load(claim.scope_hash)
            if row is not None and row.status_code is not None:
                await self._answer_again(row, scope, receive, send, language)
                return
            if row is not None and _lease_end(row) > datetime.now(UTC):
                await self._in_progress(scope, receive, send, language, _lease_end(row))
                return
            # Gone (expired, or freed by a refused request) or abandoned by a holder past its
            # lease: one of the retries that find it so takes it.
            taken = await (self._claim(claim) if row is None else self._take_over(claim))
            if not taken:
                await self._in_progress(scope, receive, send, language, None)
                return
        await self._run(claim, scope, receive, send)

    async def _run(self, claim: Claim, scope: Scope, receive: Receive, send: Send) -> None:
        digest = hashlib.sha256()
        body_read = False

        async def hashing_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request":
                digest.update(message.get("body", b""))
                body_read = not message.get("more_body", False)
            else:
                body_read = True
            if body_read:
                claim.request_hash = digest.hexdigest()
            return message

        status = 500
        content_type = None
        location = None
        no_store = False
        chunks: list[bytes] = []
        size = 0
        recorded = False

        async def capturing_send(message: Message) -> None:
            nonlocal status, content_type, location, size, no_store, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
                # A kept answer is compared by the hash of the whole body, also where the route
                # did not read all of it; the server stops handing the body out once it answers.
                while status < 400 and not body_read:
                    await hashing_receive()
                for name, value in message.get("headers", []):
                    lowered = name.lower()
                    if lowered == b"cache-control" and b"no-store" in value.lower():
                        no_store = True
                    elif lowered == b"content-type":
                        content_type = value.decode("latin-1")
                    elif lowered == b"location":
                        location = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                if size <= MAX_STORED_BODY:
                    chunks.append(body)
                if not message.get("more_body", False):
                    # Kept before the client sees the end of the answer, so a retry that follows
                    # it finds the answer rather than a request still "in progress".
                    recorded = True
                    if _keepable(status, size):
                        # An answer marked no-store (a one-time secret) is not kept: the key
                        # stays used, but a replay is refused instead of repeating the secret.
                        body = None if no_store else b"".join(chunks)
                        await self._keep_answer(claim, status, content_type, location, body)
                    else:
                        await self._release(claim)
            await send(message)

        token = _current_claim.set(claim)
        try:
            await self.app(scope, hashing_receive, capturing_send)
        finally:
            _current_claim.reset(token)
            if not recorded:  # the route failed before its answer ended: free the key for a retry
                await self._release(claim)

    async def _claim(self, claim: Claim) -> bool:
        """Take the key for this request; False when a row for it exists already."""
        now = datetime.now(UTC)
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    self._claim_statement,
                    {
                        "scope_hash": claim.scope_hash,
                        "created_at": now,
                        "holder": claim.holder,
                        "locked_until": now + self.lease,
                    },
                )
        except IntegrityError:
            return False
        return True

    async def _take_over(self, claim: Claim) -> bool:
        """Take a key whose holder's lease ran out without an effect; False if another retry
        took it first or the holder settled it meanwhile."""
        now = datetime.now(UTC)
        table = self.table
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(table)
                .where(
                    table.c.scope_hash == claim.scope_hash,
                    table.c.status_code.is_(None),
                    table.c.locked_until <= now,
                )
                .values(holder=claim.holder, locked_until=now + self.lease, created_at=now)
            )
        return result.rowcount == 1

    async def _keep_answer(
        self, claim: Claim, status: int, content_type: str | None, location: str | None, body: bytes | None
    ) -> None:
        table = self.table
        async with self.engine.begin() as connection:
            await connection.execute(
                update(table)
                .where(table.c.scope_hash == claim.scope_hash, table.c.holder == claim.holder)
                .values(
                    request_hash=claim.request_hash,
                    status_code=status,
                    content_type=content_type,
                    location=location,
                    body=body,
                )
            )

    async def _release(self, claim: Claim) -> None:
        """Free the key for a retry, unless this request's effect committed (settled it)."""
        table = self.table
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(table).where(
                    table.c.scope_hash == claim.scope_hash,
                    table.c.holder == claim.holder,
                    table.c.status_code.is_(None),
                )
            )

    async def _load(self, scope_hash: str):
        """The key's row, or None when there is none or it has expired (then it is removed)."""
        table = self.table
        async with self.engine.begin() as connection:
            row = (await connection.execute(select(table).where(table.c.scope_hash == scope_hash))).first()
            if row is None:
                return None
            expired_before = datetime.now(UTC) - RETENTION
            if row.created_at < expired_before:
                await connection.execute(
                    delete(table).where(table.c.scope_hash == scope_hash, table.c.created_at < expired_before)
                )
                return None
            return row

    async def _answer_again(self, row, scope: Scope, receive: Receive, send: Send, language: str) -> None:
        """The answer to a retry of a request that is done: replayed, rebuilt, or refused."""
        if row.request_hash is not None and await _hash_body(receive) != row.request_hash:
            await self._conflict(scope, receive, send, language, KEY_REUSED, "idempotency-key-reused")
        elif row.body is not None:
            await _send_replay(send, row.status_code, row.content_type, row.location, row.body)
        elif row.replay_from is not None:
            await self._rebuild(row, scope, receive, send, language)
        else:
            await self._conflict(scope, receive, send, language, NOT_REPLAYABLE, "idempotency-not-replayable")

    async def _rebuild(self, row, scope: Scope, receive: Receive, send: Send, language: str) -> None:
        """The answer of a request whose effect committed but whose answer was not kept: what a
        GET of its `replay_from` answers now, asked through the app as the same caller."""
        path, _, query = row.replay_from.partition("?")
        read_scope = {
            **scope,
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(name, value) for name, value in scope["headers"] if name not in NOT_FOR_REBUILD],
            "state": dict(scope.get("state", {})),
        }
        status = 0
        content_type = None
        chunks: list[bytes] = []

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(read_scope, no_body, capture)
        if status != 200:
            await self._conflict(scope, receive, send, language, ANSWER_LOST, "idempotency-not-replayable")
            return
        await _send_replay(send, row.status_code, content_type, row.location, b"".join(chunks))

    async def _in_progress(
        self, scope: Scope, receive: Receive, send: Send, language: str, locked_until: datetime | None
    ) -> None:
        seconds = 1
        if locked_until is not None:
            seconds = max(1, math.ceil((locked_until - datetime.now(UTC)).total_seconds()))
        response = problem_response(
            409, IN_PROGRESS.render(language, seconds=seconds), language, slug="idempotency-in-progress",
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, receive, send)

    async def _conflict(self, scope, receive, send, language: str, text: Text, slug: str) -> None:
        await problem_response(409, text.render(language), language, slug=slug)(scope, receive, send)


async def _send_replay(send: Send, status: int, content_type: str | None, location: str | None, body: bytes) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if location:
        headers.append((b"location", location.encode("latin-1")))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _lease_end(row) -> datetime:
    # A key claimed by a process older than the lease (none recorded) is held until it expires.
    return row.locked_until or row.created_at + RETENTION


def _keepable(status: int, size: int) -> bool:
    # Only successes are kept: a refused request is refused again on retry anyway, and its body
    # may not have been read in full, so its hash would not be comparable.
    return status < 400 and size <= MAX_STORED_BODY


async def _hash_body(receive: Receive) -> str:
    digest = hashlib.sha256()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        digest.update(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return digest.hexdigest()
