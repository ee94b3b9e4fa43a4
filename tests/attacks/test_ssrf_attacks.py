"""Webhook URLs as an SSRF attacker writes them, against the notifications service with private
addresses refused (the production setting): every spelling of loopback, the cloud metadata
address, private ranges, IPv6 loopback and IPv4-mapped forms, decimal, octal and hex IPv4,
userinfo tricks and other schemes are refused with 422 naming `url` and nothing is written; a
name that resolves to a public address when subscribed and to loopback when delivered (DNS
rebinding) reaches nothing, because the connection goes only to an address checked at connect
time; redirects are never followed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.api.notifications.conftest import (  # noqa: F401 - fixtures
    admin,
    applicant,
    mail,
    receiver,
    start,
    submission_event,
)

EVENTS = ["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated"]
REFUSED_URLS = [
    # loopback, spelled every way a resolver or URL parser accepts
    "http://127.0.0.1/hook", "http://127.1/hook", "http://127.0.0.1:6379/", "http://localhost/hook",
    "http://localhost./hook", "http://LOCALHOST:8000/hook", "http://2130706433/hook", "http://0x7f000001/hook",
    "http://0x7f.0.0.1/hook", "http://017700000001/hook", "http://0177.0.0.1/hook", "http://0/hook",
    "http://0.0.0.0/hook", "http://[::1]/hook", "http://[::]/hook", "http://[0:0:0:0:0:0:0:1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://[::ffff:7f00:1]/hook", "http://[0:0:0:0:0:ffff:127.0.0.1]/hook",
    # cloud metadata (link-local), however written
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/latest/meta-data/",
    # private and shared ranges
    "http://10.0.0.1/hook", "http://172.16.0.1/hook", "http://192.168.1.1/hook", "http://100.64.0.1/hook",
    "http://[fd00::1]/hook", "http://[fc00::1]/hook", "http://224.0.0.1/hook", "http://255.255.255.255/hook",
    # userinfo and fragment tricks
    "http://user:pass@example.org/hook", "http://example.org@127.0.0.1/hook", "http://127.0.0.1#@example.org/hook",
    "http://example.org%40127.0.0.1/hook", "http://127.0.0.1\\@example.org/hook",
    # other schemes and broken forms
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/stats", "ftp://example.org/",
    "ws://example.org/hook", "javascript:alert(1)", "data:text/plain,hook", "http:///hook", "http://:80/hook",
    "//example.org/hook", "not a url", "http://exa mple.org/hook", "http://" + "a" * 2100 + ".org/",
]
PUBLIC = "93.184.216.34"


@pytest.fixture
def resolver(monkeypatch):
    """Names of our own, each answering a list of address lists in turn (the last one for ever):
    both the check at subscription and the resolver the delivery connects through use the loop's
    getaddrinfo."""
    plans: dict[str, list[list[str]]] = {}
    original = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):  # noqa: A002 - the loop's names
        name = host.decode() if isinstance(host, bytes) else host
        if name not in plans:
            return await original(self, host, port, family=family, type=type, proto=proto, flags=flags)
        answers = plans[name]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (address, int(port or 0))) for address in addresses]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return plans


async def written(harness) -> tuple[list, int]:
    listed = (await harness.client.get("/v1/webhooks", headers=applicant("31"))).json()["items"]
    checked = (await harness.client.get("/v1/admin/audit/notifications/verify", headers=admin())).json()["checked"]
    return listed, checked


async def test_every_internal_or_odd_url_is_refused_and_nothing_is_written(start, resolver):
    resolver["internal.attack.test"] = [["10.1.2.3"]]
    resolver["mixed.attack.test"] = [[PUBLIC, "127.0.0.1"]]
    resolver["metadata.attack.test"] = [["169.254.169.254"]]
    urls = [*REFUSED_URLS, "http://internal.attack.test/hook", "http://mixed.attack.test/hook",
            "http://metadata.attack.test/latest/meta-data/"]
    async with start(webhook_allow_loopback=False) as harness:
        before = await written(harness)
        for url in urls:
            response = await harness.client.post("/v1/webhooks", json={"url": url, "events": EVENTS},
                                                 headers={**applicant("31"), "Accept-Language": "en"})
            assert response.status_code == 422, (url, response.status_code, response.text)
            body = response.json()
            assert body["type"].endswith(("webhook-url-refused", "validation-failed")), (url, body)
            assert body["errors"][0]["field"] == "url", (url, body)
        assert await written(harness) == before


async def test_link_local_stays_refused_when_loopback_is_allowed(harness_allowing_loopback):
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://2852039166/"):
        response = await harness_allowing_loopback.client.post("/v1/webhooks", json={"url": url, "events": EVENTS},
                                                               headers=applicant("31"))
        assert response.status_code == 422, url


@pytest.fixture
async def harness_allowing_loopback(start):
    async with start(webhook_allow_loopback=True) as harness:
        yield harness


async def test_dns_rebinding_after_the_subscription_reaches_nothing(start, receiver, resolver):
    # Public when the subscription is checked; loopback, where the receiver listens, ever after.
    resolver["rebind.attack.test"] = [[PUBLIC], ["127.0.0.1"]]
    async with start(webhook_allow_loopback=False, webhook_retry_window_seconds=0.5) as harness:
        created = await harness.client.post("/v1/webhooks", headers=applicant("31"), json={
            "url": f"http://rebind.attack.test:{receiver.port}/hook", "events": EVENTS})
        assert created.status_code == 201, created.text
        subscription = created.json()["id"]
        event = submission_event(tenant="31")
        await harness.send(event)

        async def attempted():
            response = await harness.client.get(f"/v1/webhooks/{subscription}/deliveries", headers=applicant("31"))
            items = response.json()["items"]
            return items if items and items[0]["attempts"] else None

        (delivery,) = await harness.eventually(attempted, message="no delivery attempt")
        assert delivery["attempts"][0]["error"] == "address not allowed", delivery
        assert delivery["attempts"][0]["status_code"] is None
        await asyncio.sleep(0.5)
        assert receiver.received() == [], "a rebound name reached the loopback receiver"


async def test_redirects_are_not_followed_to_another_address(harness_allowing_loopback, receiver):
    harness = harness_allowing_loopback
    created = await harness.client.post("/v1/webhooks", headers=applicant("31"),
                                        json={"url": receiver.url("/hook"), "events": EVENTS})
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    receiver.script["/hook"] = [302]  # Location: /elsewhere
    await harness.send(submission_event(tenant="31"))
    await harness.eventually(lambda: receiver.accepted_ids(), message="never delivered")
    assert [request.path for request in receiver.received()] == ["/hook", "/hook"]
    deliveries = await harness.client.get(f"/v1/webhooks/{created.json()['id']}/deliveries", headers=applicant("31"))
    (delivery,) = deliveries.json()["items"]
    assert delivery["attempts"][0]["error"] == "HTTP 302: redirect not followed"
