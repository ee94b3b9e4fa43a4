"""Everything one gateway instance holds, built from explicit settings, started and stopped with
the app: database, signing keys, clients, tokens, rate limiter, Redis when configured, the proxy's
connection pool."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from simpul.gateway.clients import ClientService
from simpul.gateway.keys import KeyRing, SigningKeys
from simpul.gateway.officials import OfficialRecord, OfficialService
from simpul.gateway.loginguard import FailureLimiter
from simpul.gateway.proxy import Proxy, Upstream
from simpul.gateway.ratelimit import RateLimiter
from simpul.gateway.registry import ClientRegistry
from simpul.gateway.revocations import RevocationNotices
from simpul.gateway.settings import GatewaySettings
from simpul.gateway.tokens import AccessTokens, AssertionMinter
from simpul.shared.balance import Replica, Resolver, resolve_addresses
from simpul.shared.db import Migration, read_session_factory, session_factory
from simpul.shared.envelope import ReloadingKeys, keys_for
from simpul.shared.identity import ASSERTION_LIFETIME_SECONDS, AssertionVerifier
from simpul.shared.internal import InternalClient
from simpul.shared.readiness import Readiness, database_check
from simpul.shared.worker import periodic

if TYPE_CHECKING:
    from simpul.gateway.redis_state import RedisLink, SharedRateLimiter

log = logging.getLogger("simpul.gateway")

MIGRATIONS = Path(__file__).parent / "migrations"
READINESS_TIMEOUT = aiohttp.ClientTimeout(total=1.0)
# How often /readyz may probe a service that has no ready replica itself, between the balancer's
# rounds (seconds).
UNREADY_PROBE_SECONDS = 0.25
# In-memory caches (rate-limit buckets, verified tokens) are pruned, and keys past their time
# dropped, this often; revocations and the key set are refreshed every tick.
PRUNE_SECONDS = 30.0


class Gateway:
    def __init__(self, settings: GatewaySettings, engine: AsyncEngine, *,
                 resolver: Resolver = resolve_addresses) -> None:
        self.settings = settings
        self.engine = engine
        self.migration = Migration(engine, MIGRATIONS, apply=settings.migrate_on_start)
        self.clients = ClientService(
            session_factory(engine), read_session_factory(engine), protected_client_id=settings.admin_client_id
        )
        self.officials = OfficialService(session_factory(engine), read_session_factory(engine))
        self.registry = ClientRegistry(self.clients, self.officials)
        # The services' calls to the gateway's /internal routes carry a service token (HS256).
        self.service_tokens = AssertionVerifier(settings.service_name, internal_secret=settings.resolved_internal_secret())
        self.tokens = AccessTokens(settings.public_url.rstrip("/"), settings.token_lifetime_seconds)
        self.minter = AssertionMinter()
        self.signing_keys = SigningKeys(
            self.clients.sessions, ReloadingKeys(partial(keys_for, settings)),
            verify_for=timedelta(seconds=max(settings.token_lifetime_seconds, ASSERTION_LIFETIME_SECONDS)),
        )
        local_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_capacity)
        local_verify_limiter = RateLimiter(settings.verify_rate_limit_per_minute, settings.verify_rate_limit_capacity)
        self.redis: RedisLink | None = None
        self.limiter: RateLimiter | SharedRateLimiter = local_limiter
        self.verify_limiter: RateLimiter | SharedRateLimiter = local_verify_limiter
        if settings.redis_url:
            # Imported only when configured: a gateway without Redis never loads its client.
            from simpul.gateway.redis_state import RedisLink, SharedRateLimiter

            self.redis = RedisLink(settings.redis_url, settings.redis_prefix)
            self.limiter = SharedRateLimiter(self.redis, local_limiter, settings.rate_limit_per_minute,
                                             settings.rate_limit_capacity)
            self.verify_limiter = SharedRateLimiter(self.redis, local_verify_limiter,
                                                    settings.verify_rate_limit_per_minute,
                                                    settings.verify_rate_limit_capacity)
        self.token_failures = FailureLimiter(settings.token_failure_policy, self.redis, settings.redis_prefix)
        self.revocation_notices = RevocationNotices(
            self.clients.sessions,
            InternalClient(caller="gateway", target="notifications", base_url=settings.notifications_url,
                           secret=settings.resolved_internal_secret()))
        self.proxy = Proxy(self.minter, max_body_bytes=settings.max_body_bytes,
                           max_json_bytes=settings.max_json_bytes, default_language=settings.default_language)
        self.upstreams = {
            name: Upstream.make(name, urls, settings.upstream_connect_timeout, settings.read_timeout_for(name),
                                probe=self._probe, resolver=resolver)
            for name, urls in settings.upstream_urls().items()
        }
        self._readiness = Readiness({"database": database_check(engine)})
        self._unready_probed_at = float("-inf")
        self.keyring: KeyRing | None = None
        self._pruned_at = time.monotonic()
        self._housekeeping = periodic(
            "gateway-housekeeping", self._housekeep, seconds=settings.client_refresh_seconds,
            # Never later than the refresh interval once the database is back.
            backoff_cap=settings.client_refresh_seconds, expected=(SQLAlchemyError, OSError), logger=log,
        )

    async def start(self) -> None:
        await self.migration.run()
        await self.signing_keys.ensure()
        await self._reload_keys()
        outcome = await self.clients.ensure_bootstrap_admin(
            self.settings.admin_client_id, self.settings.admin_client_secret
        )
        await self.registry.load()
        await self.proxy.start()
        await asyncio.gather(*(upstream.balancer.start() for upstream in self.upstreams.values()))
        if self.redis is not None:
            await self.redis.start(self.registry.forget)
        self._housekeeping.start()
        self.revocation_notices.start()
        self._announce(outcome)

    async def stop(self) -> None:
        await self.revocation_notices.stop()
        await self._housekeeping.stop()
        for upstream in self.upstreams.values():
            await upstream.balancer.close()
        if self.redis is not None:
            await self.redis.stop()
        await self.proxy.stop()

    async def revoked(self, client_id: str) -> None:
        """A client revoked here: refused by this replica at once, by the others through Redis at
        once, or through their database poll within a refresh interval; notifications is told to
        disable its webhooks (revocations.py)."""
        self.registry.forget(client_id)
        self.revocation_notices.wake()
        if self.redis is not None:
            await self.redis.publish_revocation(client_id)

    def official_changed(self, record: OfficialRecord) -> None:
        """Changed or deactivated here: this replica's tokens acting as it see the change at once,
        the other replicas' within a refresh interval (they poll `officials.updated_at`)."""
        self.registry.official_changed(record)

    async def _reload_keys(self) -> None:
        self.keyring = await self.signing_keys.load()
        self.tokens.keyring = self.minter.keyring = self.keyring

    def _announce(self, outcome: str) -> None:
        settings = self.settings
        log.info("Simpul gateway on http://%s:%s (public URL %s)", settings.host, settings.port, settings.public_url)
        if settings.uses_dev_admin_secret:
            # The development default is public knowledge, so printing it gives nothing away.
            log.warning(
                "bootstrap admin (%s): client_id=%s client_secret=%s -- development defaults, "
                "set SIMPUL_ADMIN_CLIENT_ID and SIMPUL_ADMIN_CLIENT_SECRET for anything else",
                outcome, settings.admin_client_id, settings.admin_client_secret,
            )
        else:
            log.info("bootstrap admin (%s): client_id=%s, secret from SIMPUL_ADMIN_CLIENT_SECRET",
                     outcome, settings.admin_client_id)

    async def _housekeep(self) -> None:
        now = time.monotonic()
        try:
            await self.registry.refresh()
            if now - self._pruned_at >= PRUNE_SECONDS:
                await self.signing_keys.drop_expired()
            await self._reload_keys()
        finally:
            if now - self._pruned_at >= PRUNE_SECONDS:
                # In memory only: done whether or not the database answered.
                self._pruned_at = now
                self.limiter.prune(now)
                self.verify_limiter.prune(now)
                self.token_failures.prune(now)
                self.tokens.prune()

    def redis_state(self) -> str | None:
        """"ready" or "degraded" (the gateway serves either way); None without Redis."""
        return None if self.redis is None else self.redis.state

    async def readiness(self) -> tuple[list[str], dict[str, dict[str, int]]]:
        """What is unavailable (the gateway's database, a service without a ready replica) and
        how many replicas of each service are ready; from the balancers' probes, and a probe of
        the services that have no ready replica (`_probe_unready`)."""
        unavailable, _ = await self._readiness.status()
        await self._probe_unready()
        upstreams = {}
        for name in sorted(self.upstreams):
            balancer = self.upstreams[name].balancer
            ready = balancer.ready_count()
            upstreams[name] = {"ready": ready, "replicas": len(balancer.replicas)}
            if not ready:
                unavailable = [*unavailable, name]
        return unavailable, upstreams

    async def _probe_unready(self) -> None:
        """Probes again, now, the replicas of a service none of whose replicas is ready, instead of
        leaving it to the balancer's next round up to 2 s away: a starting system (`make run`)
        is ready as soon as its last service is. At most every UNREADY_PROBE_SECONDS, so frequent
        /readyz calls cost the services next to nothing."""
        now = time.monotonic()
        if now - self._unready_probed_at < UNREADY_PROBE_SECONDS:
            return
        self._unready_probed_at = now
        unready = [upstream.balancer for upstream in self.upstreams.values() if not upstream.balancer.ready_count()]
        if unready:
            await asyncio.gather(*(balancer.refresh(resolve=False) for balancer in unready))

    async def _probe(self, replica: Replica) -> bool:
        session = self.proxy.session
        if session is None:
            return False
        try:
            async with session.get(f"{replica.url}/readyz", headers=replica.with_host({}),
                                   timeout=READINESS_TIMEOUT) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
