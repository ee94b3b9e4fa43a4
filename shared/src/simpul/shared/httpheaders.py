"""A bound on the size of a request's head (request line and headers) for uvicorn's HTTP parser.

uvicorn's httptools protocol buffers a head of any size before the app sees it (a 10 MB header
was accepted); its h11 fallback has `h11_max_incomplete_event_size` for this, httptools nothing.
This protocol counts the head's bytes before the parser is fed them and answers 431 with a
problem document, then closes, once they pass the bound: counted after the feed, a head that
arrived in one read (up to the transport's 256 KiB) was already complete and went to the app.
A request pipelined behind another in the same read is bounded by that read only.
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
            # Between heads (before the first, and from the end of a message to the next
            # message's headers), the bytes received are the next head: counted before the parser
            # sees them, since a head that arrives whole in one read is complete, and handed to
            # the app, by the time the feed returns.
            self._reading_head = True
            self._head_bytes = 0
            self._tail = b""  # the last bytes of the head so far: its end may straddle two reads

        def on_headers_complete(self) -> None:
            self._reading_head = False
            self._head_bytes = 0
            self._tail = b""
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading_head = True

        def data_received(self, data: bytes) -> None:
            if self._reading_head and not self.transport.is_closing():
                seen = self._tail + data
                ends = [found + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (found := seen.find(mark)) != -1]
                head_part = max(0, min(ends) - len(self._tail)) if ends else len(data)
                if self._head_bytes + head_part > limit:
                    self._refuse()
                    return
                if not ends:
                    self._head_bytes += len(data)
                    self._tail = seen[-3:]
            super().data_received(data)

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
