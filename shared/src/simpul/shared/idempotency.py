"""`Idempotency-Key` on POST, safe through crashes: the same key and body answers as the first
request did, another body is 409, and a retry after the process died at any instant either
answers from the committed effect or runs the request once.

Keys are scoped to the caller and the path. The design follows Stripe's idempotency keys
(Brandur Leach, "Implementing Stripe-like Idempotency Keys in Postgres") with one atomic phase:
the key's row is written by the transaction of the effect itself, and by nothing else.

A keyed request's life:

1. The middleware reads the first part of the body before the route runs (all of a JSON body)
   and hashes the body as it streams to the route, so uploads are never held in memory for this.
   It writes nothing.
2. Effect: a use case that changes something calls `settle(executor, created(path))` (or
   `changed`, `not_replayable`) inside the transaction of its change. That INSERTs the key's row
   (`ON CONFLICT DO NOTHING`) with the answer's status and Location, `replay_from` (the path
   whose GET answers the request again) and the body's hash. If a row for the key is there
   already (another request with the key committed first; on PostgreSQL the INSERT waits for a
   concurrent one to end), settle raises, the transaction rolls back, and this request changed
   nothing. Effect and "this key is done" therefore commit together or not at all.
3. Answer: a success goes out as the route made it. A keyed request that is refused (4xx, 5xx)
   looks the key up: if another request with the key committed (it was a retry, or ran at the
   same moment), it answers as a retry does below instead of with its own refusal.
4. Kept answer: once a settled success has gone out, its status, content type, Location and
   body (up to 1 MB; never an answer that showed a secret: `not_replayable` or `Cache-Control:
   no-store`) are handed to the app's `AnswerWriter`, which writes them onto the key's row in
   batches, off the request's path. Best effort: lost if the process dies first or the queue
   is full.

What a request with a key that is done finds:
- the same body: the kept answer, as the first request got it (`Idempotent-Replayed: true`);
- the same body, and no answer kept (the retry came before the writer wrote it, or a crash or a
  full queue lost it): the answer rebuilt from the GET of `replay_from` through the app, with the
  caller's identity. It shows the resource as it is now, which may be later than the first
  answer showed it;
- another body: 409 `idempotency-key-reused`;
- `replay_from` empty (the answer showed a secret once, `not_replayable`) or the GET not 200:
  409 `idempotency-not-replayable`; the effect is not repeated either.

A request that died before its effect committed left nothing, so its retry simply runs: no key
is ever "in progress". Two requests with one key at the same moment both run up to their
effect; one commits, the other rolls back and answers with the first one's result. Rows that
older versions left (a kept answer in `body` is replayed like one kept today; a claim without an
effect, `status_code` NULL, answers 409 `idempotency-in-progress` until its `locked_until`, then is
replaced) are read as they were written; `holder` is no longer written.

Which guarantee holds where: every route that changes the database settles (the use cases call
`settle`), so it has one effect per key however the process dies. A POST that changes nothing
(a check, a preview) records nothing: a retry simply runs it again. A route that changes
something without settling would run again after a retry; the API tests list every POST route
of every service with its kind so that a new one cannot be added unnoticed. Keys are kept 24
hours; a retry after that is a new request. A route that settles before reading all of a
streamed body records its hash when the answer ends (the one write after the effect; none of
today's routes needs it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
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
    and_,
    bindparam,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.db import UTCDateTime
from simpul.shared.problems import Problem, Text, negotiate_language, problem_response
from simpul.shared.worker import Worker, periodic

log = logging.getLogger("simpul.idempotency")

HEADER = b"idempotency-key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
PURGE_SECONDS = 3600.0
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
KEY_TAKEN = Text(
    "Permintaan lain dengan Idempotency-Key yang sama sudah diproses; permintaan ini tidak mengubah apa pun.",
    "Another request with this Idempotency-Key was processed first; this one changed nothing.",
)


class KeyTaken(Problem):
    """Raised by `settle` when the key has a row already: the effect's transaction rolls back,
    and the middleware answers as a retry of the request that committed."""

    def __init__(self) -> None:
        super().__init__(409, KEY_TAKEN, slug="idempotency-key-taken")


@dataclass(slots=True)
class Claim:
    """The key the current request sent: its row, and what is known of the request's body."""

    table: Table
    scope_hash: str
    # Set by the middleware once the whole body has been read.
    request_hash: str | None = None
    # Settled before the whole body was read: its hash is recorded when the answer ends.
    settled_unhashed: bool = False
    # Set by `settle`: a success is then kept for replays when it is replayable.
    settlement: Settlement | None = None


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
    """The key sent by the request this task serves, if any. Read it in the request's own task:
    a task it starts (a group writer) sees the claim of whichever request started it."""
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


