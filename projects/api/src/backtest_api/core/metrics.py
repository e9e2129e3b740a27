"""Prometheus metrics: request latency (middleware), queue depth, job outcomes and durations (read at scrape).

Metrics are per API process (each uvicorn worker process answers scrapes with its own request
counters; the queue figures come from the database and are the same everywhere).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp
from litestar.types import Message
from litestar.types import Receive
from litestar.types import Scope
from litestar.types import Send
from prometheus_client import Gauge
from prometheus_client import Histogram

REQUEST_LATENCY = Histogram(
    "backtest_api_request_duration_seconds",
    "HTTP request latency by route, method and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_DEPTH = Gauge("backtest_queue_jobs", "Jobs in the queue by status and priority", ["status", "priority"])
OLDEST_PENDING = Gauge(
    "backtest_queue_oldest_pending_seconds", "How long the longest-waiting claimable job has waited"
)
FINISHED_LAST_MINUTE = Gauge(
    "backtest_jobs_finished_last_minute", "Jobs that reached a final state in the last minute, by status", ["status"]
)
JOB_DURATION = Gauge(
    "backtest_job_duration_seconds", "Run time of jobs that succeeded in the last five minutes", ["quantile"]
)


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Observe every HTTP request's latency, labelled with its route template."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("path_template") or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)

    return middleware
