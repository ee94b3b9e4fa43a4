"""Idempotency-Key through crashes: a request's process dies before or after its effect commits,
and the retry either answers from the committed effect or runs once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from starlette.responses import JSONResponse

from simpul.shared.db import create_engine
from simpul.shared.idempotency import (
    Claim,
    IdempotencyMiddleware,
    KeyTaken,
    Settlement,
    created,
    idempotency_table,
    scope_hash,
    settle,
)
from simpul.shared.problems import Problem, Text, install_problem_handlers
from tests.support.asgi import running
from tests.support.idempotency import abandon_key

metadata = MetaData()
keys = idempotency_table(metadata)
things = Table(
    "things", metadata, Column("id", Integer, primary_key=True, autoincrement=True), Column("name", String(50))
)
GONE = Text("Tidak ada.", "No such thing.")


class Thing(BaseModel):
    name: str


class Died(Exception):
    """The process died here: its transaction rolls back and nothing after it runs."""


async def forever() -> None:
    await asyncio.Event().wait()


class Things:
    """An app whose creating route settles its key; `X-Die` makes its process die before or
    after the commit, `X-Wait` holds the request (alive) until `release` is set."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.died = asyncio.Event()
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()
        self.app = self._app()

    def _app(self) -> FastAPI:
        app = FastAPI()
        app.state.default_language = "en"
        install_problem_handlers(app)
        engine = self.engine

        @app.post("/things", status_code=201)
        async def create(thing: Thing, request: Request) -> JSONResponse:
            death = request.headers.get("x-die")
            if request.headers.get("x-wait"):
                self.waiting.set()
                await self.release.wait()
            try:
                async with engine.begin() as connection:
                    result = await connection.execute(insert(things).values(name=thing.name))
                    thing_id = result.inserted_primary_key[0]
                    await settle(connection, created(f"/things/{thing_id}"))
                    if death == "before-commit":
                        raise Died
            except Died:
                self.died.set()
                await forever()
            if death == "after-commit":
                self.died.set()
                await forever()
            body = {"id": thing_id, "name": thing.name}
            return JSONResponse(body, status_code=201, headers={"Location": f"/things/{thing_id}"})

        @app.get("/things/{thing_id}")
        async def read(thing_id: int) -> JSONResponse:
            async with engine.connect() as connection:
                row = (await connection.execute(select(things).where(things.c.id == thing_id))).first()
            if row is None:
                raise Problem(404, GONE)
            return JSONResponse({"id": row.id, "name": row.name})

        app.add_middleware(IdempotencyMiddleware, engine=engine, table=keys)
        return app

    async def count(self) -> int:
        async with self.engine.connect() as connection:
            return (await connection.execute(select(func.count()).select_from(things))).scalar_one()


@pytest.fixture
async def engine(databases) -> AsyncIterator:
    engine = create_engine(await databases.url("idempotency"))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def things_app(engine) -> AsyncIterator[tuple[Things, object]]:
    app = Things(engine)
    async with running(app.app) as client:
        yield app, client


