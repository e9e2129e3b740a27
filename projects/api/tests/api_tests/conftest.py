from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from backtest_api.accounts.repository import create_user
from backtest_api.accounts.repository import issue_key
from backtest_api.app import create_app
from backtest_api.settings import Settings

pytest_plugins = ["backtest_testing.fixtures"]


@dataclass
class Caller:
    """A user of the API: their key as request headers."""

    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_caller(url: str, name: str, **options) -> Caller:
    create_user(url, name, **options)
    return Caller(name=name, key=issue_key(url, name))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, pool_min_size=1, pool_max_size=4)


@pytest_asyncio.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def alice(database_url: str) -> Caller:
    return make_caller(database_url, "alice")


@pytest.fixture
def bob(database_url: str) -> Caller:
    return make_caller(database_url, "bob")


@pytest.fixture
def admin(database_url: str) -> Caller:
    return make_caller(database_url, "root", role="admin")
