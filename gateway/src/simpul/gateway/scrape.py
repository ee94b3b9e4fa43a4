"""The gateway's metrics on an address of their own (SIMPUL_METRICS_HOST / SIMPUL_METRICS_PORT).

The public port is the internet's: its /metrics would tell anyone the traffic per route, the
error rates and which replicas are down. The scrape address is meant for the monitoring network
only. A plain asyncio listener (not a second uvicorn server, which would take over the process's
signal handling): one request per connection, `GET /metrics` or 404, heads bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("simpul.gateway.scrape")

MAX_HEAD_BYTES = 8192
READ_SECONDS = 5.0


def _answer(status: str, content_type: bytes, body: bytes) -> bytes:
    return b"".join([
        f"HTTP/1.1 {status}\r\n".encode(), b"content-type: ", content_type, b"\r\n",
        f"content-length: {len(body)}\r\n".encode(), b"connection: close\r\n\r\n", body,
    ])


class ScrapeListener:
    """Serves `render()` (content type and body of the exposition) at GET /metrics."""

    def __init__(self, host: str, port: int, render: Callable[[], tuple[str, bytes]]) -> None:
        self.host = host
        self.port = port
        self.render = render
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD_BYTES)
        # Port 0 asks for any free port: tell which one was taken.
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics served at http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0]
            if method in (b"GET", b"HEAD") and target.split(b"?")[0] == b"/metrics":
                content_type, body = self.render()
                answer = _answer("200 OK", content_type.encode(), body if method == b"GET" else b"")
            else:
                answer = _answer("404 Not Found", b"text/plain; charset=utf-8", b"not found\n")
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # a scanner or a broken client: nothing to answer
        finally:
            writer.close()
