"""The bound on bodies parsed whole: declared or chunked, refused before the route reads them."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simpul.shared.bodylimit import BodyLimitMiddleware


def app_with_limit(limit: int) -> tuple[httpx.AsyncClient, list[int]]:
    seen: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append(len(body))
        return JSONResponse({"size": len(body)})

    app = Starlette(routes=[Route(path, echo, methods=["POST"])
                            for path in ("/v1/things", "/v1/things/{id}/files", "/internal/events")])
    wrapped = BodyLimitMiddleware(app, limit=limit, streaming_paths=("/v1/things/{id}/files",))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://test"), seen


async def chunks(count: int, size: int):
    for _ in range(count):
        yield b"x" * size


async def test_declared_and_chunked_bodies_over_the_limit_are_413_unread():
    client, seen = app_with_limit(1000)
    async with client:
        declared = await client.post("/v1/things", content=b"x" * 1001, headers={"Accept-Language": "en"})
        streamed = await client.post("/v1/things", content=chunks(11, 100))
        assert seen == []
        fits = await client.post("/v1/things", content=chunks(10, 100))
        exact = await client.post("/v1/things", content=b"x" * 1000)
    assert declared.status_code == streamed.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["detail"] == "The request body is larger than 1000 bytes."
    assert streamed.json()["title"] == "Isi terlalu besar"
    assert fits.json() == exact.json() == {"size": 1000}


async def test_streaming_routes_and_internal_calls_keep_their_own_bounds():
    client, seen = app_with_limit(1000)
    async with client:
        upload = await client.post("/v1/things/7/files", content=chunks(50, 100))
        internal = await client.post("/internal/events", content=b"x" * 5000)
        other = await client.post("/v1/things/7/files/more", content=b"x" * 5000)
    assert upload.json() == {"size": 5000} and internal.json() == {"size": 5000}
    assert other.status_code == 413
    assert seen == [5000, 5000]
