from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from simpul.shared.identity import Identity
from simpul.shared.logs import (
    ACCESS_LOGGER,
    ROUTE_HEADER,
    SECURITY_LOGGER,
    AccessLogMiddleware,
    ForwardedCallerMiddleware,
    TrustedProxies,
    configure_logging,
    security_event,
)
from simpul.shared.requestid import RequestIdMiddleware

SECRET = "s3cret-value-never-logged"
EMAIL = "siti.rahma@example.id"


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == logger]


def service_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def read(thing_id: str) -> Response:
        return JSONResponse({"id": thing_id})

    @app.get("/v1/crash")
    async def crash() -> Response:
        raise RuntimeError("boom")

    class Identify:
        """Stands in for IdentityMiddleware: the caller is known inside the stack."""

        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("state", {})["identity"] = Identity("client-7", "officer", "unit-3", name="Budi")
            await self.app(scope, receive, send)

    app.add_middleware(Identify)
    app.add_middleware(AccessLogMiddleware, service="things", announce_route=True)
    app.add_middleware(RequestIdMiddleware)
    return app


async def test_one_access_line_with_the_route_template_and_no_query_string(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    transport = httpx.ASGITransport(app=service_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(f"/v1/things/SPL-7K2Q?email={EMAIL}&token={SECRET}",
                                  headers={"Authorization": f"Bearer {SECRET}"})
        crashed = await http.get("/v1/crash")
    assert response.status_code == 200 and crashed.status_code == 500
    assert response.headers[ROUTE_HEADER.decode()] == "/v1/things/{thing_id}"
    first, second = lines(caplog, ACCESS_LOGGER)
    assert first["request_id"] == response.headers["x-request-id"]
    assert first["route"] == "/v1/things/{thing_id}" and first["method"] == "GET"
    assert first["status"] == 200 and first["bytes_out"] == len(response.content)
    assert first["duration_ms"] >= 0 and first["service"] == "things" and first["time"].endswith("+00:00")
    assert (first["client"], first["role"], first["tenant"]) == ("client-7", "officer", "unit-3")
    assert (second["route"], second["status"]) == ("/v1/crash", 500)
    logged = caplog.text
    assert "SPL-7K2Q" not in logged and EMAIL not in logged and SECRET not in logged and "Budi" not in logged


async def test_the_gateway_logs_the_route_a_service_announced_and_takes_it_off_the_answer(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)

    async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"x-other", b"1"), (ROUTE_HEADER, b"/v1/things/{thing_id}")]})
        await send({"type": "http.response.body", "body": b""})

    app = AccessLogMiddleware(upstream, service="gateway", fallback_route=lambda scope: "/v1/things/*")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/v1/things/42")
    assert ROUTE_HEADER.decode() not in response.headers and response.headers["x-other"] == "1"
    assert lines(caplog, ACCESS_LOGGER)[0]["route"] == "/v1/things/{thing_id}"


async def test_a_refusal_without_a_template_logs_the_fallback_route(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    app = AccessLogMiddleware(Response(status_code=401), service="gateway", fallback_route=lambda scope: "/v1/x/*")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        await http.get("/v1/x/secret-id")
    (line,) = lines(caplog, ACCESS_LOGGER)
    assert (line["route"], line["status"]) == ("/v1/x/*", 401)
    assert "secret-id" not in caplog.text


@pytest.mark.parametrize(
    ("peer", "forwarded", "caller"),
    [
        ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # the client's own claim is skipped
        ("192.0.2.50", "203.0.113.9", "192.0.2.50"),  # an untrusted peer's header is ignored
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),
    ],
)
def test_the_caller_address_comes_from_trusted_proxies_only(peer, forwarded, caller):
    assert TrustedProxies(["10.0.0.0/8"]).caller(peer, forwarded) == caller


async def test_the_resolved_caller_replaces_the_peer_for_what_follows(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    seen = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])
        await Response(status_code=204)(scope, receive, send)

    app = ForwardedCallerMiddleware(AccessLogMiddleware(inner, service="gateway"), TrustedProxies(["127.0.0.1"]))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["203.0.113.9"] and lines(caplog, ACCESS_LOGGER)[0]["address"] == "203.0.113.9"


def test_security_events_are_json_lines_with_their_reason_and_clipped_fields(caplog):
    caplog.set_level(logging.INFO, SECURITY_LOGGER)
    security_event("token_refused", "bad secret", client="x" * 500)
    (line,) = lines(caplog, SECURITY_LOGGER)
    assert line["event"] == "token_refused" and line["reason"] == "bad secret"
    assert len(line["client"]) < 200 and "time" in line
    assert "address" not in line  # outside a request there is no caller


def test_configure_logging_json_lines_and_quiet_libraries():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("info", "json")
        stream = io.StringIO()
        root.handlers[0].setStream(stream)
        logging.getLogger("simpul.test").info("started %s", "ok")
        entry = json.loads(stream.getvalue())
        assert entry["message"] == "started ok" and entry["level"] == "info" and entry["logger"] == "simpul.test"
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert logging.getLogger("uvicorn.error").isEnabledFor(logging.INFO)
        assert logging.getLogger(SECURITY_LOGGER).propagate is False
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in (ACCESS_LOGGER, SECURITY_LOGGER):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True


async def test_passing_probes_are_not_logged_failing_ones_are(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    for status in (200, 503):
        app = AccessLogMiddleware(Response(status_code=status), service="things")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            await http.get("/readyz")
    assert [line["status"] for line in lines(caplog, ACCESS_LOGGER)] == [503]
