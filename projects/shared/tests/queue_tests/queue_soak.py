"""One soak process: a worker and its users issuing random queue operations for a bounded time.

Run several at once (``test_queue_soak``); each records every exception a
statement raised. Whatever they interleave, no statement may fail, and the
queue's invariants (``queue_audit``) must hold afterwards.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
import uuid
from typing import Any

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import PendingLimitExceededError
from backtest_shared.jobs.repository import QueueSettings
from backtest_testing.clock import DatabaseClock


class SoakClient:
    """A worker that also submits and cancels for a set of users, at random."""

    def __init__(self, queue: JobQueue, pool: Any, users: list[tuple[uuid.UUID, QueuedJob]], seed: int) -> None:
        self.queue = queue
        self.pool = pool
        self.users = users
        self.random = random.Random(seed)
        self.worker = uuid.uuid4()
        self.held: dict[uuid.UUID, int] = {}
        self.submitted: list[uuid.UUID] = []
        self.ops: dict[str, int] = {}

    def _user(self) -> tuple[uuid.UUID, QueuedJob]:
        return self.random.choice(self.users)

    def _take(self, most: int) -> list[tuple[uuid.UUID, int]]:
        chosen = self.random.sample(sorted(self.held.items()), min(most, len(self.held)))
        for job_id, _ in chosen:
            del self.held[job_id]
        return chosen

    async def step(self) -> None:
        # Workers outpace submitters, so users' queues keep running dry while their
        # jobs run: the moments when fair keys are drawn afresh.
        op = self.random.choices(
            [
                "submit",
                "each",
                "bundle",
                "claim",
                "complete",
                "fail",
                "heartbeat",
                "release",
                "expire",
                "reap",
                "cancel",
            ],
            weights=[3, 2, 1, 4, 8, 1, 2, 1, 1, 1, 1],
        )[0]
        self.ops[op] = self.ops.get(op, 0) + 1
        await getattr(self, f"_{op}")()

    async def _submit(self) -> None:
        owner, job = self._user()
        try:
            ids = await self.queue.enqueue(
                owner, [job] * self.random.randint(1, 2), priority=self.random.choice([0, 5]), max_pending=50
            )
        except PendingLimitExceededError:
            return
        self.submitted.extend(ids)

    async def _each(self) -> None:
        picks = [self._user() for _ in range(self.random.randint(1, 4))]
        submits = [SingleSubmit(id=uuid.uuid4(), owner_id=o, job=j, reuse=False) for o, j in picks]
        outcomes = await self.queue.enqueue_each(submits)
        self.submitted.extend(o.id for o in outcomes if o.status == "queued")

    async def _bundle(self) -> None:
        owner, job = self._user()
        ids, _ = await self.queue.create_bundle(
            owner, uuid.uuid4(), [job] * self.random.randint(2, 4), name=None, rank_by="sharpe", request={}, reuse=False
        )
        self.submitted.extend(ids)

    async def _claim(self) -> None:
        for job in await self.queue.claim(self.worker, self.random.randint(1, 4)):
            self.held[job.id] = job.lease_token

    async def _complete(self) -> None:
        done = self._take(self.random.randint(0, 3))
        outcomes = [JobOutcome(lease=Lease(i, t), metrics={"sharpe": 1.0}, equity_curve=[], trades=[]) for i, t in done]
        _, claimed = await self.queue.complete_and_claim(outcomes, self.worker, self.random.randint(0, 3))
        for job in claimed:
            self.held[job.id] = job.lease_token

    async def _fail(self) -> None:
        for job_id, token in self._take(1):
            await self.queue.fail(Lease(job_id, token), "soak failure", retry=self.random.random() < 0.7)

    async def _heartbeat(self) -> None:
        reply = await self.queue.heartbeat(self.worker, [Lease(i, t) for i, t in self.held.items()])
        self.held = {i: t for i, t in self.held.items() if i in reply.held}

    async def _release(self) -> None:
        await self.queue.release([Lease(i, t) for i, t in self._take(len(self.held))])

    async def _expire(self) -> None:
        await DatabaseClock(self.pool).expire_leases(worker=self.worker)

    async def _reap(self) -> None:
        await self.queue.reap_expired()

    async def _cancel(self) -> None:
        if self.submitted:
            await self.queue.cancel([self.random.choice(self.submitted)])


async def _soak(database_url: str, users: list[tuple[str, str]], seconds: float, seed: int) -> dict[str, Any]:
    pool = await open_pool(database_url, min_size=1, max_size=2, generic_plans=seed % 2 == 0)
    queue = JobQueue(
        pool, QueueSettings(lease_seconds=30.0, retry_backoff_base_seconds=0.0, retry_backoff_cap_seconds=0.0)
    )
    jobs = [
        (uuid.UUID(owner), QueuedJob(config=decode_backtest_config(config), config_hash=f"soak-{owner}"))
        for owner, config in users
    ]
    client = SoakClient(queue, pool, jobs, seed)
    errors: list[str] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(errors) < 5:
            try:
                await client.step()
            except Exception:
                errors.append(traceback.format_exc())
    finally:
        await queue.flush_notifications()
        await pool.close()
    return {"errors": errors, "ops": client.ops}


def soak(database_url: str, users: list[tuple[str, str]], seconds: float, seed: int) -> dict[str, Any]:
    """Random operations for ``seconds``; returns the errors raised (none, always) and the operations run."""
    return asyncio.run(_soak(database_url, users, seconds, seed))
