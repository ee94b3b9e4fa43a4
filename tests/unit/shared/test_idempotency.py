"""Idempotency-Key through crashes: a request's process dies before or after its effect commits,
and the retry either answers from the committed effect or runs once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from starlette.responses import JSONResponse

from simpul.shared.db import create_engine
from simpul.shared.idempotency import (
    MAX_KEPT_BODY,
    AnswerWriter,
    Claim,
    IdempotencyMiddleware,
    KeyTaken,
    Settlement,
    created,
    expired_keys_purge,
    idempotency_table,
    not_replayable,
    scope_hash,
    settle,
)
from simpul.shared.problems import Problem, Text, install_problem_handlers
from tests.support.asgi import running
from tests.support.idempotency import abandon_key, end_lease

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
    after the commit, `X-Wait` holds the request (alive) until `release` is set, `X-Secret`
    answers with a secret shown once, `X-Pad` pads the answer with that many bytes. With
    `answers`, successes are kept for replays."""

    def __init__(self, engine, answers: AnswerWriter | None = None) -> None:
        self.engine = engine
        self.answers = answers
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
            secret = request.headers.get("x-secret")
            if request.headers.get("x-wait"):
                self.waiting.set()
                await self.release.wait()
            try:
                async with engine.begin() as connection:
                    result = await connection.execute(insert(things).values(name=thing.name))
                    thing_id = result.inserted_primary_key[0]
                    await settle(connection, not_replayable() if secret else created(f"/things/{thing_id}"))
                    if death == "before-commit":
                        raise Died
            except Died:
                self.died.set()
                await forever()
            if death == "after-commit":
                self.died.set()
                await forever()
            body = {"id": thing_id, "name": thing.name, "pad": "x" * int(request.headers.get("x-pad", "0"))}
            headers = {"Location": f"/things/{thing_id}"}
            if secret:
                body["secret"] = secret
                headers["Cache-Control"] = "no-store"
            return JSONResponse(body, status_code=201, headers=headers)

        @app.get("/things/{thing_id}")
        async def read(thing_id: int) -> JSONResponse:
            async with engine.connect() as connection:
                row = (await connection.execute(select(things).where(things.c.id == thing_id))).first()
            if row is None:
                raise Problem(404, GONE)
            return JSONResponse({"id": row.id, "name": row.name, "pad": ""})

        app.add_middleware(IdempotencyMiddleware, engine=engine, table=keys, answers=self.answers)
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


@pytest.fixture
async def keeping_app(engine) -> AsyncIterator[tuple[Things, object]]:
    # Answers are written when a test flushes them, never by a timer.
    app = Things(engine, AnswerWriter(engine, keys, delay_seconds=3600))
    async with running(app.app) as client:
        yield app, client
    await app.answers.close()


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

    await end_lease(engine, "anonymous", "/things", "thing-1")
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


