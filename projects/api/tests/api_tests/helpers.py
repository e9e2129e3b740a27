"""Small request builders shared by the API tests."""

from __future__ import annotations

import io
from typing import Any

from litestar.testing import AsyncTestClient

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def csv_bytes(data: OHLCV) -> bytes:
    out = io.StringIO()
    out.write("timestamp,open,high,low,close,volume\n")
    for row in zip(data.timestamps, data.open, data.high, data.low, data.close, data.volume, strict=True):
        out.write(",".join(repr(x.item()) for x in row) + "\n")
    return out.getvalue().encode()


async def upload_dataset(client: AsyncTestClient, headers: dict[str, str], n_bars: int = 300, seed: int = 1) -> str:
    response = await client.post(
        "/api/v1/datasets",
        params={"name": f"synthetic-{seed}"},
        content=csv_bytes(synthetic_ohlcv(n_bars, seed=seed)),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def backtest_request(dataset_id: str, **changes: Any) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "strategy": STRATEGY_A_EXAMPLE, **changes}


METRICS = {"sharpe": 1.0, "total_return": 0.1, "max_drawdown": 0.2, "num_trades": 3}
TRADE = {
    "entry_time": 1,
    "exit_time": 2,
    "entry_price": 10.0,
    "exit_price": 11.0,
    "side": "long",
    "size": 1.0,
    "pnl": 1.0,
    "return_pct": 10.0,
    "exit_reason": "signal",
    "entry_bar": 0,
    "exit_bar": 1,
}


async def run_jobs(queue, limit: int = 1000, metrics_for=None) -> list:
    """Play a worker: claim up to ``limit`` jobs and complete them with a small result."""
    import uuid

    from backtest_shared.jobs.models import JobOutcome
    from backtest_shared.jobs.models import Lease

    jobs = await queue.claim(uuid.uuid4(), limit)
    await queue.complete(
        [
            JobOutcome(
                lease=Lease(job.id, job.lease_token),
                metrics=metrics_for(job) if metrics_for else METRICS,
                equity_curve=[[1, 10000.0], [2, 10100.0]],
                trades=[TRADE],
            )
            for job in jobs
        ]
    )
    return jobs


def finish_later(database_url: str, delay: float) -> Any:
    """Complete every queued job after ``delay`` seconds, from another thread with its own pool
    (the test client runs the app in a blocking portal, so a task on the test's loop would not run)."""
    import asyncio
    import threading

    from backtest_shared.db.pool import open_pool
    from backtest_shared.jobs.repository import JobQueue

    async def finish() -> None:
        await asyncio.sleep(delay)
        pool = await open_pool(database_url, min_size=1, max_size=1)
        try:
            await run_jobs(JobQueue(pool))
        finally:
            await pool.close()

    thread = threading.Thread(target=lambda: asyncio.run(finish()), daemon=True)
    thread.start()
    return thread
