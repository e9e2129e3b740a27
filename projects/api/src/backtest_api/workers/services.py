"""The compute workers as operators see them."""

from __future__ import annotations

from backtest_api.core.state import Services
from backtest_api.workers import repository
from backtest_api.workers.schemas import Worker


async def list_workers(services: Services) -> list[Worker]:
    """Workers seen in the last day; one silent longer than ``worker_dead_after_seconds`` is dead."""
    return await repository.list_workers(services.pool, services.settings.worker_dead_after_seconds)
