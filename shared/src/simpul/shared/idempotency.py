"""`Idempotency-Key` on POST: the same key and body replays the first answer; another body is 409.

Keys are scoped to the caller and the path. The body is hashed while it streams to the route, so
uploads are never held in memory for this.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.db import UTCDateTime

from simpul.shared.problems import Text, negotiate_language, problem_response

HEADER = b"idempotency-key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
MAX_STORED_BODY = 1_000_000

TABLE_NAME = "idempotency_keys"


def idempotency_columns() -> list[Column]:
    """Shared by the table below and each service's migration that creates it."""
    return [
        Column("scope_hash", String(64), primary_key=True),
        Column("request_hash", String(64), nullable=True),
        Column("status_code", Integer, nullable=True),
        Column("content_type", String(200), nullable=True),
        Column("location", String(2000), nullable=True),
        Column("body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    return Table(TABLE_NAME, metadata, *idempotency_columns())


BAD_KEY = Text(
    "Idempotency-Key harus 1-255 karakter ASCII yang terlihat.",
    "Idempotency-Key must be 1-255 visible ASCII characters.",
)
KEY_REUSED = Text(
    "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi lain.",
    "This Idempotency-Key was already used with a different request body.",
)
NOT_REPLAYABLE = Text(
    "Permintaan dengan Idempotency-Key ini sudah diproses dan jawabannya berisi rahasia yang hanya "
    "ditampilkan sekali; jawaban itu tidak disimpan.",
    "A request with this Idempotency-Key was processed already; its answer held a secret that is shown "
    "only once, so it was not kept.",
)
IN_PROGRESS = Text(
    "Permintaan dengan Idempotency-Key ini masih diproses.",
    "A request with this Idempotency-Key is still being processed.",
)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, table: Table, *, default_language: str = "id") -> None:
        self.app = app
        self.engine = engine
        self.table = table
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
        scope_hash = hashlib.sha256(f"{subject}\0{scope['path']}\0{key}".encode()).hexdigest()

        # A new key is the common case: claim it straight away (one transaction) and look at the
        # stored row only when the key turns out to be taken.
        if not await self._claim(scope_hash):
            row = await self._load(scope_hash)
            if row is not None:
                if row.status_code is None:
                    await self._conflict(scope, receive, send, language, IN_PROGRESS, "idempotency-in-progress")
                    return
                body_hash = await _hash_body(receive)
                if body_hash != row.request_hash:
                    await self._conflict(scope, receive, send, language, KEY_REUSED, "idempotency-key-reused")
                    return
                if row.body is None:
                    await self._conflict(scope, receive, send, language, NOT_REPLAYABLE, "idempotency-not-replayable")
                    return
                await self._replay(row, send)
                return
            # The row had expired (and is gone now) or was just released: claim the key afresh.
            if not await self._claim(scope_hash):
                await self._conflict(scope, receive, send, language, IN_PROGRESS, "idempotency-in-progress")
                return

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
            return message

        status = 500
        content_type = None
        location = None
        no_store = False
        chunks: list[bytes] = []
        size = 0
        recorded = False

        async def record(keep: bool) -> None:
            nonlocal recorded
            recorded = True
            async with self.engine.begin() as connection:
                if keep:
                    await connection.execute(
                        update(self.table)
                        .where(self.table.c.scope_hash == scope_hash)
                        .values(
                            request_hash=digest.hexdigest(),
                            status_code=status,
                            content_type=content_type,
                            location=location,
                            # An answer marked no-store (a one-time secret) is not kept: the key
                            # stays used, but a replay is refused instead of repeating the secret.
                            body=None if no_store else b"".join(chunks),
                        )
                    )
                else:
                    await connection.execute(delete(self.table).where(self.table.c.scope_hash == scope_hash))

        async def capturing_send(message: Message) -> None:
            nonlocal status, content_type, location, size, no_store
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
                    await record(_keepable(status, size))
            await send(message)

        try:
            await self.app(scope, hashing_receive, capturing_send)
        finally:
            if not recorded:  # the route failed before its answer ended: free the key for a retry
                await record(False)

    async def _claim(self, scope_hash: str) -> bool:
        """Take the key for this request; False when a row for it exists already."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    self._claim_statement, {"scope_hash": scope_hash, "created_at": datetime.now(UTC)}
                )
        except IntegrityError:
            return False
        return True

    async def _load(self, scope_hash: str):
        async with self.engine.begin() as connection:
            row = (await connection.execute(select(self.table).where(self.table.c.scope_hash == scope_hash))).first()
            if row is None:
                return None
            if datetime.now(UTC) - row.created_at > RETENTION:
                await connection.execute(delete(self.table).where(self.table.c.scope_hash == scope_hash))
                return None
            return row

    async def _conflict(self, scope, receive, send, language: str, text: Text, slug: str) -> None:
        await problem_response(409, text.render(language), language, slug=slug)(scope, receive, send)

    async def _replay(self, row, send: Send) -> None:
        headers = [(b"idempotent-replayed", b"true")]
        if row.content_type:
            headers.append((b"content-type", row.content_type.encode("latin-1")))
        if row.location:
            headers.append((b"location", row.location.encode("latin-1")))
        body = row.body
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": row.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
