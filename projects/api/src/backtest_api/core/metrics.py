"""Prometheus metrics: request latency (observed at the edge, ``core/edge.py``), queue depth, job outcomes
and durations (read at scrape).

Metrics are per API process (each uvicorn worker process answers scrapes with its own request
counters; the queue figures come from the database and are the same everywhere).
"""

from __future__ import annotations

from prometheus_client import Gauge
from prometheus_client import Histogram

REQUEST_LATENCY = Histogram(
    "backtest_api_request_duration_seconds",
    "HTTP request latency by route, method and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_DEPTH = Gauge("backtest_queue_jobs", "Jobs in the queue by status and priority", ["status", "priority"])
OLDEST_PENDING = Gauge("backtest_queue_oldest_pending_seconds", "How long the longest-waiting claimable job has waited")
FINISHED_LAST_MINUTE = Gauge(
    "backtest_jobs_finished_last_minute", "Jobs that reached a final state in the last minute, by status", ["status"]
)
WORKERS = Gauge(
    "backtest_workers",
    "Compute workers seen in the last day by state: alive, degraded (claims or reaps keep failing), dead, stopped",
    ["state"],
)
JOB_DURATION = Gauge(
    "backtest_job_duration_seconds", "Run time of jobs that succeeded in the last five minutes", ["quantile"]
)
