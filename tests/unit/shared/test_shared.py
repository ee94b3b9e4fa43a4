from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from starlette.responses import JSONResponse, Response

from simpul.shared.db import UTCDateTime, create_engine, normalise_url
from simpul.shared.idempotency import IdempotencyMiddleware, created, idempotency_table, not_replayable, settle
from simpul.shared.pagination import decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text, install_problem_handlers, negotiate_language
from simpul.shared.requestid import RequestIdMiddleware
from simpul.shared.settings import read_or_create_secret
from tests.support.asgi import running


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "id"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr, en;q=0.5, id;q=0.8", "id"),
        ("id;q=0, en;q=0.1", "en"),
        ("de", "id"),
        ("garbage;q=x", "id"),
    ],
)
def test_language_negotiation(header, expected):
    assert negotiate_language(header, "id") == expected


def test_cursor_round_trip_and_tampering():
    cursor = encode_cursor(["KODE-1", 17])
    assert decode_cursor(cursor, 2) == ["KODE-1", 17]
    for bad in ("!!!", encode_cursor(["only-one"]), "eyJ"):
        with pytest.raises(Problem) as raised:
            decode_cursor(bad, 2)
        assert raised.value.status == 400


def test_database_urls_pick_async_drivers():
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_utc_datetime_refuses_naive_and_normalises():
    column = UTCDateTime()
    with pytest.raises(ValueError):
        column.process_bind_param(datetime(2026, 1, 1), None)
    jakarta = timezone(timedelta(hours=7))
    assert column.process_bind_param(datetime(2026, 1, 1, 7, tzinfo=jakarta), None) == datetime(2026, 1, 1, tzinfo=UTC)
    assert column.process_result_value(datetime(2026, 1, 1), None).tzinfo == UTC


