"""What one API process holds for its lifetime (created and closed by the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from litestar.datastructures import State
from psycopg_pool import AsyncConnectionPool

from backtest_api.core.auth import Authenticator
from backtest_api.core.listener import NotificationListener
from backtest_api.core.ratelimit import RateLimiter
from backtest_api.core.submitter import Submitter
from backtest_api.settings import Settings
from backtest_shared.jobs.repository import JobQueue


@dataclass
class Services:
    settings: Settings
    pool: AsyncConnectionPool[Any]
    queue: JobQueue
    authenticator: Authenticator
    rate_limiter: RateLimiter
    listener: NotificationListener
    submitter: Submitter
    #: (caller's user id, dataset id) -> what a submit needs of a dataset that caller may use
    #: (``datasets.services.JobDataset``); datasets never change once stored.
    dataset_cache: dict[tuple[Any, Any], Any] = field(default_factory=dict)


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services
