"""Per-key token-bucket rate limits: in-process by default, shared through Redis across replicas."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: int  # whole seconds, as the Retry-After header needs


def take_token(
    *, tokens: float, last_s: float, now_s: float, rate_per_s: float, burst: int
) -> tuple[float, float | None]:
    """Refill then take one token. Returns (tokens left, None) or (tokens, seconds until one is free).

    Bucket maths: tokens = min(burst, tokens + (now - last) * rate); a request needs one token.
    """
    tokens = min(float(burst), tokens + max(0.0, now_s - last_s) * rate_per_s)
    if tokens >= 1.0:
        return tokens - 1.0, None
    return tokens, (1.0 - tokens) / rate_per_s


class RateLimiter(Protocol):
    async def check(self, key: str) -> RateDecision: ...


class InProcessRateLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    async def check(self, key: str) -> RateDecision:
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(self._burst), now))
        tokens, wait_s = take_token(tokens=tokens, last_s=last, now_s=now, rate_per_s=self._rate, burst=self._burst)
        self._state[key] = (tokens, now)
        if wait_s is None:
            return RateDecision(True, 0)
        return RateDecision(False, max(1, math.ceil(wait_s)))


class FailedAuthLimiter:
    """Failed authentications per client address: a token bucket per address, spent only on failures.

    An address that keeps sending unknown keys gets 429 before its keys are looked up or cached
    (issue 13): guessing keys, or flooding the lookup path, costs the sender, not the gateway. In
    process, one small entry per address, and the table is emptied past `max_addresses` (a flood
    from many addresses then starts from full buckets: bounded memory over exactness).
    """

    def __init__(self, rate_per_s: float = 1.0, burst: int = 20, *, max_addresses: int = 50_000) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._max = max_addresses
        self._state: dict[str, tuple[float, float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may now (checks, spends nothing)."""
        state = self._state.get(address)
        if state is None:
            return None
        tokens, last = state
        now = time.monotonic()
        tokens = min(float(self._burst), tokens + max(0.0, now - last) * self._rate)
        return None if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / self._rate))

    def record_failure(self, address: str) -> None:
        now = time.monotonic()
        if address not in self._state and len(self._state) >= self._max:
            self._state.clear()
        tokens, last = self._state.get(address, (float(self._burst), now))
        tokens, _ = take_token(tokens=tokens, last_s=last, now_s=now, rate_per_s=self._rate, burst=self._burst)
        self._state[address] = (tokens, now)


# The same bucket maths as take_token, atomically in Redis, on Redis's clock (replicas' clocks may
# differ). State: a hash {tokens, last_ms} per key, expiring once the bucket would be full again.
_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


class RedisRateLimiter:
    def __init__(self, redis_url: str, rate_per_s: float, burst: int, *, prefix: str = "codesieve:rl:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(redis_url)
        self._script = self._redis.register_script(_LUA)
        self._rate = rate_per_s
        self._burst = burst
        self._prefix = prefix

    async def check(self, key: str) -> RateDecision:
        allowed, wait = await self._script(keys=[self._prefix + key], args=[self._rate, self._burst])
        if int(allowed):
            return RateDecision(True, 0)
        return RateDecision(False, max(1, math.ceil(float(wait))))

    async def close(self) -> None:
        await self._redis.aclose()
