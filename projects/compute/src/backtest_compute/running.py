"""What the worker holds while it runs: the jobs it has claimed and its own counters.

These are plain data shared by the worker's parts (``worker``, ``keepalive``,
``outcomes``); none of them owns a connection or a task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from backtest_compute.processes import BacktestProcess
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import Lease

AbortReason = Literal["cancelled", "lost", "shutdown"]


@dataclass
class RunningJob:
    """A job this worker holds, from claim until its outcome is written."""

    job: ClaimedJob
    slot: BacktestProcess
    claimed_at: float
    abort: asyncio.Future[AbortReason]
    #: 'running' while the backtest runs; 'writing' once its outcome is being stored
    #: (from then on cancellation and lost leases are settled by the fenced write).
    phase: Literal["running", "writing"] = "running"

    @property
    def lease(self) -> Lease:
        return Lease(self.job.id, self.job.lease_token)

    def request_abort(self, reason: AbortReason) -> bool:
        if self.phase != "running" or self.abort.done():
            return False
        self.abort.set_result(reason)
        return True


@dataclass
class WorkerStats:
    """The worker's own counters, logged at exit (and read by tests and the benchmark)."""

    claimed: int = 0
    #: Of ``claimed``, the jobs claimed to run in a batch with a sibling (``batches``).
    batched: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    busy: int = 0
    max_busy: int = 0
    queue_calls: int = 0
    queue_seconds: float = 0.0
    #: Round-trip seconds of queue statements by kind (claim, complete, heartbeat, ...).
    queue_seconds_by_call: dict[str, float] = field(default_factory=dict)
    engine_seconds: float = 0.0
    first_claim: float | None = None
    last_finish: float | None = None

    def count(self, outcome: str) -> None:
        self.finished[outcome] = self.finished.get(outcome, 0) + 1

    def summary(self) -> dict[str, Any]:
        """The counters as logged when the worker stops."""
        return {
            "claimed": self.claimed,
            "batched": self.batched,
            "finished": self.finished,
            "max_busy": self.max_busy,
            "queue_calls": self.queue_calls,
            "queue_seconds": round(self.queue_seconds, 4),
            "queue_seconds_by_call": {k: round(v, 4) for k, v in self.queue_seconds_by_call.items()},
            "engine_seconds": round(self.engine_seconds, 4),
            "first_claim": self.first_claim,
            "last_finish": self.last_finish,
        }

    async def timed(self, call: Coroutine[Any, Any, Any]) -> Any:
        """Await a queue call, adding its round-trip time to the stats (under the method's name)."""
        started = time.perf_counter()
        try:
            return await call
        finally:
            elapsed = time.perf_counter() - started
            name = call.__qualname__.rsplit(".", 1)[-1]
            self.queue_seconds_by_call[name] = self.queue_seconds_by_call.get(name, 0.0) + elapsed
            self.queue_calls += 1
            self.queue_seconds += elapsed