def test_secret_file_is_created_once(tmp_path):
    path = tmp_path / "secrets" / "x.key"
    first = read_or_create_secret(path)
    assert len(first) >= 40
    assert read_or_create_secret(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def problem_app() -> FastAPI:
    app = FastAPI()
    app.state.default_language = "id"
    install_problem_handlers(app)
    counter = {"calls": 0}
    app.state.counter = counter

    @app.post("/things", status_code=201)
    async def create(thing: Thing) -> dict:
        counter["calls"] += 1
        return {"number": counter["calls"], "name": thing.name}

    @app.get("/teapot")
    async def teapot() -> dict:
        raise Problem(409, Text("Sudah ada {what}.", "{what} exists already."), slug="exists", params={"what": "X"})

    @app.get("/boom")
    async def boom(request: Request) -> dict:
        raise RuntimeError("SELECT secret FROM internal_host_db")

    app.add_middleware(RequestIdMiddleware)
    return app


async def test_problem_json_for_validation_malformed_and_crashes():
    app = problem_app()
    async with running(app) as client:
        invalid = await client.post("/things", json={"name": 3, "extra": 1}, headers={"Accept-Language": "en"})
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == "application/problem+json"
        fields = {error["field"] for error in invalid.json()["errors"]}
        assert fields == {"name", "count", "extra"}

        malformed = await client.post("/things", content=b"{nope", headers={"content-type": "application/json"})
        assert malformed.status_code == 400

        conflict = await client.get("/teapot", headers={"Accept-Language": "en"})
        assert conflict.json()["detail"] == "X exists already."
        assert conflict.json()["type"] == "urn:simpul:problem:exists"

        unknown = await client.get("/nowhere")
        assert unknown.status_code == 404 and unknown.json()["title"] == "Tidak ditemukan"


async def test_crash_is_a_bare_500():
    app = problem_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_caller_gone_mid_body_is_no_crash(caplog):
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        return Response(str(len(await request.body())))

    messages = iter([{"type": "http.request", "body": b"part", "more_body": True}, {"type": "http.disconnect"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "raw_path": b"/upload", "query_string": b"",
             "headers": [(b"content-length", b"100")], "http_version": "1.1", "scheme": "http",
             "server": ("t", 80), "client": ("127.0.0.1", 1), "root_path": "", "app": app}
    with caplog.at_level("INFO"):
        await app(scope, receive, send)
    assert sent == []
    assert "unhandled error" not in caplog.text and "client disconnected on POST /upload" in caplog.text


def settling_app(engine, table, things: Table) -> FastAPI:
    """Creates things, each settling its request's key in its own transaction (as every
    changing route of the services does)."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things", status_code=201)
    async def create(thing: Thing) -> Response:
        async with engine.begin() as connection:
            number = (await connection.execute(insert(things).values(name=thing.name))).inserted_primary_key[0]
            await settle(connection, created(f"/things/{number}"))
        return JSONResponse({"number": number, "name": thing.name}, status_code=201)

    @app.get("/things/{number}")
    async def read(number: int) -> Response:
        async with engine.connect() as connection:
            row = (await connection.execute(select(things).where(things.c.number == number))).one()
        return JSONResponse({"number": row.number, "name": row.name})

    @app.post("/credentials", status_code=201)
    async def issue() -> Response:
        async with engine.begin() as connection:
            await connection.execute(insert(things).values(name="credential"))
            await settle(connection, not_replayable())
        return JSONResponse({"secret": "s3cr3t-shown-once"}, status_code=201, headers={"Cache-Control": "no-store"})

    app.add_middleware(IdempotencyMiddleware, engine=engine, table=table)
    app.add_middleware(RequestIdMiddleware)
    return app


async def settling_engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}")
    metadata = MetaData()
    table = idempotency_table(metadata)
    things = Table("things", metadata, Column("number", Integer, primary_key=True), Column("name", String(50)))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return engine, table, things


async def test_idempotency_replays_and_refuses_another_body(tmp_path):
    engine, table, things = await settling_engine(tmp_path)
    async with running(settling_app(engine, table, things)) as client:
        headers = {"Idempotency-Key": "key-1"}
        first = await client.post("/things", json={"name": "a", "count": 1}, headers=headers)
        again = await client.post("/things", json={"name": "a", "count": 1}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() == {"number": 1, "name": "a"}
        assert again.headers["idempotent-replayed"] == "true"

        other = await client.post("/things", json={"name": "b", "count": 1}, headers=headers)
        assert other.status_code == 409

        fresh = await client.post("/things", json={"name": "a", "count": 1}, headers={"Idempotency-Key": "key-2"})
        assert fresh.json()["number"] == 2

        refused = await client.post("/things", json={"name": "a"}, headers={"Idempotency-Key": "key-3"})
        assert refused.status_code == 422
        retried = await client.post("/things", json={"name": "a", "count": 2}, headers={"Idempotency-Key": "key-3"})
        assert retried.status_code == 201

        bad_key = await client.post("/things", json={"name": "a", "count": 1}, headers={"Idempotency-Key": "has space"})
        assert bad_key.status_code == 400
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(things))).scalar_one() == 3
    await engine.dispose()


async def test_one_time_secrets_are_never_kept_for_replay(tmp_path):
    engine, table, things = await settling_engine(tmp_path)
    async with running(settling_app(engine, table, things)) as client:
        first = await client.post("/credentials", json={}, headers={"Idempotency-Key": "k"})
        assert first.json()["secret"] == "s3cr3t-shown-once"
        replay = await client.post("/credentials", json={}, headers={"Idempotency-Key": "k"})
        assert replay.status_code == 409
        assert replay.json()["type"].endswith("idempotency-not-replayable")
    async with engine.connect() as connection:
        stored = (await connection.execute(select(table))).all()
        assert [(row.body, row.replay_from) for row in stored] == [(None, None)]
        assert (await connection.execute(select(func.count()).select_from(things))).scalar_one() == 1
    await engine.dispose()


async def test_an_internal_get_is_sent_again_once_when_a_kept_connection_was_stale():
    import httpx

    from simpul.shared.internal import InternalClient

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"ok": True})

    client = InternalClient(caller="submissions", target="catalog", base_url="http://catalog.test",
                            secret="s" * 32, transport=httpx.MockTransport(handler))
    assert (await client.request("GET", "/v1/services/x")).json() == {"ok": True}
    assert calls == ["GET", "GET"]
    calls.clear()
    try:
        await client.request("POST", "/internal/documents", json={})
    except httpx.RemoteProtocolError:
        pass
    else:
        raise AssertionError("a POST must not be sent again")
    assert calls == ["POST"]
    await client.aclose()
