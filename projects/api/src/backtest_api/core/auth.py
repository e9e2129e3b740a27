"""Bearer API-key authentication, cached briefly in-process by key hash, and rate limiting.

A revoked key leaves every API process's cache at once: the revoke statement
NOTIFYs its hash, and the process's listener calls ``forget``. The cache's
expiry (``auth_cache_seconds``) only bounds how long a revocation can be missed
while that listener is disconnected, and it clears the cache on reconnecting.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware
from litestar.middleware import AuthenticationResult

from backtest_api.core.errors import ForbiddenError
from backtest_api.core.errors import UnauthorizedError
from backtest_api.core.principal import Principal

#: Paths served without a key: health and the API documentation (``/metrics`` needs an admin key).
PUBLIC_PATHS = ["^/health/", "^/docs"]

#: Revoking a key NOTIFYs its hash on this channel; every API process drops it from its cache.
KEY_REVOKED_CHANNEL = "api_key_revoked"

#: Finds a key's owner by the key's hash; None when the key is unknown or revoked.
PrincipalLookup = Callable[[str], Awaitable[Principal | None]]


def hash_api_key(key: str) -> str:
    """What is stored of a key and looked up: its SHA-256, so that a database leak reveals no key."""
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Resolves bearer keys to principals through ``lookup`` (by key hash), with a short cache."""

    def __init__(self, lookup: PrincipalLookup, cache_seconds: float) -> None:
        self._lookup = lookup
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
        principal = await self._lookup(key_hash)
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
