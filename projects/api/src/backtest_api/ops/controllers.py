"""Operations: liveness, readiness, Prometheus metrics and queue statistics.

Metrics and queue-wide statistics show every tenant's activity: they are for
operators (admin keys). Users get their own view, ``/api/v1/queue/mine``.
"""

from __future__ import annotations

from litestar import Controller
from litestar import Response
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import generate_latest

from backtest_api.core.auth import require_admin
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.errors import DATABASE_RETRY_AFTER_SECONDS
from backtest_api.ops import services as ops
from backtest_api.ops.schemas import Health
from backtest_api.ops.schemas import MyQueue
from backtest_api.ops.schemas import QueueStats

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
        health = await ops.readiness(services)
        if health.status != "ok":
            return Response(health, status_code=503, headers=_RETRY)
        return Response(health, status_code=200)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]
    guards = [require_admin]

    @get("/", operation_id="metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, services: ServicesDep) -> Response[bytes]:
        await ops.refresh_metrics(services)
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
        return await ops.queue_stats(services)

    @get(
        "/mine",
        operation_id="getMyQueue",
        summary="Your pending and running jobs, and how many jobs are ahead of your next one",
    )
    async def mine(self, services: ServicesDep, user: CurrentUser) -> MyQueue:
        return await ops.my_queue(services, user)
