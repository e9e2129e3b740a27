"""pytest fixtures: import them into a ``conftest.py`` to get real databases.

``database_url`` is a fresh database migrated to head, private to one test;
``pool`` an open autocommit psycopg pool on it; ``queue`` a ``JobQueue``.
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
from backtest_testing.postgres import create_migrated_template
from backtest_testing.postgres import drop_database
from backtest_testing.postgres import fresh_database
from backtest_testing.postgres import postgres_server_url


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_template(postgres_admin_url: str) -> Iterator[str]:
    name = create_migrated_template(postgres_admin_url)
    yield name
    drop_database(postgres_admin_url, name)


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
