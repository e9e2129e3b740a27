"""Regression: a worker hung at shutdown when a side loop swallowed its cancellation.

``asyncio.wait_for`` (Python 3.11) returns the inner result instead of raising
``CancelledError`` when the cancel arrives in the same loop turn as the result.
The heartbeat loop then went on beating forever, and ``Worker.run`` waited for
it in its ``finally`` (seen in CI: a worker stopping on a fatal error did not
end within 30 s).
"""

import asyncio
import uuid
from collections.abc import Iterable

from psycopg_pool import AsyncConnectionPool

from backtest_compute.worker import Worker
from backtest_shared.jobs.models import HeartbeatReply
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from compute_tests.helpers import fast_settings


class _GatedQueue(JobQueue):
    """A real queue whose first heartbeat, once answered, waits at a gate the test opens."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        super().__init__(pool, QueueSettings())
        self.answered = asyncio.Event()
        self.gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def heartbeat(
        self, worker_id: uuid.UUID, leases: Iterable[Lease], *, degraded: str | None = None
    ) -> HeartbeatReply:
        reply = await super().heartbeat(worker_id, leases, degraded=degraded)
        self.answered.set()
        await self.gate
        return reply


async def test_the_heartbeat_loop_stops_when_cancelled_just_as_its_heartbeat_returns(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    worker = Worker(fast_settings(database_url, heartbeat_interval=0.05))
    queue = _GatedQueue(pool)
    worker._queue = queue
    loop_task = asyncio.create_task(worker._heartbeat_loop())
    async with asyncio.timeout(10):
        await queue.answered.wait()

    queue.gate.set_result(None)  # the heartbeat's reply is ready ...
    loop_task.cancel()  # ... in the same loop turn as the worker's shutdown cancels the loop

    await asyncio.wait({loop_task}, timeout=2)
    assert loop_task.cancelled()
