"""Webhook mechanics: which URLs may be called, secrets (kept sealed), Standard Webhooks signatures, and the
HTTP client that posts deliveries (aiohttp; redirects are not followed)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from standardwebhooks import Webhook

from simpul.notifications.settings import NotificationsSettings
from simpul.shared.problems import Text

SECRET_PREFIX = "whsec_"
USER_AGENT = "Simpul-Webhooks/1.0"
MAX_URL_LENGTH = 2000


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_context(subscription_id: str) -> bytes:
    """What a sealed secret is bound to: its subscription, so that it opens on no other row. The
    same for the current and the previous secret, since a rotation moves one into the other."""
    return b"simpul webhook secret " + subscription_id.encode()


def sign(signing_secrets: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,<signature>` per secret (the current one, and
    the previous one during its grace period), space-separated as the spec allows."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets)


class UrlRefused(Exception):
    """Why a webhook URL may not be used (safe to show to the client)."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


TOO_LONG = Text("URL terlalu panjang", "the URL is too long")
NOT_VALID = Text("URL tidak valid", "the URL is not valid")
BAD_SCHEME = Text("URL harus memakai http atau https", "the URL must use http or https")
NO_HOST = Text("URL tidak memiliki host", "the URL has no host")
CREDENTIALS = Text("URL tidak boleh memuat kredensial", "the URL must not carry credentials")
FRAGMENT = Text("URL tidak boleh memiliki fragmen", "the URL must not have a fragment")
UNRESOLVABLE = Text("host URL tidak dapat di-resolve", "the URL's host cannot be resolved")
INTERNAL_ADDRESS = Text("URL menunjuk ke alamat loopback, privat atau khusus",
                        "the URL points to a loopback, private or reserved address")


# RFC 6052: a NAT64 gateway translates 64:ff9b::a.b.c.d to the IPv4 host a.b.c.d.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    """Public unicast addresses always; loopback and private ranges only when allowed. Link-local
    (cloud metadata endpoints live there), multicast, unspecified and reserved ranges never. An
    IPv6 address that carries an IPv4 one (mapped, 6to4, the NAT64 well-known prefix) is judged
    by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    if address.is_multicast or address.is_unspecified or address.is_link_local or address.is_reserved:
        return False
    if address.is_global:
        return True
    return allow_private and (address.is_loopback or address.is_private)


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def parse_url(url: str) -> tuple[str, int]:
    """Checks the form of a webhook URL; returns its host and port."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(TOO_LONG)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(NOT_VALID) from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(BAD_SCHEME)
    if not parts.hostname:
        raise UrlRefused(NO_HOST)
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(CREDENTIALS)
    if parts.fragment:
        raise UrlRefused(FRAGMENT)
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_url(url: str, allow_private: bool) -> None:
    """Refuses URLs whose host is, or resolves to, an address that may not be called."""
    host, port = parse_url(url)
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlRefused(UNRESOLVABLE) from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    # Every address must pass: a name that also resolves to an internal address is refused.
    if not addresses or not all(address_allowed(address, allow_private) for address in addresses):
        raise UrlRefused(INTERNAL_ADDRESS)


class AddressRefused(OSError):
    pass


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then drops addresses that may not be called. The connection
    goes to an address checked here, so DNS rebinding after `check_url` gains nothing."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [result for result in results
                   if address_allowed(ipaddress.ip_address(result["host"].split("%")[0]), self._allow_private)]
        if len(allowed) != len(results) or not allowed:
            raise AddressRefused("address not allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    status_code: int | None
    duration_ms: int
    # Written for the subscriber to read: about their endpoint, never about our internals.
    error: str | None


class WebhookClient:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._allow_private = settings.webhook_allow_loopback
        self._timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        self._limit = settings.webhook_concurrency
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._allow_private), limit=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers={"User-Agent": USER_AGENT})
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.perf_counter()

        def result(status: int | None, error: str | None) -> AttemptResult:
            delivered = status is not None and 200 <= status < 300
            return AttemptResult(delivered, status, int((time.perf_counter() - started) * 1000), error)

        try:
            host, _ = parse_url(url)
        except UrlRefused as exc:
            return result(None, exc.text.en)
        literal = _literal_address(host)
        if literal is not None and not address_allowed(literal, self._allow_private):
            return result(None, "address not allowed")
        try:
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
        except TimeoutError:
            return result(None, "timed out")
        except aiohttp.ClientConnectorDNSError as exc:
            refused = isinstance(exc.os_error, AddressRefused)
            return result(None, "address not allowed" if refused else "host could not be resolved")
        except aiohttp.ClientConnectorError:
            return result(None, "connection failed")
        except aiohttp.ClientError as exc:
            return result(None, f"request failed ({type(exc).__name__})")
        if 300 <= status < 400:
            return result(status, f"HTTP {status}: redirect not followed")
        if not 200 <= status < 300:
            return result(status, f"HTTP {status}")
        return result(status, None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
