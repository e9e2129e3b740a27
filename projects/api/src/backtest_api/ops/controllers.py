"""Operations: liveness, readiness, Prometheus metrics and queue statistics."""

from __future__ import annotations

import asyncio

from litestar import Controller
from litestar import Response
from litestar import get
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import generate_latest

from backtest_api.core import metrics
from backtest_api.core.dependencies import ServicesDep
from backtest_api.ops import repository
from backtest_api.ops.schemas import Health
from backtest_api.ops.schemas import QueueStats


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
    )
    async def ready(self, services: ServicesDep) -> Response[Health]:
        expected = services.head_revision
        try:
            async with asyncio.timeout(3.0):
                revision = await repository.schema_revision(services.pool)
        except Exception as exc:
            return Response(Health(status="unavailable", database=f"unreachable: {exc}"), status_code=503)
        if revision != expected:
            message = f"at {revision or 'base'}, expected {expected}"
            return Response(Health(status="unavailable", database="ok", migrations=message), status_code=503)
        return Response(Health(status="ok", database="ok", migrations=f"at head {revision}"), status_code=200)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]
    opt = {"exclude_from_auth": True}

    @get("/", operation_id="metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, services: ServicesDep) -> Response[bytes]:
        stats = await repository.queue_stats(services.pool)
        metrics.QUEUE_DEPTH.clear()
        for depth in stats.depth:
            metrics.QUEUE_DEPTH.labels(depth.status, str(depth.priority)).set(depth.jobs)
        metrics.OLDEST_PENDING.set(stats.oldest_pending_seconds or 0.0)
        for status, jobs in stats.finished_last_minute_by_status.items():
            metrics.FINISHED_LAST_MINUTE.labels(status).set(jobs)
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
        summary="Queue depth by status and priority, oldest pending age, throughput",
    )
    async def stats(self, services: ServicesDep) -> QueueStats:
        return await repository.queue_stats(services.pool)
