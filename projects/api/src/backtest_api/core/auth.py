"""Bearer API-key authentication, cached briefly in-process by key hash, and rate limiting.

A revoked key leaves every API process's cache at once: the revoke statement
NOTIFYs its hash, and the process's listener calls ``forget``. The cache's
expiry (``auth_cache_seconds``) only bounds how long a revocation can be missed
while that listener is disconnected, and it clears the cache on reconnecting.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware
from litestar.middleware import AuthenticationResult
from psycopg_pool import AsyncConnectionPool

from backtest_api.accounts.keys import hash_api_key
from backtest_api.accounts.repository import find_principal
from backtest_api.accounts.schemas import Principal
from backtest_api.core.errors import ForbiddenError
from backtest_api.core.errors import UnauthorizedError

#: Paths served without a key: health and the API documentation (``/metrics`` needs an admin key).
PUBLIC_PATHS = ["^/health/", "^/docs"]


class Authenticator:
    def __init__(self, pool: AsyncConnectionPool[Any], cache_seconds: float) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}
        #: Bumped by every forget: a lookup that a revocation overtook must not cache its answer.
        self._generation = 0

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise UnauthorizedError("missing 'Authorization: Bearer <API key>' header")
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise UnauthorizedError("the Authorization header must be 'Bearer <API key>'")
        key_hash = hash_api_key(key)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        generation = self._generation
        principal = await find_principal(self._pool, key_hash)
        if principal is None:
            self._cache.pop(key_hash, None)
            raise UnauthorizedError("unknown or revoked API key")
        if generation == self._generation:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (principal, now + self._cache_seconds)
        return principal

    def forget(self, key_hash: str) -> None:
        """Drop one key from the cache (it was revoked): its next request is checked again."""
        self._generation += 1
        self._cache.pop(key_hash, None)

    def forget_all(self) -> None:
        """Drop every cached key: revocations may have been missed while the listener was away."""
        self._generation += 1
        self._cache.clear()


class ApiKeyAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        services = connection.app.state.services
        principal = await services.authenticator.authenticate(connection.headers.get("authorization"))
        services.rate_limiter.check(principal.key_hash)
        return AuthenticationResult(user=principal, auth=principal.key_hash)


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the operators' endpoints (workers, queue-wide statistics, metrics): admin keys only.

    They show every tenant's activity and the machines' names, so a user key gets 403.
    """
    user = connection.user
    if not (isinstance(user, Principal) and user.is_admin):
        raise ForbiddenError("this endpoint is for operators: it needs an admin key")
