"""Real HTTP servers on loopback ports standing in for the services behind the gateway."""

from __future__ import annotations

import asyncio
import hashlib

import jwt
from aiohttp import web

from simpul.shared.identity import ASSERTION_HEADER, AssertionRefused, AssertionVerifier
from tests.support.identity import TEST_INTERNAL_SECRET

SERVICES = ("catalog", "submissions", "signatures", "notifications")


class FakeService:
    """Answers for all four services (the assertion's audience says which one was meant) and
    checks every assertion the way a real service does, against the gateway's published keys.

    Paths (after the /v1/<segment> prefix): `.../slow` sleeps, `.../upload` hashes a streamed body,
    `.../download/<n>` streams n bytes back; anything else echoes what arrived."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.verifiers: dict[str, AssertionVerifier] = {}
        self.openapi: dict[str, dict] = {}
        self.openapi_callers: list[str] = []
        self.requests = 0
        self.slow_seconds = 3.0
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def trust(self, jwks_json: str) -> None:
        self.verifiers = {
            name: AssertionVerifier(name, internal_secret=TEST_INTERNAL_SECRET, jwks_json=jwks_json)
            for name in SERVICES
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Started again, it listens where it did before (a replica that came back).
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/readyz":
            return web.json_response({"status": "ready"})
        self.requests += 1
        token = request.headers.get(ASSERTION_HEADER, "")
        try:
            service = jwt.decode(token, options={"verify_signature": False})["aud"].removeprefix("simpul:")
            identity = await self.verifiers[service].verify(token)
        except (jwt.PyJWTError, KeyError, AssertionRefused):
            return web.json_response({"status": 401, "detail": "no valid assertion"}, status=401)

        if request.path == "/openapi.json":
            self.openapi_callers.append(identity.role)
            document = self.openapi.get(service)
            return web.json_response(document) if document is not None else web.json_response({}, status=500)
        if request.path.endswith("/slow"):
            await asyncio.sleep(self.slow_seconds)
            return web.json_response({"slow": True})
        if request.path.endswith("/upload"):
            digest = hashlib.sha256()
            size = 0
            async for chunk in request.content.iter_chunked(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
            if request.path.endswith("/slow-answer/upload"):
                await asyncio.sleep(self.slow_seconds)
            return web.json_response({
                "size": size,
                "sha256": digest.hexdigest(),
                "content_length": request.headers.get("content-length"),
                "chunked": "chunked" in request.headers.get("transfer-encoding", ""),
            })
        if "/download/" in request.path:
            size = int(request.path.rsplit("/", 1)[1])
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await response.prepare(request)
            block = b"x" * 65536
            sent = 0
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
            return response
        body = await request.read()
        return web.json_response(
            {
                "service": service,
                "identity": {"sub": identity.subject, "role": identity.role, "tenant": identity.tenant,
                             "name": identity.name,
                             **({"official": identity.official.claims()} if identity.official else {})},
                "method": request.method,
                "path": request.raw_path,
                "headers": {name.lower(): value for name, value in request.headers.items()},
                "body": body.decode("utf-8", "replace"),
            },
            headers={"Connection": "keep-alive", "X-Upstream": "fake", "Set-Cookie": "upstream=1",
                     "Cache-Control": "public, max-age=60"},
        )


class BrokenService:
    """Answers every request with a response cut short, then hangs up."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"cut\":")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class HangingUpService(BrokenService):
    """Ready on /readyz; hangs up on any other request once it has read it, as a replica that dies
    with the request in hand."""

    def __init__(self) -> None:
        super().__init__()
        self.hung_up = 0

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"GET /readyz "):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        else:
            self.hung_up += 1
        writer.close()


class StalledService:
    """Reads a request's head, then takes no more of its body and never answers."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._stalled: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._stall, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stall(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self._stalled.append(writer)

    async def stop(self) -> None:
        for writer in self._stalled:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
