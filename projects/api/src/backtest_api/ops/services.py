"""Operations: readiness, the Prometheus gauges refreshed from the database, queue views."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from backtest_api.core import metrics
from backtest_api.core.principal import Principal
from backtest_api.core.state import Services
from backtest_api.ops import repository
from backtest_api.ops.schemas import Health
from backtest_api.ops.schemas import MyQueue
from backtest_api.ops.schemas import QueueStats
from backtest_api.workers import services as workers
from backtest_shared.db.revision import EXPECTED_SCHEMA_REVISION

logger = logging.getLogger(__name__)

#: Seconds ``/health/ready`` waits for the database before calling it unreachable.
READINESS_TIMEOUT_SECONDS = 3.0


async def readiness(services: Services) -> Health:
    """Ready when the database answers and is at the schema revision this release expects.

    The reason for unreadiness goes to the log only: the endpoint is public.
    """
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            revision = await repository.schema_revision(services.pool)
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        return Health(status="unavailable", database="unreachable")
    if revision != EXPECTED_SCHEMA_REVISION:
        message = f"at {revision or 'base'}, expected {EXPECTED_SCHEMA_REVISION}"
        return Health(status="unavailable", database="ok", migrations=message)
    return Health(status="ok", database="ok", migrations=f"at head {revision}")


async def check_schema_revision(services: Services) -> None:
    """Log at startup when the database is not at the expected revision (readiness stays 503 until it is)."""
    health = await readiness(services)
    if health.migrations is not None and health.status != "ok":
        logger.error("database schema %s: run the migrations before serving traffic", health.migrations)


async def refresh_metrics(services: Services) -> None:
    """Set the gauges that describe the queue and the workers from the database, just before a scrape."""
    stats = await repository.queue_stats(services.pool)
    metrics.QUEUE_DEPTH.clear()
    for depth in stats.depth:
        metrics.QUEUE_DEPTH.labels(depth.status, str(depth.priority)).set(depth.jobs)
    metrics.OLDEST_PENDING.set(stats.oldest_pending_seconds or 0.0)
    for status, jobs in stats.finished_last_minute_by_status.items():
        metrics.FINISHED_LAST_MINUTE.labels(status).set(jobs)
    states: Counter[str] = Counter(worker.state for worker in await workers.list_workers(services))
    for state in ("alive", "degraded", "dead", "stopped"):
        metrics.WORKERS.labels(state).set(states.get(state, 0))
    durations = await repository.recent_durations(services.pool)
    for quantile, value in zip(("0.5", "0.9", "0.99"), durations or (), strict=False):
        metrics.JOB_DURATION.labels(quantile).set(value)


async def queue_stats(services: Services) -> QueueStats:
    return await repository.queue_stats(services.pool)


async def my_queue(services: Services, user: Principal) -> MyQueue:
    return await repository.my_queue(services.pool, user.id)
