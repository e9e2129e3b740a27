from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from api_tests.conftest import Caller
from backtest_api.accounts.repository import find_principal
from backtest_api.accounts.repository import revoke_key
from backtest_api.app import create_app
from backtest_api.core.auth import Authenticator
from backtest_api.core.errors import UnauthorizedError
from backtest_api.core.principal import Principal
from backtest_api.settings import Settings
from backtest_shared.db.urls import psycopg_url


@asynccontextmanager
async def _api_caching_keys_for(database_url: str, seconds: float) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(database_url=database_url, auth_cache_seconds=seconds)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def _until_refused(client: AsyncTestClient, caller: Caller, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while (await client.get("/api/v1/me", headers=caller.headers)).status_code != 401:
            await asyncio.sleep(0.02)


async def test_a_request_without_a_key_answers_401(client):
    response = await client.get("/api/v1/backtests")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_unknown_key_answers_401(client):
    response = await client.get("/api/v1/backtests", headers={"Authorization": "Bearer bt_nonsense"})

    assert response.status_code == 401


async def test_a_revoked_key_stops_working_at_once_although_it_is_cached(database_url, alice):
    async with _api_caching_keys_for(database_url, 3600.0) as client:
        assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200
        assert revoke_key(database_url, alice.key) == [alice.key[:11]]

        # The revocation reaches the cache by NOTIFY, a few milliseconds later, not after an hour.
        await _until_refused(client, alice, timeout=5)


async def test_a_key_revoked_while_the_listener_was_disconnected_stops_working_once_it_reconnects(database_url, alice):
    async with _api_caching_keys_for(database_url, 3600.0) as client:
        assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
            [[terminated]] = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN api_key_revoked%'"
            ).fetchall()
        assert terminated == 1
        assert revoke_key(database_url, alice.key) == [alice.key[:11]]  # the notification is lost

        await _until_refused(client, alice, timeout=10)


async def test_a_revoked_key_stops_working_once_the_cache_expires(database_url, alice):
    async with _api_caching_keys_for(database_url, 0.0) as client:
        assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200
        assert revoke_key(database_url, alice.key) == [alice.key[:11]]
        assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 401


async def test_me_names_the_caller_and_their_limit(client, alice):
    body = (await client.get("/api/v1/me", headers=alice.headers)).json()

    assert body["name"] == "alice"
    assert body["role"] == "user"
    assert body["max_pending_jobs"] > 0


async def test_health_and_docs_need_no_key(client):
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/docs/openapi.json")).status_code == 200


async def test_a_lookup_overtaken_by_a_revocation_does_not_cache_the_revoked_key(database_url, alice, pool):
    # A lookup that read the key just before its revocation committed must not put it
    # back into the cache after the revocation's notification emptied it.
    lookups = 0
    racing = True

    async def lookup_then_revocation_arrives(key_hash: str) -> Principal | None:
        nonlocal lookups
        lookups += 1
        principal = await find_principal(pool, key_hash)
        if racing:
            revoke_key(database_url, alice.key)
            authenticator.forget(key_hash)  # what the listener does on the notification
        return principal

    authenticator = Authenticator(lookup_then_revocation_arrives, cache_seconds=3600.0)
    assert (await authenticator.authenticate(f"Bearer {alice.key}")).name == "alice"
    racing = False

    with pytest.raises(UnauthorizedError):
        await authenticator.authenticate(f"Bearer {alice.key}")
    assert lookups == 2  # the second call was not answered from the cache
