"""Shared test helpers: slow strategies, worker subprocesses, polling the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_compute import cli
from backtest_compute.settings import WorkerSettings
from backtest_compute.worker import Worker
from backtest_shared.engine import STRATEGY_A_EXAMPLE


def slow_strategy(supertrends: int = 40) -> dict[str, Any]:
    """Strategy A plus many SuperTrend indicators: a per-bar Python loop each (~0.1 s per 100k bars)."""
    strategy = dict(STRATEGY_A_EXAMPLE)
    indicators = dict(strategy["indicators"])
    for i in range(supertrends):
        indicators[f"st{i}"] = {"kind": "supertrend", "period": 5 + i, "multiplier": 3.0}
    strategy["indicators"] = indicators
    return strategy


def fast_settings(database_url: str, **overrides: Any) -> WorkerSettings:
    """Settings with short leases and intervals, so failure paths play out in seconds."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "concurrency": 2,
        "name": f"test-{uuid.uuid4().hex[:6]}",
        "poll_interval": 0.5,
        "lease_seconds": 2.0,
        "heartbeat_interval": 0.5,
        "shutdown_grace": 10.0,
        "reap_interval": 0.5,
        "progress_interval": 0.2,
        "retry_backoff_base": 0.1,
        "retry_backoff_cap": 0.5,
    }
    values.update(overrides)
    return WorkerSettings(**values)


@contextlib.asynccontextmanager
async def running_worker(settings: WorkerSettings) -> AsyncIterator[Worker]:
    """A worker running in this event loop (its backtests in child processes), stopped on exit."""
    worker = Worker(settings)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.request_stop()
        async with asyncio.timeout(60):
            exit_code = await task
        assert exit_code == 0


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.1) -> None:
    """Poll ``check`` until true; database errors count as 'not yet' (the server may be restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def fetchall(pool: AsyncConnectionPool[Any], sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params or {})  # type: ignore[arg-type]
        return await cur.fetchall()


async def status_counts(pool: AsyncConnectionPool[Any]) -> dict[str, int]:
    rows = await fetchall(pool, "SELECT status, count(*) FROM backtest_jobs GROUP BY status")
    return {status: count for status, count in rows}


async def all_final(pool: AsyncConnectionPool[Any]) -> bool:
    counts = await status_counts(pool)
    return counts.get("pending", 0) == 0 and counts.get("running", 0) == 0


def worker_command(database_url: str, **options: Any) -> list[str]:
    # Importing the module (not just naming it) makes it a dependency Pants puts in the sandbox.
    command = [sys.executable, "-m", cli.__name__, "--database-url", database_url]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def start_worker_process(database_url: str, log_path: str, **options: Any) -> subprocess.Popen[bytes]:
    """A worker in its own OS process (same interpreter and sys.path), logging JSON to ``log_path``."""
    defaults: dict[str, Any] = {
        "concurrency": 2,
        "poll_interval": 0.5,
        "lease_seconds": 2,
        "heartbeat_interval": 0.5,
        "shutdown_grace": 10,
        "reap_interval": 0.5,
        "retry_backoff_base": 0.1,
        "retry_backoff_cap": 0.5,
    }
    defaults.update(options)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(
        worker_command(database_url, **defaults),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its backtest processes (a machine dying takes them all)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
