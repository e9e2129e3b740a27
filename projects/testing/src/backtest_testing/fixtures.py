"""The pytest plugin of every project's tests: real databases as fixtures.

A test package's ``conftest.py`` loads it with ``pytest_plugins = ["backtest_testing.fixtures"]``.
``postgres_admin_url`` is the run's shared server; ``migrated_template`` its
database migrated to head; ``database_url`` a fresh copy of it, private to one
test; ``pool`` an open autocommit psycopg pool on that; ``queue`` a ``JobQueue``
on the pool; ``clock`` moves the database's time forward (see ``clock.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_testing.clock import DatabaseClock
from backtest_testing.postgres import drop_leftovers
from backtest_testing.postgres import fresh_database
from backtest_testing.postgres import postgres_server_url
from backtest_testing.postgres import shared_template


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_template(postgres_admin_url: str) -> str:
    """The server's shared template; never connect to it (copies of it would then fail)."""
    drop_leftovers(postgres_admin_url)
    return shared_template(postgres_admin_url)


@pytest.fixture
def database_url(postgres_admin_url: str, migrated_template: str) -> Iterator[str]:
    with fresh_database(postgres_admin_url, migrated_template) as url:
        yield url


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    opened = await open_pool(database_url, min_size=1, max_size=8)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def queue_settings() -> QueueSettings:
    return QueueSettings(lease_seconds=30.0, retry_backoff_base_seconds=2.0, retry_backoff_cap_seconds=300.0)


@pytest.fixture
def queue(pool: AsyncConnectionPool[Any], queue_settings: QueueSettings) -> JobQueue:
    return JobQueue(pool, queue_settings)


@pytest.fixture
def clock(pool: AsyncConnectionPool[Any]) -> DatabaseClock:
    return DatabaseClock(pool)
