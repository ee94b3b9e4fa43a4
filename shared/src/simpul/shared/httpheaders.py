"""A bound on the size of a request's head (request line and headers) for uvicorn's HTTP parser.

uvicorn's httptools protocol buffers a head of any size before the app sees it (a 10 MB header
was accepted); its h11 fallback has `h11_max_incomplete_event_size` for this, httptools nothing.
This protocol counts what the parser was fed while a head is incomplete and answers 431 with a
problem document, then closes, once it passes the bound.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from simpul.shared.problems import PROBLEM_CONTENT_TYPE, Text, problem_body

HEAD_TOO_LARGE = Text("Kepala permintaan melebihi {limit} byte.",
                      "The request line and headers are larger than {limit} bytes.")
STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


def bounded_head_protocol(limit: int, default_language: str = "id") -> type[HttpToolsProtocol]:
    """The httptools protocol, refusing heads over `limit` bytes (uvicorn's `http=` takes it)."""

    class BoundedHeadProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._reading_head = True
            self._head_bytes = 0

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._reading_head = True
            self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._reading_head = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._reading_head or self.transport.is_closing():
                return
            # Still in a head after this feed: all of it was head (a pipelined request's body
            # tail in the same read is counted too, erring on the side of refusing).
            self._head_bytes += len(data)
            if self._head_bytes > limit:
                self._refuse()

        def _refuse(self) -> None:
            language = default_language
            body = problem_body(431, HEAD_TOO_LARGE.render(language, limit=limit), language,
                                slug="request-head-too-large")
            self.transport.write(b"".join([
                STATUS_431,
                b"content-type: " + PROBLEM_CONTENT_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]))
            self.transport.close()
            self._reading_head = False

    return BoundedHeadProtocol
