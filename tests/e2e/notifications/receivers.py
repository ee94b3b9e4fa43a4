"""Real parts the notification tests talk to: an SMTP server (aiosmtpd) that can go down and come
back on the same port, an HTTP webhook receiver that verifies Standard Webhooks signatures, and
a RabbitMQ virtual host of its own per test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit, urlunsplit

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.processes import free_port

AMQP_ENV = "SIMPUL_TEST_AMQP"


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05,
             message: str = "condition not met") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"{message} after {timeout} s")


class MailSink:
    """An SMTP server on a fixed loopback port; `stop()` and `start()` simulate an outage.

    `replies` maps a recipient to SMTP replies given to its next deliveries (e.g. a 451 first);
    `data_seconds` is how long it takes to accept a message (a slow server)."""

    def __init__(self, data_seconds: float = 0.0, **options) -> None:
        # `options` go to aiosmtpd (tls_context, require_starttls, authenticator, ...).
        self.options = options
        self.data_seconds = data_seconds
        self.port = free_port()
        self._raw: list[bytes] = []
        self._parsed: list[EmailMessage] = []
        self._arrived_at: list[float] = []
        self.replies: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        with self._lock:
            queued = self.replies.get(address)
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        if self.data_seconds:
            await asyncio.sleep(self.data_seconds)
        # Parsed when asked for: the server answers as fast as a real one would.
        with self._lock:
            self._raw.append(envelope.content)
            self._arrived_at.append(time.time())
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            raw = self._raw[len(self._parsed):]
            self._parsed.extend(email.message_from_bytes(content, policy=email.policy.default) for content in raw)
            return list(self._parsed)

    def raw(self) -> list[bytes]:
        """The messages as they arrived, bytes a person would see with `cat`."""
        with self._lock:
            return list(self._raw)

    def count(self) -> int:
        with self._lock:
            return len(self._raw)

    def clear(self) -> None:
        with self._lock:
            self._raw.clear()
            self._parsed.clear()
            self._arrived_at.clear()

    def message_ids(self) -> Counter:
        return Counter(message["Message-ID"] for message in self.received())

    def arrivals(self) -> dict[str, list[float]]:
        """Message-ID -> when each copy arrived."""
        found: dict[str, list[float]] = {}
        messages = self.received()
        with self._lock:
            arrived_at = self._arrived_at[:len(messages)]
        for message, at in zip(messages, arrived_at, strict=True):
            found.setdefault(message["Message-ID"], []).append(at)
        return found

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.received() if message["To"] == address]


@dataclass
class WebhookRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verified_with: list[int] = field(default_factory=list)
    at: float = field(default_factory=time.time)


class WebhookReceiver:
    """A threaded HTTP server. `script[path]` lists the status codes to answer next (then 200);
    `redirect` makes a path answer 302. Every request is kept with which secrets verify it."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self.script: dict[str, list[int]] = {}
        self.secrets: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver._lock:
                    queued = receiver.script.get(self.path)
                    status = queued.pop(0) if queued else 200
                    verified = []
                    for index, secret in enumerate(receiver.secrets):
                        try:
                            Webhook(secret).verify(body, headers)
                            verified.append(index)
                        except WebhookVerificationError:
                            pass
                    receiver.requests.append(WebhookRequest(self.path, headers, body, status, verified))
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # a followed redirect would show up as a request to /elsewhere

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self, path: str | None = None) -> list[WebhookRequest]:
        with self._lock:
            return [request for request in self.requests if path is None or request.path == path]

    def accepted_ids(self, path: str | None = None) -> Counter:
        """webhook-id of every request answered 2xx: what the subscriber has received."""
        return Counter(request.headers["webhook-id"] for request in self.received(path) if request.status < 300)

    def arrivals(self) -> dict[str, list[float]]:
        """webhook-id -> when each accepted copy arrived."""
        found: dict[str, list[float]] = {}
        for request in self.received():
            if request.status < 300:
                found.setdefault(request.headers["webhook-id"], []).append(request.at)
        return found


def only_in_flight_copies(arrivals: dict[str, list[float]], crashes: list[float], window: float = 0.5) -> None:
    """A second copy of a message is allowed only for one in flight when the sender was killed:
    its first copy arrived just before a crash, before the sender could record the outcome."""
    for key, times in arrivals.items():
        if len(times) > 1:
            assert len(times) == 2, f"{key} arrived {len(times)} times"
            assert any(0 <= crash - times[0] <= window for crash in crashes), (
                f"{key} arrived twice, first {min(abs(crash - times[0]) for crash in crashes):.3f} s from a crash")


def amqp_server() -> str | None:
    return os.environ.get(AMQP_ENV) or None


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *arguments], check=True, capture_output=True, timeout=120)


@contextmanager
def amqp_vhost(server: str) -> Iterator[tuple[str, str]]:
    """A fresh virtual host for one test: (its URL, its name); deleted afterwards, so queues and
    exchanges of one test never meet another's."""
    name = f"simpul-test-{uuid.uuid4().hex[:12]}"
    parts = urlsplit(server)
    user = parts.username or "guest"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", "")), name
    finally:
        _rabbitmqctl("delete_vhost", name)


def close_broker_connections(vhost: str) -> None:
    """What clients see when the broker restarts: every connection of the vhost closed at once."""
    _rabbitmqctl("close_all_connections", "--vhost", vhost, "simulated broker restart")


def restart_broker_app() -> None:
    """A real restart of the RabbitMQ application (durable queues and persistent messages
    survive); disruptive for everyone on the machine, so only on request."""
    _rabbitmqctl("stop_app")
    _rabbitmqctl("start_app")
