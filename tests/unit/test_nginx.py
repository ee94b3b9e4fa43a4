"""deploy/nginx/simpul.conf.template as tests/support/nginx.py fills it in: nginx accepts it
(`nginx -t`), and it passes only idempotent requests, or requests not yet sent, to another gateway."""

from __future__ import annotations

import re

import pytest

from tests.support.nginx import TEMPLATE, Nginx, nginx_binary


def directives(name: str) -> list[str]:
    text = "\n".join(line.split("#", 1)[0] for line in TEMPLATE.read_text().splitlines())
    return [match.strip() for match in re.findall(rf"^\s*{name}\s+([^;]*);", text, re.M)]


def test_another_gateway_gets_a_request_only_when_it_is_safe():
    (retry,) = directives("proxy_next_upstream")
    assert set(retry.split()) == {"error", "timeout"}, "non_idempotent would resend a POST already sent"
    assert directives("proxy_next_upstream_tries") == ["2"]


def test_the_request_id_and_client_address_reach_the_gateway():
    headers = dict(value.split(None, 1) for value in directives("proxy_set_header"))
    assert headers["X-Request-Id"] == "$simpul_request_id"
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (system-packages.txt)")
def test_nginx_accepts_the_configuration_the_tests_run(tmp_path):
    Nginx(tmp_path, ["http://127.0.0.1:18000", "http://127.0.0.1:18001"]).checked_command()
    rendered = (tmp_path / "simpul.conf").read_text()
    assert "${" not in rendered
    assert "server 127.0.0.1:18001 max_fails=1" in rendered
