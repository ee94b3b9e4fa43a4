"""Failed token requests, limited with exponential backoff (`POST /v1/oauth/token`).

Three counters, each with its own threshold within one window; reaching it locks that scope for
base·2^k seconds (k: the locks it had before, remembered for a while after the last one), capped:

- (client id, address): the tight one. Guessing one client's secret from one place stops after a
  few tries, and only that pair is locked: nobody else can lock a client out from elsewhere.
- address, whatever client id: one place probing many ids, or spraying one secret over them.
- client id, from any address: a looser ceiling on guessing one secret from many addresses. An
  attacker with many addresses could reach it on purpose, so it does not stop an address that has
  already obtained a token for this client (remembered for `known_seconds`): a client's own
  machines keep working while it is held; only addresses new to the client wait.

A token granted clears the failures of its (client id, address) pair only: success at one
address says nothing about the attempts made elsewhere, and an address's own counter would
otherwise be reset by an attacker holding any valid client. A locked request is refused before its
secret is checked, so a lock costs the attacker its guesses and the gateway no scrypt runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simpul.gateway.redis_state import RedisLink

PAIR, ADDRESS, CLIENT = "client+address", "address", "client"
SCOPES = (PAIR, ADDRESS, CLIENT)
# Client ids are cut to this in keys (and in logs): an unbounded one would name an unbounded key.
MAX_ID_CHARS = 128


@dataclass(frozen=True)
class FailurePolicy:
    window_seconds: int
    per_pair: int
    per_address: int
    per_client: int
    base_seconds: int
    max_seconds: int
    known_seconds: int

    def threshold(self, scope: str) -> int:
        return {PAIR: self.per_pair, ADDRESS: self.per_address, CLIENT: self.per_client}[scope]

    def lock_seconds(self, level: int) -> int:
        """The lock after the `level`-th threshold reached in a row (1, 2, ...)."""
        return min(self.max_seconds, self.base_seconds * 2 ** min(level - 1, 32))

    @property
    def level_memory_seconds(self) -> int:
        """How long a lock's level is remembered after it was set: failures resumed soon after a
        lock ran out lock for twice as long."""
        return self.max_seconds + self.window_seconds


@dataclass(frozen=True)
class Lockout:
    scope: str
    retry_after: int
    # How many locks in a row this scope has had (set when the lock starts; 0 when only read).
    level: int = 0


def scope_keys(client_id: str, address: str) -> dict[str, str]:
    client_id = client_id[:MAX_ID_CHARS]
    return {PAIR: f"pair:{address}:{client_id}", ADDRESS: f"addr:{address}", CLIENT: f"client:{client_id}"}


class _Count:
    __slots__ = ("failures", "window_ends", "level", "level_ends", "locked_until")

    def __init__(self) -> None:
        self.failures = 0
        self.window_ends = 0.0
        self.level = 0
        self.level_ends = 0.0
        self.locked_until = 0.0


class LocalFailureLimiter:
    """In this process (no Redis, or Redis down): the same rules over dictionaries."""

    def __init__(self, policy: FailurePolicy) -> None:
        self.policy = policy
        self._counts: dict[str, _Count] = {}
        # (client id, address) -> until when that address is known to hold the client's secret.
        self._known: dict[tuple[str, str], float] = {}

    def check(self, client_id: str, address: str, now: float) -> Lockout | None:
        """The lock (the longest, if several) that refuses this attempt now, or None."""
        keys = scope_keys(client_id, address)
        worst: Lockout | None = None
        for scope in SCOPES:
            count = self._counts.get(keys[scope])
            if count is None or count.locked_until <= now:
                continue
            if scope == CLIENT and self._known.get((client_id[:MAX_ID_CHARS], address), 0.0) > now:
                continue
            left = max(1, math.ceil(count.locked_until - now))
            if worst is None or left > worst.retry_after:
                worst = Lockout(scope, left)
        return worst

    def failed(self, client_id: str, address: str, now: float) -> list[Lockout]:
        """Count a failure in every scope; the locks it starts."""
        started = []
        policy = self.policy
        for scope, key in scope_keys(client_id, address).items():
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count()
            if count.locked_until > now:
                continue  # a known address past a client lock: the lock is on already
            if count.window_ends <= now:
                count.failures, count.window_ends = 0, now + policy.window_seconds
            if count.level_ends <= now:
                count.level = 0
            count.failures += 1
            if count.failures >= policy.threshold(scope):
                count.failures, count.window_ends = 0, 0.0
                count.level += 1
                count.level_ends = now + policy.level_memory_seconds
                seconds = policy.lock_seconds(count.level)
                count.locked_until = now + seconds
                started.append(Lockout(scope, seconds, count.level))
        return started

    def succeeded(self, client_id: str, address: str, now: float) -> None:
        self._counts.pop(scope_keys(client_id, address)[PAIR], None)
        self._known[(client_id[:MAX_ID_CHARS], address)] = now + self.policy.known_seconds

    def prune(self, now: float) -> None:
        """Forget what has run out: a guesser of random ids leaves no lasting trace here."""
        stale = [key for key, count in self._counts.items()
                 if count.window_ends <= now and count.level_ends <= now and count.locked_until <= now]
        for key in stale:
            del self._counts[key]
        for pair in [pair for pair, until in self._known.items() if until <= now]:
            del self._known[pair]

    def __len__(self) -> int:
        return len(self._counts)


# KEYS: lock of pair, address, client; the known-address mark. Seconds left on each lock (-2 none).
_CHECK = """
local left = {}
for i = 1, 3 do left[i] = redis.call('PTTL', KEYS[i]) end
left[4] = redis.call('EXISTS', KEYS[4])
return left
"""
# KEYS: count, level, lock for each scope in turn. ARGV: window, base, max, level memory, then
# each scope's threshold. Returns each scope's new lock: {seconds, level} or {0, 0}.
_FAIL = """
local window, base, cap, memory = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local started = {}
for scope = 0, 2 do
  local count_key, level_key, lock_key = KEYS[scope * 3 + 1], KEYS[scope * 3 + 2], KEYS[scope * 3 + 3]
  local seconds, level = 0, 0
  if redis.call('EXISTS', lock_key) == 0 then
    local failures = redis.call('INCR', count_key)
    if failures == 1 then redis.call('EXPIRE', count_key, window) end
    if failures >= tonumber(ARGV[5 + scope]) then
      redis.call('DEL', count_key)
      level = redis.call('INCR', level_key)
      redis.call('EXPIRE', level_key, memory)
      seconds = math.floor(math.min(cap, base * 2 ^ math.min(level - 1, 32)))
      redis.call('SET', lock_key, '1', 'EX', seconds)
    end
  end
  started[scope * 2 + 1] = seconds
  started[scope * 2 + 2] = level
