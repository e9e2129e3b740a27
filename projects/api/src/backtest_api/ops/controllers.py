"""Operations: liveness, readiness, Prometheus metrics and queue statistics.

Metrics and queue-wide statistics show every tenant's activity: they are for
operators (admin keys). Users get their own view, ``/api/v1/queue/mine``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from litestar import Controller
from litestar import Response
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import generate_latest

from backtest_api.core import metrics
from backtest_api.core.auth import require_admin
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.errors import DATABASE_RETRY_AFTER_SECONDS
from backtest_api.ops import repository
from backtest_api.ops.my_queue import MyQueue
from backtest_api.ops.my_queue import my_queue
from backtest_api.ops.schemas import Health
from backtest_api.ops.schemas import QueueStats
from backtest_api.workers.repository import list_workers

logger = logging.getLogger(__name__)

_RETRY = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]
    opt = {"exclude_from_auth": True}

    @get("/live", operation_id="healthLive", summary="The process is up")
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="healthReady",
        summary="The database is reachable and migrated to head (503 otherwise)",
        responses={503: ResponseSpec(Health, description="Not ready: the database is unreachable or not at head")},
    )
    async def ready(self, services: ServicesDep) -> Response[Health]:
        expected = services.head_revision
        try:
            async with asyncio.timeout(3.0):
                revision = await repository.schema_revision(services.pool)
        except Exception as exc:  # this endpoint is public: the reason goes to the log only
            logger.warning("readiness: database unreachable: %s", exc)
            return Response(Health(status="unavailable", database="unreachable"), status_code=503, headers=_RETRY)
        if revision != expected:
            message = f"at {revision or 'base'}, expected {expected}"
            return Response(
                Health(status="unavailable", database="ok", migrations=message), status_code=503, headers=_RETRY
            )
        return Response(Health(status="ok", database="ok", migrations=f"at head {revision}"), status_code=200)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]
    guards = [require_admin]

    @get("/", operation_id="metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, services: ServicesDep) -> Response[bytes]:
        stats = await repository.queue_stats(services.pool)
        metrics.QUEUE_DEPTH.clear()
        for depth in stats.depth:
            metrics.QUEUE_DEPTH.labels(depth.status, str(depth.priority)).set(depth.jobs)
        metrics.OLDEST_PENDING.set(stats.oldest_pending_seconds or 0.0)
        for status, jobs in stats.finished_last_minute_by_status.items():
            metrics.FINISHED_LAST_MINUTE.labels(status).set(jobs)
        workers = await list_workers(services.pool, services.settings.worker_dead_after_seconds)
        states: Counter[str] = Counter(worker.state for worker in workers)
        for state in ("alive", "degraded", "dead", "stopped"):
            metrics.WORKERS.labels(state).set(states.get(state, 0))
        durations = await repository.recent_durations(services.pool)
        for quantile, value in zip(("0.5", "0.9", "0.99"), durations or (), strict=False):
            metrics.JOB_DURATION.labels(quantile).set(value)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class QueueController(Controller):
    path = "/api/v1/queue"
    tags = ["operations"]

    @get(
        "/stats",
        operation_id="getQueueStats",
        summary="Queue depth by status and priority, oldest pending age, throughput (operators)",
        guards=[require_admin],
    )
    async def stats(self, services: ServicesDep) -> QueueStats:
        return await repository.queue_stats(services.pool)

    @get(
        "/mine",
        operation_id="getMyQueue",
        summary="Your pending and running jobs, and how many jobs are ahead of your next one",
    )
    async def mine(self, services: ServicesDep, user: CurrentUser) -> MyQueue:
        return await my_queue(services.pool, user.id)