class Background:
    """Requests left running (hung, or dead) while the test goes on; cancelled at the end."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task] = []

    def start(self, request) -> asyncio.Task:
        task = asyncio.ensure_future(request)
        self.tasks.append(task)
        return task

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def background() -> AsyncIterator[Background]:
    running_requests = Background()
    yield running_requests
    await running_requests.stop()


KEYED = {"Idempotency-Key": "thing-1", "Accept-Language": "en"}


async def test_a_death_before_the_commit_leaves_nothing_and_the_retry_runs_once(things_app, background):
    app, client = things_app
    background.start(client.post("/things", json={"name": "a"}, headers={**KEYED, "X-Die": "before-commit"}))
    await asyncio.wait_for(app.died.wait(), 5)

    # Nothing of the dead request committed, its key neither: the retry runs at once.
    retried = await client.post("/things", json={"name": "a"}, headers=KEYED)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    again = await client.post("/things", json={"name": "a"}, headers=KEYED)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == retried.json()
    assert again.headers["location"] == retried.headers["location"]
    assert await app.count() == 1


async def test_a_death_after_the_commit_is_answered_from_the_committed_effect(things_app, background):
    app, client = things_app
    background.start(client.post("/things", json={"name": "b"}, headers={**KEYED, "X-Die": "after-commit"}))
    await asyncio.wait_for(app.died.wait(), 5)

    # The effect committed with the key, so the answer is rebuilt, and the request never runs again.
    replay = await client.post("/things", json={"name": "b"}, headers=KEYED)
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == f"/things/{replay.json()['id']}"
    assert replay.json()["name"] == "b"
    assert (await client.post("/things", json={"name": "b"}, headers=KEYED)).json() == replay.json()
    assert await app.count() == 1

    other = await client.post("/things", json={"name": "c"}, headers=KEYED)
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-key-reused")
    assert await app.count() == 1


async def test_a_committed_effect_that_cannot_be_read_again_is_not_run_again(things_app, background, engine):
    app, client = things_app
    background.start(client.post("/things", json={"name": "d"}, headers={**KEYED, "X-Die": "after-commit"}))
    await asyncio.wait_for(app.died.wait(), 5)
    async with engine.begin() as connection:
        await connection.execute(things.delete())
    gone = await client.post("/things", json={"name": "d"}, headers=KEYED)
    assert gone.status_code == 409 and gone.json()["type"].endswith("idempotency-not-replayable")
    assert await app.count() == 0


async def test_concurrent_requests_with_one_key_make_one_effect_and_give_its_answer(things_app, background):
    app, client = things_app
    first = background.start(client.post("/things", json={"name": "e"}, headers={**KEYED, "X-Wait": "1"}))
    await asyncio.wait_for(app.waiting.wait(), 5)
    # The second is not told to wait: it runs, and its effect commits with the key.
    second = await client.post("/things", json={"name": "e"}, headers=KEYED)
    assert second.status_code == 201 and "idempotent-replayed" not in second.headers
    app.release.set()
    # The first then finds the key done in its own transaction, rolls back, and answers as a retry.
    late = await first
    assert late.status_code == 201 and late.headers["idempotent-replayed"] == "true"
    assert late.json() == second.json() and late.headers["location"] == second.headers["location"]
    assert await app.count() == 1


async def test_a_concurrent_request_with_another_body_changes_nothing(things_app, background):
    app, client = things_app
    first = background.start(client.post("/things", json={"name": "x"}, headers={**KEYED, "X-Wait": "1"}))
    await asyncio.wait_for(app.waiting.wait(), 5)
    assert (await client.post("/things", json={"name": "y"}, headers=KEYED)).status_code == 201
    app.release.set()
    late = await first
    assert late.status_code == 409 and late.json()["type"].endswith("idempotency-key-reused")
    assert await app.count() == 1


async def test_a_claim_left_by_an_older_version_is_in_progress_until_its_lease_ends(things_app, engine):
    app, client = things_app
    await abandon_key(engine, "anonymous", "/things", "thing-1", lease_left=60)
    waiting = await client.post("/things", json={"name": "g"}, headers=KEYED)
    assert waiting.status_code == 409 and waiting.json()["type"].endswith("idempotency-in-progress")
    assert 59 <= int(waiting.headers["retry-after"]) <= 60
    assert await app.count() == 0

    async with engine.begin() as connection:
        await connection.execute(update(keys).values(locked_until=datetime.now(UTC)))
    assert (await client.post("/things", json={"name": "g"}, headers=KEYED)).status_code == 201
    replay = await client.post("/things", json={"name": "g"}, headers=KEYED)
    assert replay.headers["idempotent-replayed"] == "true"
    assert await app.count() == 1


async def test_an_answer_kept_by_an_older_version_is_replayed(things_app, engine):
    app, client = things_app
    async with engine.begin() as connection:
        await connection.execute(insert(keys).values(
            scope_hash=scope_hash("anonymous", "/things", "thing-1"), created_at=datetime.now(UTC), status_code=201,
            content_type="application/json", location="/things/7", body=b'{"id":7,"name":"k"}',
        ))
    replay = await client.post("/things", json={"name": "k"}, headers=KEYED)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {"id": 7, "name": "k"} and replay.headers["location"] == "/things/7"
    assert await app.count() == 0


async def test_a_key_from_before_leases_stays_in_progress_until_it_expires(things_app, engine):
    app, client = things_app
    claimed = datetime.now(UTC) - timedelta(hours=1)
    async with engine.begin() as connection:
        await connection.execute(
            insert(keys).values(scope_hash=scope_hash("anonymous", "/things", "thing-1"), created_at=claimed)
        )
    waiting = await client.post("/things", json={"name": "h"}, headers=KEYED)
    assert waiting.status_code == 409 and int(waiting.headers["retry-after"]) > 22 * 3600
    assert await app.count() == 0

    async with engine.begin() as connection:
        await connection.execute(update(keys).values(created_at=claimed - timedelta(hours=23, minutes=1)))
    assert (await client.post("/things", json={"name": "h"}, headers=KEYED)).status_code == 201
    assert await app.count() == 1


async def test_settling_a_batch_refuses_it_whole_when_one_key_is_done_already(engine):
    claims = [Claim(keys, scope_hash("s", "/things", f"k{i}"), request_hash=f"hash-{i}") for i in range(3)]
    settlements = [Settlement(c, 201, f"/things/{i}", f"/things/{i}") for i, c in enumerate(claims)]
    # Another request with the last key committed first.
    async with engine.begin() as connection:
        await settle(connection, settlements[2])

    with pytest.raises(KeyTaken) as refused:
        async with engine.begin() as connection:
            await connection.execute(insert(things).values(name="batch"))
            await settle(connection, *settlements)
    assert refused.value.status == 409
    with pytest.raises(KeyTaken):
        async with engine.begin() as connection:
            await settle(connection, settlements[2])

    async with engine.begin() as connection:
        await connection.execute(insert(things).values(name="batch"))
        await settle(connection, *settlements[:2], None)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(keys.c.status_code, keys.c.replay_from, keys.c.request_hash))).all()
        assert sorted(map(tuple, rows)) == [(201, f"/things/{i}", f"hash-{i}") for i in range(3)]
        assert (await connection.execute(select(func.count()).select_from(things))).scalar_one() == 1


async def test_an_expired_key_gives_way_to_a_new_request(engine):
    claim = Claim(keys, scope_hash("s", "/things", "old"))
    async with engine.begin() as connection:
        await settle(connection, Settlement(claim, 201, "/things/1", "/things/1"))
        await connection.execute(update(keys).values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    async with engine.begin() as connection:
        await settle(connection, Settlement(claim, 201, "/things/2", "/things/2"))
    async with engine.connect() as connection:
        assert (await connection.execute(select(keys.c.replay_from))).scalars().all() == ["/things/2"]


async def test_without_a_key_nothing_is_settled(engine):
    assert created("/things/1") is None
    async with engine.begin() as connection:
        await settle(connection, None, created("/things/1"))
