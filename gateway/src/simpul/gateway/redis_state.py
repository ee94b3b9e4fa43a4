"""The gateway's optional Redis (SIMPUL_REDIS_URL): rate limits counted once for every replica,
and revocations broadcast to every replica at once.

Redis is not required: when it can't be reached the gateway logs it once, counts rate limits in
this process, relies on the database poll for revocations (one second) and keeps serving; it
logs again when Redis is back and returns to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from redis.exceptions import NoScriptError, RedisError

from simpul.gateway.ratelimit import RateLimiter

log = logging.getLogger("simpul.gateway.redis")

# A request waits at most this long for Redis before it is counted in process instead.
TIMEOUT_SECONDS = 0.25
PROBE_SECONDS = 1.0
# Requests whose counts go to Redis in one pipeline, at most.
MAX_BATCH = 64
# Leases (SharedRateLimiter): a caller sending requests to this replica at a rate takes up to
# half a second's worth of them (at most MAX_LEASE, never more than 1/LEASE_SHARE of what it has
# left) from Redis at once, and spends them here for at most LEASE_SECONDS.
MAX_LEASE = 32
LEASE_SHARE = 16
LEASE_SECONDS = 1.0


class RedisLink:
    """One client for the rate limits and the revocation channel, and whether Redis answers."""

    def __init__(self, url: str, prefix: str) -> None:
        self.channel = f"{prefix}:revoked-clients"
        # limits' storage gives the client, its key layout and its Lua scripts (see SharedRateLimiter).
        self.storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix=prefix,
                                    socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        self.client = self.storage.bridge.get_connection()
        self.available = False
        self._back = asyncio.Event()
        self._down_logged = False
        self._listener: asyncio.Task | None = None
        self._probing: asyncio.Task | None = None

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        if not await self._connect():
            self.lost("unreachable at start")
        self._listener = asyncio.create_task(self._listen(on_revoked), name="gateway-revocations")

    async def stop(self) -> None:
        for task in (self._listener, self._probing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.client.aclose()

    @property
    def state(self) -> str:
        return "ready" if self.available else "degraded"

    def lost(self, reason: str) -> None:
        """Called by any user of the link when Redis failed it; logged on the change only."""
        if not self._down_logged:
            self._down_logged = True
            log.warning("Redis unavailable (%s): rate limits are counted in this process and revocations "
                        "reach other replicas through the database poll until it is back", reason)
        self.available = False
        self._back.clear()
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe(), name="gateway-redis-probe")

    async def publish_revocation(self, client_id: str) -> None:
        if not self.available:
            return
        try:
            await self.client.publish(self.channel, client_id)
        except (RedisError, OSError) as exc:
            self.lost(type(exc).__name__)

    async def _connect(self) -> bool:
        try:
            await self.client.ping()
            bridge = self.storage.bridge
            for script in (bridge.lua_acquire_sliding_window, bridge.lua_sliding_window):
                await self.client.script_load(script.script)
        except (RedisError, OSError):
            return False
        self.available = True
        self._back.set()
        return True

    async def _probe(self) -> None:
        while not await self._connect():
            await asyncio.sleep(PROBE_SECONDS)
        self._down_logged = False
        log.info("Redis is back: rate limits and revocations are shared again")

    async def _listen(self, on_revoked: Callable[[str], None]) -> None:
        """Every replica drops a revoked client the moment one replica publishes it."""
        while True:
            await self._back.wait()
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    while True:
                        # The socket timeout is short for requests; the wait for messages is not.
                        message = await pubsub.get_message(timeout=PROBE_SECONDS)
                        if message is not None and message["type"] == "message":
                            on_revoked(message["data"].decode())
            except (RedisError, OSError) as exc:
                self.lost(type(exc).__name__)


class SharedRateLimiter:
    """Rate limits counted in Redis with the `limits` sliding window counter: two counters per
    caller (this window and the last, weighted by how much of the last still overlaps), so
    memory stays constant per caller, unlike a moving window's log of every request.

    limits' own `hit` and `get_window_stats` would cost two round trips; the same two Lua
    scripts (acquire, then read the window for the headers) are sent in one pipeline instead,
    together with those of the other requests waiting at that moment.
    The limit matches the in-process bucket: `capacity` requests in the time the bucket takes to
    refill, so the average rate and the largest burst are the same with or without Redis.

    A busy caller does not cost a round trip per request: one request takes a lease of as many
    tokens as the caller sends here in half a second (by its rate here this second or the last;
    at most MAX_LEASE), counted in Redis at once so every replica sees them spent, and the next
    requests spend it here. The error is bounded: a replica holds at most MAX_LEASE - 1 unspent
    tokens of a caller, never more than 1/LEASE_SHARE of what the caller had left (so none within
    LEASE_SHARE * 2 tokens of its limit, where counting is exact), for at most LEASE_SECONDS;
    unspent ones then lapse (the caller loses them; sized by its rate, a lease is spent well
    before). A caller sending fewer than 4 requests a second to a replica is counted per request.
    """

    def __init__(self, link: RedisLink, local: RateLimiter, per_minute: int, capacity: int) -> None:
        self.link = link
        self.local = local
        self.limit_header = local.limit_header
        window_seconds = max(1, round(capacity * 60 / per_minute))
        self.item = RateLimitItemPerSecond(capacity, window_seconds)
        self.expiry = self.item.get_expiry()
        # ((previous window key, current window key), cost, answer) of each request waiting.
        self._pending: list[tuple[tuple[str, str], int, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None
        # key -> [tokens left, RateLimit-Remaining once they are spent, seconds to reset, lapses at]
        self._leases: dict[str, list] = {}
        # key -> [this second (whole), requests in it, requests in the one before]
        self._rates: dict[str, list[int]] = {}
        # key -> set once the lease one of its requests is taking has come
        self._leasing: dict[str, asyncio.Event] = {}

    async def acquire(self, key: str, now: float, cost: int = 1) -> tuple[bool, int, int]:
        if not self.link.available:
            return self.local.take(key, now, cost)
        rate = self._rate(key, now)
        while True:
            lease = self._leases.get(key)
            if lease is not None and lease[0] >= cost and now < lease[3]:
                lease[0] -= cost
                return True, lease[1] + lease[0], lease[2]
            taking = self._leasing.get(key)
            if taking is None:
                break
            # Another request of this caller is taking a lease: spend from it rather than go to Redis.
            await taking.wait()
        size = self._lease_size(key, cost, rate)
        try:
            if size > cost:
                taking = self._leasing[key] = asyncio.Event()
                try:
                    acquired, window = await self._hit(key, size)
                    if acquired:
                        allowed, remaining, seconds = self._outcome(True, window)
                        self._leases[key] = [size - cost, remaining, seconds, now + LEASE_SECONDS]
                        return True, remaining + size - cost, seconds
                finally:
                    del self._leasing[key]
                    taking.set()
            acquired, window = await self._hit(key, cost)
        except (RedisError, OSError) as exc:
            self.link.lost(type(exc).__name__)
            return self.local.take(key, now, cost)
        allowed, remaining, seconds = self._outcome(bool(acquired), window)
        if rate >= 2 * (cost + 1):
            current = self._leases.get(key)
            if current is None or current[0] == 0 or now >= current[3]:
                # An empty lease: what the next request's lease is sized by.
                self._leases[key] = [0, remaining, seconds, now + LEASE_SECONDS]
        return allowed, remaining, seconds

    def _lease_size(self, key: str, cost: int, rate: int) -> int:
        """A busy caller's lease: half a second of its requests, bounded by what its last answer
        left it; `cost` alone when it is slow or close to its limit."""
        lease = self._leases.get(key)
        if lease is None:
            return cost
        return max(cost, min(MAX_LEASE, rate // 2, lease[1] // LEASE_SHARE))

    def _rate(self, key: str, now: float) -> int:
        """Counts the caller's request; its requests here this second or the last, the more."""
        second = int(now)
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = [second, 0, 0]
        elif rate[0] != second:
            rate[2] = rate[1] if rate[0] == second - 1 else 0
            rate[0], rate[1] = second, 0
        rate[1] += 1
        return max(rate[1], rate[2])

    async def _hit(self, key: str, cost: int) -> list:
        """[acquired, window] for `key`, from the next batch sent."""
        storage, bridge = self.link.storage, self.link.storage.bridge
        item_key = self.item.key_for(key)
        keys = (bridge.prefixed_key(storage._previous_window_key(item_key)),
                bridge.prefixed_key(storage._current_window_key(item_key)))
        answer = asyncio.get_running_loop().create_future()
        self._pending.append((keys, cost, answer))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_batches())
        return await answer

    async def _send_batches(self) -> None:
        """The requests waiting for Redis go together, one pipeline at a time: under load one
        round trip serves many requests, and redis-py's cost per pipeline is paid once for them."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await self._send(batch)
            except (RedisError, OSError) as exc:
                for _, _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for index, (_, _, answer) in enumerate(batch):
                if not answer.done():
                    answer.set_result(results[2 * index: 2 * index + 2])

    async def _send(self, batch: list) -> list:
        bridge = self.link.storage.bridge
        for attempt in (1, 2):
            pipeline = self.link.client.pipeline(transaction=False)
            for keys, cost, _ in batch:
                pipeline.evalsha(bridge.lua_acquire_sliding_window.sha, 2, *keys, self.item.amount, self.expiry, cost)
                pipeline.evalsha(bridge.lua_sliding_window.sha, 2, *keys, self.expiry)
            try:
                return await pipeline.execute()
            except NoScriptError:
                # Redis restarted and lost its script cache: load them and try once more.
                if attempt == 2:
                    raise
                for script in (bridge.lua_acquire_sliding_window, bridge.lua_sliding_window):
                    await self.link.client.script_load(script.script)
        raise AssertionError("unreachable")

    def _outcome(self, acquired: bool, window: list) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds) as limits' get_window_stats works them out."""
        previous_count, current_count = int(window[0] or 0), int(window[2] or 0)
        previous_left = max(0.0, float(window[1] or 0)) / 1000
        current_left = max(0.0, float(window[3] or 0)) / 1000
        weighted = previous_count * previous_left / self.expiry + current_count
        remaining = max(0, self.item.amount - math.floor(weighted))
        reset = math.inf
        if previous_count:
            reset = previous_left % (self.expiry / previous_count)
        if current_count:
            reset = min(reset, current_left % self.expiry)
        seconds = 1 if math.isinf(reset) else max(1, math.ceil(reset))
        return acquired, remaining, seconds

    def headers(self, remaining: int, reset: int) -> list[tuple[bytes, bytes]]:
        return self.local.headers(remaining, reset)

    def prune(self, now: float) -> None:
        self.local.prune(now)
        for key in [key for key, lease in self._leases.items() if now >= lease[3]]:
            del self._leases[key]
        for key in [key for key, rate in self._rates.items() if rate[0] < int(now) - 1]:
            del self._rates[key]
