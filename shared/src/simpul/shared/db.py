"""Async SQLAlchemy engines and Alembic migrations, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import DateTime, Engine, TypeDecorator, event, exc, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite:///` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A pooled connection unused for longer than this is pinged before it is handed out again.
IDLE_PING_SECONDS = 5.0


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson (several times faster than the json module); values
    orjson refuses (integers beyond 64 bits) fall back to the json module, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def json_loads(value: str | bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def create_engine(url: str, *, pool_size: int = 20, server_settings: dict[str, str] | None = None) -> AsyncEngine:
    """PostgreSQL connections are pooled, at most `pool_size` per engine and all of them kept:
    an overflow connection that is closed on its return costs a server process and a connection
    set-up (several milliseconds of CPU on both sides) the next time demand peaks, and under a
    steady load above the pool's size that happened dozens of times a second. A request beyond
    the pool waits for a connection instead. `server_settings` are PostgreSQL settings of every
    connection of the engine (ignored on SQLite)."""
    url = normalise_url(url)
    codecs = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **codecs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    connect_args = {"server_settings": server_settings} if server_settings else {}
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, connect_args=connect_args, **codecs)
    _ping_when_idle(engine)
    return engine


def create_sqlite_sync_engine(url: str, *, busy_timeout_ms: int = 30000) -> Engine:
    """A synchronous engine on an SQLite database, with the same pragmas as `create_engine`'s and
    every transaction a writer (BEGIN IMMEDIATE), for code that runs a whole transaction in one
    call: aiosqlite hands every cursor call to its own thread (about three hand-offs per
    statement), which costs more CPU than the statements themselves. With `busy_timeout_ms=0` a
    held write lock fails BEGIN at once (sqlite3.OperationalError, SQLITE_BUSY) instead of waiting."""
    parsed = make_url(normalise_url(url)).set(drivername="sqlite")
    engine = sa_create_engine(parsed, json_serializer=json_dumps, json_deserializer=json_loads)

    @event.listens_for(engine, "connect")
    def pragmas(dbapi_connection, record) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

    @event.listens_for(engine, "begin")
    def begin_immediate(connection) -> None:
        # Straight to the driver: on a hot path SQLAlchemy's statement machinery costs more than BEGIN.
        connection.connection.dbapi_connection.execute("BEGIN IMMEDIATE")

    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """`pool_pre_ping`, but only for connections that sat idle in the pool: a connection handed
    back moments ago is alive, and pinging it anyway costs a round trip per transaction. A
    server restart or a dropped idle connection is still caught before a request uses it (a
    failed ping invalidates the pool, as pre-ping does), and a connection that breaks while in
    steady use is invalidated by the error itself."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def note_checkin(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["simpul_idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("simpul_idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # fresh from connect, or handed back moments ago
        try:
            alive = dialect._do_ping_w_event(dbapi_connection)
        except Exception as error:
            raise exc.InvalidatePoolError(f"ping failed: {error}") from error
        if not alive:
            raise exc.InvalidatePoolError("ping failed")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is switched off so that BEGIN IMMEDIATE below takes
    # the write lock up front: two writers then queue on busy_timeout instead of one failing
    # with "database is locked" half-way through.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    # Readers stay deferred so that WAL lets them run beside a writer.
    read_only = connection.get_execution_options().get("simpul_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that may write."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that only read: on SQLite they do not take the write lock."""
    return async_sessionmaker(engine.execution_options(simpul_read_only=True), expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def advisory_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


# A holder whose machine vanishes sends no FIN: PostgreSQL notices the dead connection (and drops
# the lock) after about idle + interval * count seconds of silence, not the system's two hours.
# Session settings of the lock's own connection, which is never handed back to the pool.
KEEPALIVES = text("SELECT set_config('tcp_keepalives_idle', '2', false),"
                  " set_config('tcp_keepalives_interval', '1', false),"
                  " set_config('tcp_keepalives_count', '2', false)")


class HeldLock:
    """A PostgreSQL session-level advisory lock for work that needs one doer at a time among
    replicas (an outbox's publisher), held on a connection of its own for as long as it lives.
    When the holder dies its connection closes and PostgreSQL releases the lock; the others try
    to take it at most every `retry_seconds`, so one of them holds it that much later.

    Whoever uses the lock runs its queries on `acquire()`'s connection: a query that succeeds
    proves the lock still held, and one that fails must be followed by `release()`."""

    def __init__(self, engine: AsyncEngine, name: str, *, retry_seconds: float = 1.0) -> None:
        self._engine = engine
        self._key = advisory_lock_key(name)
        self._retry_seconds = retry_seconds
        self._connection: AsyncConnection | None = None
        self._held = False
        self._next_try = 0.0

    async def acquire(self) -> AsyncConnection | None:
        """The lock's connection while this process holds the lock, taking it when free; None
        while another holds it (asking PostgreSQL again only once `retry_seconds` have passed)."""
        if self._held:
            return self._connection
        now = time.monotonic()
        if now < self._next_try:
            return None
        self._next_try = now + self._retry_seconds
        try:
            if self._connection is None:
                connection = await self._engine.connect()
                self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await self._connection.execute(KEEPALIVES)
            taken = await self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            self._held = bool(taken.scalar_one())
        except Exception:
            await self.release()
            raise
        return self._connection if self._held else None

    async def release(self) -> None:
        """Close the lock's connection, which releases the lock: on stopping, and after a query
        on it failed (the lock may be gone already). The next `acquire` connects anew."""
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migrations' head and this process was told not to migrate it."""


def _service_of(script_location: Path) -> str:
    # The migrations live in the service's package (simpul/<service>/migrations).
    return script_location.parent.name


async def migrate(engine: AsyncEngine, script_location: Path) -> None:
    """Bring the database to the newest Alembic revision of the service. Concurrent callers (N
    replicas starting at once) take turns under `migration_lock`: the first applies the
    migrations, the others then find the database at the head and do nothing."""
    # Imported here: Alembic with Mako is ~10 MB a served process need not keep (see Migration).
    from alembic import command
    from alembic.config import Config

    def upgrade(sync_connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(script_location))
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "head")

    async with migration_lock(engine, _service_of(script_location)):
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)


async def check_at_head(engine: AsyncEngine, script_location: Path) -> None:
    """Raise `SchemaNotCurrent` unless the database is at the head revision of the service's
    migrations (a replica started with SIMPUL_MIGRATE_ON_START=0)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(script_location))
    heads = set(ScriptDirectory.from_config(config).get_heads())

    def current(sync_connection) -> set[str]:
        return set(MigrationContext.configure(sync_connection).get_current_heads())

    async with engine.connect() as connection:
        found = await connection.run_sync(current)
    if found != heads:
        service = _service_of(script_location)
        raise SchemaNotCurrent(
            f"the {service} database is at revision {', '.join(sorted(found)) or 'none'}, this version needs "
            f"{', '.join(sorted(heads))}: run `python -m simpul.{service} migrate` first"
        )


@asynccontextmanager
async def migration_lock(engine: AsyncEngine, service: str) -> AsyncIterator[None]:
    """Held by one migrating process at a time. PostgreSQL: a session-level advisory lock on a
    connection of its own (not the one Alembic runs its transaction on), closed afterwards rather
    than handed back to the pool, which releases the lock whatever state the connection is in.
    SQLite: an exclusive file lock beside the database file."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield  # a private database: nobody to race with
            return
        descriptor = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock
        return
    async with engine.connect() as connection:
        try:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("SELECT pg_advisory_lock(:key)"),
                                     {"key": advisory_lock_key(f"simpul:migrate:{service}")})
            yield
        finally:
            await connection.invalidate()


class Migration:
    """A service's migrations, run once: by the lifespan, unless `serve` already ran them in a
    short-lived child process before the server started (`done`), so that the long-running
    process never imports Alembic. With `apply` off (SIMPUL_MIGRATE_ON_START=0) the database is
    only checked to be at the head: a replica then starts only on a schema migrated beforehand."""

    def __init__(self, engine: AsyncEngine, script_location: Path, *, apply: bool = True) -> None:
        self.engine = engine
        self.script_location = script_location
        self.apply = apply
        self.done = False

    async def run(self) -> None:
        if self.done:
            return
        if self.apply:
            await migrate(self.engine, self.script_location)
        else:
            await check_at_head(self.engine, self.script_location)
        self.done = True


def run_alembic_env(target_metadata, database_url_from_env) -> None:
    """Body of every service's migrations/env.py.

    Called by `migrate` above (a connection is handed over) or by the `alembic` command line,
    where the URL comes from the service's settings.
    """
    import asyncio

    from alembic import context

    def run(connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return

    async def run_online() -> None:
        engine = create_engine(database_url_from_env())
        async with engine.begin() as conn:
            await conn.run_sync(run)
        await engine.dispose()

    asyncio.run(run_online())



class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
