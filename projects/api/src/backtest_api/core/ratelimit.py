"""A token bucket per API key, in process memory (each API process limits on its own)."""

from __future__ import annotations

import time

from backtest_api.core.errors import LimitExceededError


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.burst = float(max(1, burst))
        self._buckets: dict[str, list[float]] = {}

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise ``LimitExceededError`` with the wait until the next."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            raise LimitExceededError(
                f"request rate limit of {self.rate:g}/s exceeded",
                retry_after=(1.0 - tokens) / self.rate,
                field="rate",
            )
        bucket[0] = tokens - 1.0