end
return started
"""


class FailureLimiter:
    """The limiter the token endpoint uses: in Redis when the gateway has it (counted once for
    every replica, with the same rules in Lua), else in this process; while Redis is down the
    local one counts, as the rate limits do."""

    def __init__(self, policy: FailurePolicy, link: RedisLink | None = None, prefix: str = "") -> None:
        self.policy = policy
        self.local = LocalFailureLimiter(policy)
        self.link = link
        self.prefix = f"{prefix}:token-failures"
        self._redis_errors: tuple[type[BaseException], ...] = ()
        if link is not None:
            from redis.exceptions import RedisError  # only with Redis configured, as redis_state

            self._redis_errors = (RedisError, OSError)
            self._check = link.client.register_script(_CHECK)
            self._fail = link.client.register_script(_FAIL)

    def _shared(self) -> bool:
        return self.link is not None and self.link.available

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def check(self, client_id: str, address: str, now: float) -> Lockout | None:
        if not self._shared():
            return self.local.check(client_id, address, now)
        keys = scope_keys(client_id, address)
        known = self._key("known", keys[PAIR])
        try:
            *left, is_known = await self._check(keys=[*(self._key("lock", keys[s]) for s in SCOPES), known])
        except self._redis_errors as exc:
            self.link.lost(type(exc).__name__)
            return self.local.check(client_id, address, now)
        worst: Lockout | None = None
        for scope, milliseconds in zip(SCOPES, left, strict=True):
            if milliseconds <= 0 or (scope == CLIENT and is_known):
                continue
            seconds = max(1, math.ceil(milliseconds / 1000))
            if worst is None or seconds > worst.retry_after:
                worst = Lockout(scope, seconds)
        return worst

    async def failed(self, client_id: str, address: str, now: float) -> list[Lockout]:
        if not self._shared():
            return self.local.failed(client_id, address, now)
        keys = scope_keys(client_id, address)
        policy = self.policy
        redis_keys = [self._key(kind, keys[scope]) for scope in SCOPES for kind in ("count", "level", "lock")]
        try:
            answer = await self._fail(keys=redis_keys, args=[
                policy.window_seconds, policy.base_seconds, policy.max_seconds, policy.level_memory_seconds,
                policy.per_pair, policy.per_address, policy.per_client])
        except self._redis_errors as exc:
            self.link.lost(type(exc).__name__)
            return self.local.failed(client_id, address, now)
        return [Lockout(scope, int(answer[2 * index]), int(answer[2 * index + 1]))
                for index, scope in enumerate(SCOPES) if int(answer[2 * index])]

    async def succeeded(self, client_id: str, address: str, now: float) -> None:
        if not self._shared():
            self.local.succeeded(client_id, address, now)
            return
        pair = scope_keys(client_id, address)[PAIR]
        try:
            pipeline = self.link.client.pipeline(transaction=False)
            pipeline.delete(self._key("count", pair))
            pipeline.set(self._key("known", pair), "1", ex=self.policy.known_seconds)
            await pipeline.execute()
        except self._redis_errors as exc:
            self.link.lost(type(exc).__name__)
            self.local.succeeded(client_id, address, now)

    def prune(self, now: float) -> None:
        self.local.prune(now)