async def test_replicas_purging_at_once_delete_the_expired_keys_and_keep_the_rest(engine):
    async with engine.begin() as connection:
        for name in ("old-1", "old-2", "fresh"):
            await settle(connection, Settlement(Claim(keys, scope_hash("s", "/things", name)), 201, "/t", "/t"))
        await connection.execute(update(keys).where(keys.c.scope_hash != scope_hash("s", "/things", "fresh"))
                                 .values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    other = create_engine(engine.url.render_as_string(hide_password=False))
    purges = [expired_keys_purge(engine, keys, seconds=60), expired_keys_purge(other, keys, seconds=60)]
    try:
        for purge in purges:
            purge.start()  # a first round at once
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                left = (await connection.execute(select(keys.c.scope_hash))).scalars().all()
            if len(left) == 1:
                break
            await asyncio.sleep(0.02)
    finally:
        for purge in purges:
            await purge.stop()
        await other.dispose()
    assert left == [scope_hash("s", "/things", "fresh")]


async def test_without_a_key_nothing_is_settled(engine):
    assert created("/things/1") is None
    async with engine.begin() as connection:
        await settle(connection, None, created("/things/1"))


async def rename_all(engine, name: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(things).values(name=name))


async def kept_bodies(engine) -> list[bytes | None]:
    async with engine.connect() as connection:
        return (await connection.execute(select(keys.c.body))).scalars().all()


async def test_a_replay_after_a_later_change_returns_the_original_answer(keeping_app, engine):
    app, client = keeping_app
    first = await client.post("/things", json={"name": "m"}, headers=KEYED)
    assert first.status_code == 201
    await app.answers.flush()
    await rename_all(engine, "renamed")

    replay = await client.post("/things", json={"name": "m"}, headers=KEYED)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content and replay.json()["name"] == "m"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert await app.count() == 1


async def test_a_retry_before_the_answer_is_written_is_rebuilt_from_the_resource(keeping_app, engine):
    app, client = keeping_app
    first = await client.post("/things", json={"name": "n"}, headers=KEYED)
    await rename_all(engine, "renamed")
    # Not written yet: the writer waits for more answers to batch them (until flushed here).
    assert await kept_bodies(engine) == [None]
    rebuilt = await client.post("/things", json={"name": "n"}, headers=KEYED)
    assert rebuilt.status_code == 201 and rebuilt.json() == {**first.json(), "name": "renamed"}
    await app.answers.flush()
    assert await kept_bodies(engine) == [first.content]


async def test_an_answer_that_showed_a_secret_is_never_kept(keeping_app, engine):
    app, client = keeping_app
    headers = {**KEYED, "X-Secret": "s3cret"}
    first = await client.post("/things", json={"name": "p"}, headers=headers)
    assert first.status_code == 201 and first.json()["secret"] == "s3cret"
    await app.answers.flush()
    assert await kept_bodies(engine) == [None]
    again = await client.post("/things", json={"name": "p"}, headers=headers)
    assert again.status_code == 409 and "s3cret" not in again.text


async def test_an_answer_over_the_size_limit_is_rebuilt_instead(keeping_app, engine):
    app, client = keeping_app
    first = await client.post("/things", json={"name": "q"}, headers={**KEYED, "X-Pad": str(MAX_KEPT_BODY)})
    assert first.status_code == 201
    await app.answers.flush()
    assert await kept_bodies(engine) == [None]
    rebuilt = await client.post("/things", json={"name": "q"}, headers={**KEYED, "X-Pad": str(MAX_KEPT_BODY)})
    assert rebuilt.status_code == 201 and rebuilt.json()["pad"] == ""


async def settled_keys(engine, count: int) -> list[str]:
    claims = [Claim(keys, scope_hash("s", "/things", f"k{i}")) for i in range(count)]
    async with engine.begin() as connection:
        await settle(connection, *(Settlement(c, 201, f"/things/{i}", f"/things/{i}") for i, c in enumerate(claims)))
    return [claim.scope_hash for claim in claims]


async def test_the_writer_writes_what_it_holds_when_closed(engine):
    hashes = await settled_keys(engine, 5)
    # A delay no test waits for: only closing writes them.
    writer = AnswerWriter(engine, keys, delay_seconds=3600, batch_size=2)
    for number, key in enumerate(hashes):
        writer.keep(key, 201, "application/json", f"/things/{number}", b"answer %d" % number)
    await writer.close()
    assert sorted(await kept_bodies(engine)) == [b"answer %d" % number for number in range(5)]
    writer.keep(hashes[0], 201, "application/json", "/things/0", b"after closing")
    await writer.flush()
    assert b"after closing" not in await kept_bodies(engine)


async def test_a_full_queue_drops_answers_and_a_kept_answer_is_never_replaced(engine, caplog):
    hashes = await settled_keys(engine, 3)
    writer = AnswerWriter(engine, keys, max_pending=2)
    for key in hashes:
        writer.keep(key, 201, "application/json", None, b"first")
    assert "queue full" in caplog.text
    await writer.flush()
    writer.keep(hashes[0], 201, "application/json", None, b"second")
    await writer.close()
    assert sorted(await kept_bodies(engine), key=repr) == [None, b"first", b"first"]
