"""The replica balancer: lists, selection, ejection and return, DNS expansion, retry rules."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from simpul.shared.balance import (
    CALM_PROBE_FACTOR,
    Balancer,
    Failure,
    Replica,
    ReplicaListError,
    parse_replica_urls,
    repeatable,
)
from simpul.shared.internal import InternalClient
from simpul.shared.settings import BaseServiceSettings


async def always_ready(replica: Replica) -> bool:
    return True


def test_a_replica_list_is_split_and_trimmed():
    assert parse_replica_urls("SIMPUL_CATALOG_URL", "http://a:8001/, https://b.example/api ") == [
        "http://a:8001", "https://b.example/api"]


@pytest.mark.parametrize("entry, complaint", [
    ("catalog:8001", "is not an http:// or https:// URL"),
    ("ftp://catalog", "is not an http:// or https:// URL"),
    ("http://", "names no host"),
    ("http://catalog:99999", "malformed host or port"),
    ("http://catalog:80x", "malformed host or port"),
    ("", "is not an http:// or https:// URL"),
])
def test_a_malformed_entry_is_named_with_its_variable(entry, complaint):
    with pytest.raises(ReplicaListError) as caught:
        parse_replica_urls("SIMPUL_CATALOG_URL", f"http://ok:1,{entry}")
    assert str(caught.value).startswith(f"SIMPUL_CATALOG_URL: {entry!r}")
    assert complaint in str(caught.value)


def test_settings_refuse_a_malformed_replica_list(monkeypatch):
    monkeypatch.setenv("SIMPUL_SUBMISSIONS_URL", "http://127.0.0.1:1,127.0.0.1:2")
    with pytest.raises(ValueError, match="SIMPUL_SUBMISSIONS_URL: '127.0.0.1:2'"):
        BaseServiceSettings()
    monkeypatch.setenv("SIMPUL_SUBMISSIONS_URL", "http://127.0.0.1:1, http://127.0.0.1:2")
    assert BaseServiceSettings().replica_urls("submissions") == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


def test_the_least_loaded_replica_is_chosen_and_ties_go_in_turn():
    balancer = Balancer("catalog", ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"],
                        probe=always_ready)
    first, second, third = balancer.replicas
    assert {balancer.pick().url for _ in range(3)} == {first.url, second.url, third.url}
    first.in_flight, second.in_flight, third.in_flight = 2, 0, 1
    assert balancer.pick() is second
    assert balancer.pick({second}) is third
    assert balancer.pick({first, second, third}) is None


def test_ejected_replicas_are_chosen_only_when_every_replica_is_out():
    balancer = Balancer("catalog", ["http://127.0.0.1:1", "http://127.0.0.1:2"], probe=always_ready)
    first, second = balancer.replicas
    balancer.eject(first, "test")
    assert all(balancer.pick() is second for _ in range(4))
    assert balancer.ejected_count() == 1
    balancer.eject(second, "test")
    assert {balancer.pick().url for _ in range(4)} == {first.url, second.url}


async def test_a_replica_failing_readyz_is_ejected_and_returns_when_ready():
    ready = {"http://127.0.0.1:1": True, "http://127.0.0.1:2": False}

    async def probe(replica: Replica) -> bool:
        return ready[replica.url]

    balancer = Balancer("catalog", list(ready), probe=probe, probe_seconds=0.02)
    await balancer.start()
    try:
        assert [replica.ejected for replica in balancer.replicas] == [False, True]
        ready["http://127.0.0.1:2"] = True
        await asyncio.sleep(0.1)
        assert balancer.ejected_count() == 0
    finally:
        await balancer.close()


async def test_replicas_all_ready_are_probed_at_a_calmer_pace_than_while_one_is_ejected():
    ready = {"http://127.0.0.1:1": True, "http://127.0.0.1:2": True}
    probes = Counter()

    async def probe(replica: Replica) -> bool:
        probes[replica.url] += 1
        return ready[replica.url]

    balancer = Balancer("catalog", list(ready), probe=probe, probe_seconds=0.05)
    await balancer.start()
    try:
        probes.clear()
        await asyncio.sleep(0.6)
        calm = probes["http://127.0.0.1:1"]
        ready["http://127.0.0.1:2"] = False
        await asyncio.sleep(0.2)  # the calm round that ejects it
        probes.clear()
        await asyncio.sleep(0.6)
        alert = probes["http://127.0.0.1:1"]
    finally:
        await balancer.close()
    assert calm <= 0.6 / (0.05 * CALM_PROBE_FACTOR) + 1
    assert alert >= 2 * calm


async def test_a_probe_that_hangs_or_raises_means_not_ready():
    async def probe(replica: Replica) -> bool:
        if replica.url.endswith(":1"):
            await asyncio.sleep(10)
        raise httpx.ConnectError("refused")

    balancer = Balancer("catalog", ["http://127.0.0.1:1", "http://127.0.0.1:2"], probe=probe)
    await balancer.refresh(resolve=False)
    assert balancer.ejected_count() == 2


async def test_a_name_with_several_addresses_becomes_one_replica_each_and_is_resolved_again():
    answers = {"catalog.internal": ["127.0.0.1", "127.0.0.2"]}

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    balancer = Balancer("catalog", ["http://catalog.internal:8001/base"], probe=always_ready, resolver=resolver,
                        probe_seconds=0.02, resolve_seconds=0.05)
    await balancer.start()
    try:
        assert [replica.url for replica in balancer.replicas] == [
            "http://127.0.0.1:8001/base", "http://127.0.0.2:8001/base"]
        kept = balancer.replicas[1]
        assert (kept.host, kept.server_name) == ("catalog.internal:8001", "catalog.internal")
        answers["catalog.internal"] = ["127.0.0.2", "127.0.0.3"]
        await asyncio.sleep(0.2)
        assert [replica.url for replica in balancer.replicas] == [
            "http://127.0.0.2:8001/base", "http://127.0.0.3:8001/base"]
        assert balancer.replicas[0] is kept  # its load and state carry over
    finally:
        await balancer.close()


async def test_a_failed_resolution_keeps_the_replicas_known():
    async def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    balancer = Balancer("catalog", ["http://catalog.internal:8001"], probe=always_ready, resolver=resolver)
    await balancer.refresh(resolve=True)
    assert [replica.url for replica in balancer.replicas] == ["http://catalog.internal:8001"]


def test_what_may_be_sent_twice():
    assert repeatable("GET", [])
    assert repeatable("head", [])
    assert repeatable("OPTIONS", [])
    assert not repeatable("POST", [("Content-Type", "application/json")])
    assert repeatable("POST", [("Idempotency-Key", "k")])
    assert repeatable("DELETE", [(b"idempotency-key", b"k")])
    assert not repeatable("PATCH", [(b"content-type", b"application/json")])


class Refused(Exception):
    pass


class Broken(Exception):
    pass


def classify(exc: BaseException) -> Failure | None:
    return {Refused: Failure.UNREACHABLE, Broken: Failure.MAYBE_SENT}.get(type(exc))


def two_replicas() -> Balancer:
    return Balancer("catalog", ["http://127.0.0.1:1", "http://127.0.0.1:2"], probe=always_ready)


async def test_a_refused_connection_goes_to_another_replica_and_ejects_the_first():
    balancer = two_replicas()
    dead = balancer.replicas[0]
    seen = []

    async def send(replica: Replica) -> str:
        seen.append(replica)
        if replica is dead:
            raise Refused()
        return "answer"

    results = [await balancer.call(send, classify=classify, repeatable=False) for _ in range(4)]
    assert results == ["answer"] * 4
    assert seen.count(dead) == 1 and dead.ejected
    assert balancer.retries <= 1
    assert all(replica.in_flight == 0 for replica in balancer.replicas)


async def test_a_broken_answer_is_tried_elsewhere_only_when_repeatable():
    balancer = two_replicas()
    calls = []

    async def send(replica: Replica) -> str:
        calls.append(replica)
        if len(calls) == 1:
            raise Broken()
        return "answer"

    with pytest.raises(Broken):
        await balancer.call(send, classify=classify, repeatable=False)
    assert len(calls) == 1 and balancer.ejected_count() == 0
    calls.clear()
    assert await balancer.call(send, classify=classify, repeatable=True) == "answer"
    assert len(calls) == 2 and calls[0] is not calls[1]
    assert balancer.retries == 1


def failing_with(failure: type[Exception], calls: list[Replica]):
    async def send(replica: Replica) -> str:
        calls.append(replica)
        raise failure()

    return send


@pytest.mark.parametrize("failure, attempts", [(Refused, 2), (Broken, 2), (TimeoutError, 1)])
async def test_each_replica_is_tried_at_most_once_other_failures_not_again_and_the_last_is_raised(failure, attempts):
    balancer = two_replicas()
    calls = []
    with pytest.raises(failure):
        await balancer.call(failing_with(failure, calls), classify=classify, repeatable=True)
    assert len(calls) == attempts and len(set(calls)) == attempts


async def test_a_lone_replica_gets_a_repeatable_call_once_more_after_a_broken_connection():
    balancer = Balancer("catalog", ["http://127.0.0.1:1"], probe=always_ready)
    calls = []
    with pytest.raises(Broken):
        await balancer.call(failing_with(Broken, calls), classify=classify, repeatable=True)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(Broken):
        await balancer.call(failing_with(Broken, calls), classify=classify, repeatable=False)
    assert len(calls) == 1


async def test_internal_calls_balance_and_keep_the_configured_host():
    hosts = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append((request.url.host, request.headers["host"]))
        if request.url.host == "127.0.0.1":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": True})

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "127.0.0.2"]

    client = InternalClient(caller="submissions", target="catalog", base_url="http://catalog.internal:8001",
                            secret="s" * 32, transport=httpx.MockTransport(handler))
    client.balancer._resolver = resolver
    await client.balancer.refresh(resolve=True)
    try:
        for _ in range(3):
            response = await client.request("POST", "/internal/x", json={}, headers={"Idempotency-Key": "k"})
            assert response.json() == {"ok": True}
        assert ("127.0.0.2", "catalog.internal:8001") in hosts
        assert hosts.count(("127.0.0.1", "catalog.internal:8001")) <= 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("service", ["gateway", "submissions"])
def test_a_process_with_a_malformed_replica_list_stops_with_one_clear_line(service, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    env.update(SIMPUL_DATA_DIR=str(tmp_path), SIMPUL_CATALOG_URL="http://127.0.0.1:8001, http://catalog:80x")
    result = subprocess.run([sys.executable, "-m", f"simpul.{service}"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "simpul: invalid settings: SIMPUL_CATALOG_URL: 'http://catalog:80x' has a malformed host or port")