# INSERT ... ON CONFLICT DO NOTHING RETURNING, per table and dialect, built once.
_insert_statements: dict[tuple[Table, str], Any] = {}
_DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _insert_new_statement(table: Table, dialect: str):
    statement = _insert_statements.get((table, dialect))
    if statement is None:
        statement = (
            _DIALECT_INSERTS[dialect](table)
            .on_conflict_do_nothing(index_elements=[table.c.scope_hash])
            .returning(table.c.scope_hash)
        )
        _insert_statements[(table, dialect)] = statement
    return statement


def _dialect_name(executor: AsyncSession | AsyncConnection) -> str:
    if isinstance(executor, AsyncSession):
        return executor.get_bind().dialect.name
    return executor.dialect.name


async def settle(executor: AsyncSession | AsyncConnection, *settlements: Settlement | None) -> None:
    """Record, in the transaction of the effect, that these requests' keys are done (None: a
    request without a key). Raises `KeyTaken` (a 409 Problem), so the transaction rolls back,
    when a key is done already: a request with it committed first."""
    given = [settlement for settlement in settlements if settlement is not None]
    if not given:
        return
    table = given[0].claim.table
    now = datetime.now(UTC)
    # In one order, so that two transactions settling some of the same keys cannot deadlock.
    rows = sorted(
        (
            {
                "scope_hash": s.claim.scope_hash,
                "request_hash": s.claim.request_hash,
                "status_code": s.status,
                "location": s.location,
                "replay_from": s.replay_from,
                "created_at": now,
            }
            for s in given
        ),
        key=lambda row: row["scope_hash"],
    )
    statement = _insert_new_statement(table, _dialect_name(executor))
    written = set((await executor.execute(statement, rows)).scalars())
    if len(written) < len(rows):
        # Rows that no longer count give way: expired keys, and claims that an older version of
        # this middleware left without an effect once their lease is over.
        left = [row for row in rows if row["scope_hash"] not in written]
        await executor.execute(
            delete(table).where(
                table.c.scope_hash.in_([row["scope_hash"] for row in left]),
                or_(
                    table.c.created_at < now - RETENTION,
                    and_(table.c.status_code.is_(None), table.c.locked_until <= now),
                ),
            )
        )
        written.update((await executor.execute(statement, left)).scalars())
        if len(written) < len(rows):
            raise KeyTaken()
    for s in given:
        s.claim.settlement = s
        if s.claim.request_hash is None:
            s.claim.settled_unhashed = True


# The largest answer kept for replays; a longer one is rebuilt from `replay_from`.
MAX_KEPT_BODY = 1024 * 1024


def expired_keys_purge(engine: AsyncEngine, table: Table, *, seconds: float = PURGE_SECONDS) -> Worker[None]:
    """A worker deleting the keys older than RETENTION every `seconds` (a key met again is also
    removed then), so that keys used once do not pile up. Every replica runs it: the same DELETE
    of expired rows, whoever runs it first, and a concurrent one finds nothing left."""

    async def purge() -> None:
        async with engine.begin() as connection:
            await connection.execute(delete(table).where(table.c.created_at < datetime.now(UTC) - RETENTION))

    return periodic(f"idempotency-purge:{table.name}", purge, seconds=seconds,
                    expected=(SQLAlchemyError, OSError), logger=log)


