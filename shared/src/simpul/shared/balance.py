"""Balancing calls across the replicas of one service.

`SIMPUL_<SERVICE>_URL` lists one or more base URLs, comma-separated. A `Balancer` keeps one
`Replica` per base URL, or per address when a name resolves to several (a Kubernetes headless
Service), re-resolved every `resolve_seconds`. A call goes to the replica with the fewest calls in
flight (ties taken in turn). A replica that refuses connections, or whose `/readyz` fails, is
ejected; the background loop probes every replica's `/readyz` every `probe_seconds` while one is
ejected and brings it back once it answers 200; while all are ready, at a third of that pace (a
replica that refuses a connection is ejected by the call that met it anyway). When every replica is ejected they are still tried: a refusal from
the service is no worse than one from the caller.

`Balancer.call` tries the replicas in that order, each at most once per call: on another one
when the request surely never left (the connection could not be made), or when it is safe to
send twice (GET/HEAD/OPTIONS, or a change carrying an Idempotency-Key, which the service settles
in the change's own transaction). The caller says which failure is which (`Failure`).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger("simpul.balance")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_HEADER = "idempotency-key"
PROBE_SECONDS = 2.0
# While every replica is ready the probes only confirm it: every caller probing every replica of
# every service costs each replica a /readyz per caller per round, so with replicas the rounds are
# spaced out to 10 s, Kubernetes' default readiness period (measured: bench/system.py --replicas
# 1,2, bench/README.md); a refused connection ejects a replica at once whatever the period.
CALM_PROBE_FACTOR = 5
RESOLVE_SECONDS = 10.0
PROBE_TIMEOUT = 1.0

T = TypeVar("T")


class ReplicaListError(ValueError):
    """A replica list names something that is not an http(s) base URL."""


def parse_replica_urls(variable: str, value: str) -> list[str]:
    """The base URLs in a comma-separated list, without trailing slashes; a malformed entry
    raises `ReplicaListError` naming the variable and the entry."""
    urls = []
    for entry in value.split(","):
        entry = entry.strip()
        try:
            parts = urlsplit(entry)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
        except ValueError:
            raise ReplicaListError(f"{variable}: {entry!r} has a malformed host or port") from None
        if parts.scheme not in ("http", "https"):
            raise ReplicaListError(f"{variable}: {entry!r} is not an http:// or https:// URL")
        if not parts.hostname:
            raise ReplicaListError(f"{variable}: {entry!r} names no host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ReplicaListError(f"{variable}: {entry!r} must be a plain base URL (no credentials, query or fragment)")
        urls.append(entry.rstrip("/"))
    return urls


def repeatable(method: str, headers: Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]) -> bool:
    """Safe to send again after it may have reached a replica: a safe method, or a change whose
    Idempotency-Key makes a second delivery replay the first."""
    if method.upper() in SAFE_METHODS:
        return True
    for name, _ in headers:
        lowered = name.lower()
        if lowered in (IDEMPOTENCY_HEADER, IDEMPOTENCY_HEADER.encode()):
            return True
    return False


class Failure(enum.Enum):
    # The request never left: no connection could be made. Always tried on another replica.
    UNREACHABLE = "unreachable"
    # It may have reached the service (the connection broke before an answer): tried on another
    # replica only when repeatable.
    MAYBE_SENT = "maybe-sent"


@dataclass(eq=False)
class Replica:
    """One address of a service. `url` is where to connect, `host` the Host header (and TLS
    server name) the configured URL names, so a service behind a name sees that name."""

    configured: str
    url: str
    host: str
    server_name: str
    in_flight: int = 0
    ejected: bool = False

    @classmethod
    def of(cls, configured: str, address: str | None = None) -> Replica:
        parts = urlsplit(configured)
        hostname = parts.hostname or ""
        host = parts.netloc.rpartition("@")[2]
        url = configured
        if address is not None and address != hostname:
            literal = f"[{address}]" if ":" in address else address
            netloc = f"{literal}:{parts.port}" if parts.port else literal
            url = parts._replace(netloc=netloc).geturl()
        return cls(configured=configured, url=url, host=host, server_name=hostname)

    @property
    def by_address(self) -> bool:
        return self.url != self.configured

    def with_host(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers`, plus the configured name as Host when this replica is reached by address."""
        return {**headers, "Host": self.host} if self.by_address else headers


