"""deploy/nginx/simpul.conf.template as tests/support/nginx.py fills it in: nginx accepts it
(`nginx -t`), and it passes to another gateway only idempotent requests, keyed changes, or
requests not yet sent."""

from __future__ import annotations

import re
import socket
import threading

import httpx
import pytest

from simpul.shared.serve import KEEPALIVE_SECONDS
from tests.support.nginx import TEMPLATE, Nginx, nginx_binary


def directives(name: str) -> list[str]:
    text = "\n".join(line.split("#", 1)[0] for line in TEMPLATE.read_text().splitlines())
    return [match.strip() for match in re.findall(rf"^\s*{name}\s+([^;]*);", text, re.M)]


def test_another_gateway_gets_a_request_only_when_it_is_safe():
    plain, keyed = directives("proxy_next_upstream")
    assert set(plain.split()) == {"error", "timeout"}, "non_idempotent would resend an unkeyed POST already sent"
    assert set(keyed.split()) == {"error", "timeout", "non_idempotent"}
    assert directives("proxy_next_upstream_tries") == ["2"]


def test_nginx_drops_an_idle_connection_before_the_gateway_does():
    (timeout,) = directives("keepalive_timeout")
    assert float(timeout.removesuffix("s")) < KEEPALIVE_SECONDS


def test_the_request_id_and_client_address_reach_the_gateway():
    headers = dict(value.split(None, 1) for value in directives("proxy_set_header"))
    assert headers["X-Request-Id"] == "$simpul_request_id"
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"


class Upstream:
    """A gateway stand-in on loopback: reads a request head; to a POST it hangs up without a
    word, or answers 200 (and counts the POSTs); a GET (nginx's start-up check) is answered."""

    def __init__(self, *, hangs_up: bool) -> None:
        self.hangs_up = hangs_up
        self.seen = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                posted = data.startswith(b"POST")
                self.seen += posted
                if not (posted and self.hangs_up):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self.server.close()


def statuses_until_cut_off(directory, headers: dict[str, str]) -> list[int]:
    """POSTs through nginx in front of a gateway that hangs up and one that answers, until the
    one that hangs up has had a request (nginx then rests it for fail_timeout)."""
    hanging, answering = Upstream(hangs_up=True), Upstream(hangs_up=False)
    nginx = Nginx(directory, [hanging.url, answering.url])
    nginx.start()
    try:
        statuses = []
        with httpx.Client(base_url=nginx.url, timeout=10) as client:
            while hanging.seen == 0 and len(statuses) < 4:
                statuses.append(client.post("/v1/submissions", json={}, headers=headers).status_code)
        assert hanging.seen == 1
        return statuses
    finally:
        nginx.stop()
        hanging.close()
        answering.close()


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (system-packages.txt)")
def test_a_keyed_post_cut_off_is_sent_to_the_other_gateway_an_unkeyed_one_is_not(tmp_path):
    assert set(statuses_until_cut_off(tmp_path / "keyed", {"Idempotency-Key": "key-1"})) == {200}
    assert statuses_until_cut_off(tmp_path / "unkeyed", {})[-1] == 502


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (system-packages.txt)")
def test_nginx_accepts_the_configuration_the_tests_run(tmp_path):
    Nginx(tmp_path, ["http://127.0.0.1:18000", "http://127.0.0.1:18001"]).checked_command()
    rendered = (tmp_path / "simpul.conf").read_text()
    assert "${" not in rendered
    assert "server 127.0.0.1:18001 max_fails=1" in rendered
