"""Sending requests with retries, shared by the sync and the async client.

Retrying is only safe when repeating a request cannot do anything twice: GETs
are safe, and every POST carries an ``Idempotency-Key`` (the API answers a
repeat with the first answer and creates nothing), so a submit whose answer
was lost on the network can be retried too. 429 and 503 wait as long as the
server's ``Retry-After`` says; a 409 with ``Retry-After`` is an idempotent
request still running on the server.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from backtest_client.errors import error_from_response
from backtest_client.errors import retry_after_seconds

API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "backtest-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; ``max_delay`` caps any single wait."""

    max_retries: int = 5
    backoff: float = 0.5
    max_delay: float = 60.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retry ``attempt`` (1-based), or None to give up."""
        if attempt > self.max_retries:
            return None
        if response is not None:
            retryable = response.status_code in RETRY_STATUSES or (
                response.status_code == 409 and "retry-after" in response.headers
            )
            if not retryable:
                return None
            hinted = retry_after_seconds(response)
            if hinted is not None:
                return min(hinted, self.max_delay)
        wait = self.backoff * 2.0 ** (attempt - 1)
        return min(wait * (0.5 + random.random() / 2), self.max_delay)


def base_url(url: str) -> str:
    """The server root: ``http://host:8000``, ``.../`` and ``.../api/v1`` all name the same API."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    if "://" not in url:
        url = f"http://{url}"
    return url


def headers_for(key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def with_idempotency(method: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """Every POST gets an Idempotency-Key (unless the caller chose one), so retries cannot double-submit."""
    out = dict(headers or {})
    if method.upper() == "POST" and not any(name.lower() == "idempotency-key" for name in out):
        out["Idempotency-Key"] = str(uuid.uuid4())
    return out


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        response.read()
        raise error_from_response(response)
    return response


def send(client: httpx.Client, policy: RetryPolicy, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request with retries; an error answer raises its typed ``ApiError``."""
    kwargs["headers"] = with_idempotency(method, kwargs.get("headers"))
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError:
            wait = policy.delay(attempt, None)
            if wait is None:
                raise
            time.sleep(wait)
            continue
        wait = policy.delay(attempt, response) if response.status_code >= 400 else None
        if wait is None:
            return _check(response)
        time.sleep(wait)


async def asend(
    client: httpx.AsyncClient, policy: RetryPolicy, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """The async twin of ``send``."""
    kwargs["headers"] = with_idempotency(method, kwargs.get("headers"))
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TransportError:
            wait = policy.delay(attempt, None)
            if wait is None:
                raise
            await asyncio.sleep(wait)
            continue
        wait = policy.delay(attempt, response) if response.status_code >= 400 else None
        if wait is None:
            return _check(response)
        await asyncio.sleep(wait)