class AnswerWriter:
    """Keeps the answers of settled, replayable successes on their keys' rows, after they went
    out: the middleware hands each over (`keep`), and a task writes them in batches, one UPDATE
    executemany in one transaction per batch, at most every `delay_seconds` (on SQLite, one
    write lock per batch, not per answer). `close` writes what is left (on shutdown).

    Best effort by design, so nothing is added to the request's critical path: an answer handed
    over is in memory only, and is lost when the process dies, when the queue is full
    (`max_pending`: dropped and logged) or when its write fails (logged). A retry that comes
    before its answer is written, or after it was lost, is answered from `replay_from` instead.
    """

    def __init__(self, engine: AsyncEngine, table: Table, *, delay_seconds: float = 0.05,
                 batch_size: int = 256, max_pending: int = 4096) -> None:
        # 50 ms: a few transactions a second under load (each commit costs the database more
        # than its rows); a retry seldom comes sooner, and one that does is rebuilt.
        self.engine = engine
        self.delay_seconds = delay_seconds
        self.batch_size = batch_size
        self.max_pending = max_pending
        # Only a row whose effect committed and whose answer may be replayed, once.
        self._statement = (
            update(table)
            .where(table.c.scope_hash == bindparam("match_hash"), table.c.body.is_(None),
                   table.c.replay_from.is_not(None))
            .values(status_code=bindparam("kept_status"), content_type=bindparam("kept_type"),
                    location=bindparam("kept_location"), body=bindparam("kept_body"))
        )
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        # Set while the task waits for more answers; `flush` ends the wait, and no other starts
        # while a flush is waiting.
        self._nap: asyncio.Future | None = None
        self._flushing = 0
        self._dropped = 0
        self._closed = False

    def keep(self, scope_hash: str, status: int, content_type: str | None, location: str | None,
             body: bytes) -> None:
        if self._closed:
            return
        if len(self._pending) >= self.max_pending:
            if self._dropped == 0:
                log.warning("idempotency answer queue full (%d): answers dropped, their replays are rebuilt",
                            self.max_pending)
            self._dropped += 1
            return
        self._pending.append({"match_hash": scope_hash, "kept_status": status, "kept_type": content_type,
                              "kept_location": location, "kept_body": body})
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_pending())

    async def flush(self) -> None:
        """Write every answer handed over so far."""
        self._flushing += 1
        try:
            _wake(self._nap)
            if self._task is not None:
                await self._task
            while self._pending:
                await self._write_batch()
        finally:
            self._flushing -= 1

    async def close(self) -> None:
        """Write every answer handed over so far (on shutdown); later ones are not kept."""
        self._closed = True
        await self.flush()

    async def _write_pending(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if len(self._pending) < self.batch_size and not (self._closed or self._flushing):
                    self._nap = loop.create_future()
                    timer = loop.call_later(self.delay_seconds, _wake, self._nap)
                    await self._nap
                    timer.cancel()
                    self._nap = None
                await self._write_batch()
        finally:
            self._task = None

    async def _write_batch(self) -> None:
        batch = self._pending[: self.batch_size]
        del self._pending[: self.batch_size]
        if self._dropped:
            log.warning("%d idempotency answers were dropped (queue full)", self._dropped)
            self._dropped = 0
        # In one order, so that writers of several replicas cannot deadlock.
        batch.sort(key=lambda row: row["match_hash"])
        try:
            async with self.engine.begin() as connection:
                await connection.execute(self._statement, batch)
        except Exception:
            log.warning("could not keep %d idempotency answers; their replays are rebuilt", len(batch),
                        exc_info=True)


def _wake(nap: asyncio.Future | None) -> None:
    if nap is not None and not nap.done():
        nap.set_result(None)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, table: Table, *, default_language: str = "id",
                 answers: AnswerWriter | None = None) -> None:
        self.app = app
        self.engine = engine
        self.table = table
        self.default_language = default_language
        # Where successes are kept for replays; without it every replay is rebuilt.
        self.answers = answers
        self._record_hash_statement = (
            update(table)
            .where(table.c.scope_hash == bindparam("match_hash"), table.c.request_hash.is_(None))
            .values(request_hash=bindparam("recorded_hash"))
        )

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
        await self._run(Claim(self.table, scope_hash(subject, scope["path"], key)), scope, receive, send, language)

    async def _run(self, claim: Claim, scope: Scope, receive: Receive, send: Send, language: str) -> None:
        digest = hashlib.sha256()
        body_read = False

        def hashed(message: Message) -> Message:
            nonlocal body_read
            if message["type"] == "http.request":
                digest.update(message.get("body", b""))
                body_read = not message.get("more_body", False)
            else:
                body_read = True
            if body_read:
                claim.request_hash = digest.hexdigest()
            return message

        # Read before the route runs: a body that comes in one part (every JSON body) is then
        # hashed by the time its effect settles, and recorded with it.
        early: Message | None = hashed(await receive())

        async def hashing_receive() -> Message:
            nonlocal early
            if early is not None:
                message, early = early, None
                return message
            if body_read:  # the body is over: what comes now is a disconnect
                return await receive()
            return hashed(await receive())

        async def rest_of_body() -> None:
            nonlocal early
            early = None
            while not body_read:
                hashed(await receive())

        refusal: list[Message] = []
        # The answer being kept for replays: status, content type, Location, and its body so far.
        kept: tuple[int, str | None, str | None] | None = None
        kept_body: list[bytes] = []
        kept_size = 0

        async def watching_send(message: Message) -> None:
            nonlocal kept, kept_size
            if message["type"] == "http.response.start":
                if message["status"] >= 400:
                    refusal.append(message)
                    return
                if claim.settled_unhashed:
                    # The server stops handing the body out once the answer starts.
                    await rest_of_body()
                kept = self._keepable(claim, message)
            elif refusal:
                refusal.append(message)
                if not message.get("more_body", False):
                    await self._refused(claim, refusal, rest_of_body, scope, send, language)
                return
            elif message["type"] == "http.response.body":
                if kept is not None:
                    chunk = message.get("body", b"")
                    kept_size += len(chunk)
                    if kept_size > MAX_KEPT_BODY:
                        kept, kept_body[:] = None, []
                    else:
                        kept_body.append(chunk)
                if not message.get("more_body", False):
                    await self._answer_ends(claim)
                    if kept is not None:
                        self.answers.keep(claim.scope_hash, *kept, b"".join(kept_body))
            await send(message)

        token = _current_claim.set(claim)
        try:
            await self.app(scope, hashing_receive, watching_send)
        finally:
            _current_claim.reset(token)

    def _keepable(self, claim: Claim, start: Message) -> tuple[int, str | None, str | None] | None:
        """Status, content type and Location of a success to keep for replays, or None: nothing
        settled, the answer showed a secret (`not_replayable`, `Cache-Control: no-store`)."""
        settlement = claim.settlement
        if self.answers is None or settlement is None or settlement.replay_from is None or start["status"] >= 300:
            return None
        content_type = location = None
        for name, value in start.get("headers", []):
            name = name.lower()
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"location":
                location = value.decode("latin-1")
            elif name == b"cache-control" and b"no-store" in value.lower():
                return None
        return start["status"], content_type, location

    async def _answer_ends(self, claim: Claim) -> None:
        """The answer of a success is complete, before the client sees its end: a key settled
        before the whole body was read gets the body's hash now."""
        if claim.settled_unhashed and claim.request_hash is not None:
            async with self.engine.begin() as connection:
                await connection.execute(
                    self._record_hash_statement,
                    {"match_hash": claim.scope_hash, "recorded_hash": claim.request_hash},
                )

    async def _refused(self, claim: Claim, refusal: list[Message], rest_of_body, scope: Scope, send: Send,
                       language: str) -> None:
        """A keyed request was refused or failed: if a request with the key committed (this one
        is its retry, or ran at the same moment and lost), answer as a retry of it; else send the
        refusal as it is."""
        row = await self._load(claim.scope_hash)
        if row is not None and row.status_code is not None:
            await rest_of_body()
            await self._answer_again(row, claim.request_hash, scope, send, language)
        elif row is not None:
            # A claim an older version left: in progress until its lease ends (at least 1 s more,
            # also when it ended just now: the next try replaces it).
            await self._in_progress(scope, send, language, _lease_end(row))
        else:
            for message in refusal:
                await send(message)

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

    async def _answer_again(self, row, request_hash: str | None, scope: Scope, send: Send, language: str) -> None:
        """The answer to a retry of a request that is done: replayed, rebuilt, or refused."""
        if row.request_hash is not None and request_hash != row.request_hash:
            await self._conflict(scope, send, language, KEY_REUSED, "idempotency-key-reused")
        elif row.body is not None:  # an answer kept by an older version of this middleware
            await _send_replay(send, row.status_code, row.content_type, row.location, row.body)
        elif row.replay_from is not None:
            await self._rebuild(row, scope, send, language)
        else:
            await self._conflict(scope, send, language, NOT_REPLAYABLE, "idempotency-not-replayable")

    async def _rebuild(self, row, scope: Scope, send: Send, language: str) -> None:
        """The answer of a request whose effect committed: what a GET of its `replay_from`
        answers now, asked through the app as the same caller."""
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
            await self._conflict(scope, send, language, ANSWER_LOST, "idempotency-not-replayable")
            return
        await _send_replay(send, row.status_code, content_type, row.location, b"".join(chunks))

    async def _in_progress(self, scope: Scope, send: Send, language: str, locked_until: datetime) -> None:
        seconds = max(1, math.ceil((locked_until - datetime.now(UTC)).total_seconds()))
        response = problem_response(
            409, IN_PROGRESS.render(language, seconds=seconds), language, slug="idempotency-in-progress",
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, _no_more_body, send)

    async def _conflict(self, scope: Scope, send: Send, language: str, text: Text, slug: str) -> None:
        await problem_response(409, text.render(language), language, slug=slug)(scope, _no_more_body, send)


async def _no_more_body() -> Message:
    # What a response sent after the request's body was consumed reads (it reads nothing).
    return {"type": "http.disconnect"}


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
    # A claim an older version left: held until its lease ends, or (before leases) until it expires.
    return row.locked_until or row.created_at + RETENTION
