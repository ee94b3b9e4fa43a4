"""SIMPUL_FORWARDED_ALLOW_IPS: the caller's address comes from X-Forwarded-For only when the peer
is a trusted proxy, so anonymous callers behind nginx each get their own rate bucket and a caller
reaching the gateway directly cannot pick one. (The test transport's peer is 127.0.0.1.)"""

from __future__ import annotations

import pytest

from simpul.gateway.settings import GatewaySettings

# Two requests per address, then 429.
TIGHT = {"rate_limit_per_minute": 60, "rate_limit_burst": 2}


async def statuses(http, forwarded_for: str, count: int) -> list[int]:
    return [(await http.get("/v1/services", headers={"X-Forwarded-For": forwarded_for})).status_code
            for _ in range(count)]


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_bucket(start_gateway):
    async with start_gateway(trusted_proxies="127.0.0.1", **TIGHT) as gateway:
        assert await statuses(gateway.http, "203.0.113.1", 3) == [200, 200, 429]
        # Another caller behind the same proxy is not held back by the first.
        assert await statuses(gateway.http, "203.0.113.2", 2) == [200, 200]
        # The address the proxy appended is the caller's, whatever the caller claimed before it.
        assert await statuses(gateway.http, "198.51.100.7, 203.0.113.1", 1) == [429]


async def test_an_untrusted_peer_cannot_choose_its_bucket_by_claiming_addresses(start_gateway):
    async with start_gateway(trusted_proxies="10.0.0.0/8", **TIGHT) as gateway:
        assert await statuses(gateway.http, "203.0.113.1", 2) == [200, 200]
        # A new claimed address each time: still the peer's one bucket.
        assert await statuses(gateway.http, "203.0.113.99", 1) == [429]
        assert await statuses(gateway.http, "10.1.2.3", 1) == [429]


async def test_by_default_no_proxy_is_trusted(start_gateway):
    async with start_gateway(**TIGHT) as gateway:
        assert await statuses(gateway.http, "203.0.113.1", 2) == [200, 200]
        assert await statuses(gateway.http, "203.0.113.2", 1) == [429]


@pytest.mark.parametrize("variable", ["SIMPUL_FORWARDED_ALLOW_IPS", "SIMPUL_TRUSTED_PROXIES"])
def test_the_setting_is_read_by_its_name_and_its_former_name(monkeypatch, variable):
    monkeypatch.delenv("SIMPUL_FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.delenv("SIMPUL_TRUSTED_PROXIES", raising=False)
    assert GatewaySettings().trusted_proxy_networks() == []
    monkeypatch.setenv(variable, "127.0.0.1, 10.0.0.0/8")
    assert GatewaySettings().trusted_proxy_networks() == ["127.0.0.1", "10.0.0.0/8"]