Resolver = Callable[[str, int], Awaitable[list[str]]]
Probe = Callable[[Replica], Awaitable[bool]]


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), in a stable order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Balancer:
    """The replicas of one service, for one caller; `start()` begins the background probing and
    re-resolution, `close()` ends it."""

    def __init__(self, service: str, urls: list[str], *, probe: Probe, resolver: Resolver = resolve_addresses,
                 probe_seconds: float = PROBE_SECONDS, resolve_seconds: float = RESOLVE_SECONDS,
                 always_probe: bool = False) -> None:
        if not urls:
            raise ValueError(f"no replica of {service}")
        self.service = service
        self.urls = urls
        self.replicas = [Replica.of(url) for url in urls]
        self.retries = 0
        self._probe = probe
        self._resolver = resolver
        self._probe_seconds = probe_seconds
        self._resolve_seconds = resolve_seconds
        self._turn = 0
        self._task: asyncio.Task | None = None
        # One replica at a fixed address leaves nothing to choose or resolve: no background work,
        # unless the caller reports readiness (`always_probe`, the gateway).
        self._always_probe = always_probe
        self._dynamic = always_probe or len(urls) > 1 or not _is_address(urlsplit(urls[0]).hostname or "")

    # selection

    def pick(self, tried: set[Replica] | frozenset[Replica] = frozenset()) -> Replica | None:
        """The replica not yet tried with the fewest calls in flight, ejected ones last; None when
        every one was tried."""
        replicas = self.replicas
        count = len(replicas)
        if count == 1:  # the common case, on the gateway's hot path
            return None if replicas[0] in tried else replicas[0]
        self._turn += 1
        best: Replica | None = None
        best_key = (True, 0)
        for offset in range(count):
            replica = replicas[(self._turn + offset) % count]
            if replica in tried:
                continue
            key = (replica.ejected, replica.in_flight)
            if best is None or key < best_key:
                best, best_key = replica, key
        return best

    def ready_count(self) -> int:
        return sum(not replica.ejected for replica in self.replicas)

    def ejected_count(self) -> int:
        return len(self.replicas) - self.ready_count()

    def eject(self, replica: Replica, reason: object) -> None:
        if not replica.ejected:
            replica.ejected = True
            log.warning("%s replica %s ejected: %s", self.service, replica.url, reason)

    def restore(self, replica: Replica) -> None:
        if replica.ejected:
            replica.ejected = False
            log.info("%s replica %s is back", self.service, replica.url)

    async def call(self, send: Callable[[Replica], Awaitable[T]], *, classify: Callable[[BaseException], Failure | None],
                   repeatable: bool) -> T:
        """`send(replica)` on one replica after another until one answers, within the rules above;
        the last failure is raised when none may or can be tried any more."""
        self.ensure_started()
        tried: list[Replica] = []
        replica = self.pick()
        assert replica is not None, "a balancer has at least one replica"
        while True:
            tried.append(replica)
            replica.in_flight += 1
            try:
                return await send(replica)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if failure is Failure.UNREACHABLE:
                    self.eject(replica, exc)
                elif not repeatable:
                    raise
                following = self.pick(set(tried))
                # A lone replica's kept-alive connection closed while idle: a repeatable call goes
                # once more, on a fresh connection (the broken one was dropped).
                if following is None and failure is Failure.MAYBE_SENT and tried == [replica] \
                        and len(self.replicas) == 1:
                    following = replica
                if following is None:
                    raise
                self.retries += 1
                log.info("%s: retrying after %r", self.service, exc)
            finally:
                replica.in_flight -= 1
            replica = following

    # background probing and re-resolution

    def ensure_started(self) -> None:
        """Starts the background loop on first use in a running event loop (clients built before
        the app's loop exists start it with their first call)."""
        self._begin(refreshed=False)

    async def start(self) -> None:
        """Resolves and probes once, then keeps doing it in the background."""
        if self._dynamic:
            await self.refresh(resolve=True)
        self._begin(refreshed=True)

    def _begin(self, *, refreshed: bool) -> None:
        if self._task is None and self._dynamic:
            self._task = asyncio.get_running_loop().create_task(self._run(refreshed), name=f"balancer:{self.service}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self, refreshed: bool) -> None:
        loop = asyncio.get_running_loop()
        next_resolve = loop.time() + (self._resolve_seconds if refreshed else 0.0)
        if refreshed:
            await asyncio.sleep(self._probe_seconds)
        while True:
            resolve = loop.time() >= next_resolve
            if resolve:
                next_resolve = loop.time() + self._resolve_seconds
            try:
                await self.refresh(resolve=resolve)
            except Exception:  # the loop must outlive any one round; the cause goes to the log
                log.exception("probing the %s replicas failed", self.service)
            await asyncio.sleep(self._probe_seconds * (CALM_PROBE_FACTOR if self.ejected_count() == 0 else 1))

    async def refresh(self, *, resolve: bool) -> None:
        if resolve:
            await self._resolve()
        replicas = list(self.replicas)
        if len(replicas) == 1 and not self._always_probe:
            return
        outcomes = await asyncio.gather(*(self._probe_once(replica) for replica in replicas))
        for replica, ready in zip(replicas, outcomes, strict=True):
            if ready:
                self.restore(replica)
            else:
                self.eject(replica, "/readyz failed")

    async def _probe_once(self, replica: Replica) -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                return await self._probe(replica)
        except Exception:  # a probe that fails in any way means not ready
            return False

    async def _resolve(self) -> None:
        current = {(replica.configured, replica.url): replica for replica in self.replicas}
        replicas: list[Replica] = []
        for configured in self.urls:
            parts = urlsplit(configured)
            host = parts.hostname or ""
            if _is_address(host):
                addresses: list[str | None] = [None]
            else:
                try:
                    addresses = list(await self._resolver(host, parts.port or 80)) or [None]
                except OSError as exc:
                    log.warning("cannot resolve %s for %s: %s", host, self.service, exc)
                    replicas += [replica for replica in self.replicas if replica.configured == configured]
                    continue
            for address in addresses:
                fresh = Replica.of(configured, address)
                replicas.append(current.get((configured, fresh.url), fresh))
        self.replicas = replicas


class BalancerCollector:
    """Prometheus series of a process's balancers: retries on another replica, ejected replicas."""

    def __init__(self, balancers: Callable[[], Iterable[Balancer]]) -> None:
        self._balancers = balancers

    def collect(self):
        retries = CounterMetricFamily("simpul_upstream_retries", "Calls retried on another replica", labels=["service"])
        ejected = GaugeMetricFamily("simpul_upstream_ejected_replicas", "Replicas ejected as not ready",
                                    labels=["service"])
        # A process may hold several balancers of one service (one per client): summed per service.
        totals: dict[str, list[int]] = {}
        for balancer in self._balancers():
            total = totals.setdefault(balancer.service, [0, 0])
            total[0] += balancer.retries
            total[1] += balancer.ejected_count()
        for service, (retried, out) in sorted(totals.items()):
            retries.add_metric([service], retried)
            ejected.add_metric([service], out)
        yield retries
        yield ejected
