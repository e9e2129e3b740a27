"""A queue whose fair keys clash (as earlier enqueues left it) is repaired without losing anything.

The clash: a pending job holding the same (owner, fair_key) as a running job of
the same owner. Claiming it violates ``job_queue_claimed_idx`` and stopped every
worker; both the ``repair-queue`` command and migration 0010 must mend it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from backtest_migrations import runner
from backtest_migrations.cli import main as cli_main
from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.postgres import fresh_database
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user

#: What the old enqueue did to a user who submitted while their job ran: the new
#: pending job takes the running job's key, and the counter sits just above it.
CLASH = """
WITH running AS (SELECT owner_id, fair_key FROM job_queue WHERE claimed),
     q AS (UPDATE job_queue p SET fair_key = r.fair_key FROM running r
            WHERE NOT p.claimed AND p.owner_id = r.owner_id RETURNING p.job_id, p.fair_key),
     j AS (UPDATE backtest_jobs b SET fair_key = q.fair_key FROM q WHERE b.id = q.job_id)
UPDATE users u SET fair_tail = r.fair_key + 1 FROM running r WHERE u.id = r.owner_id
"""


async def _clashing_queue(url: str) -> tuple[uuid.UUID, list[uuid.UUID], uuid.UUID]:
    """A user with one running and one pending job on the same key; returns (user, jobs, dataset)."""
    pool = await open_pool(url, min_size=1, max_size=2)
    try:
        queue = JobQueue(pool)
        user = await seed_user(pool)
        dataset = await seed_dataset(pool, user)
        [first] = await queue.enqueue(user, [job_for(dataset)])
        assert [job.id for job in await queue.claim(uuid.uuid4(), 1)] == [first]
        [second] = await queue.enqueue(user, [job_for(dataset)])
        async with pool.connection() as conn:
            await conn.execute(CLASH)
        return user, [first, second], dataset.id
    finally:
        await pool.close()


async def _claim_and_finish_everything(url: str) -> dict[str, int]:
    pool = await open_pool(url, min_size=1, max_size=2)
    try:
        queue = JobQueue(pool)
        worker = uuid.uuid4()
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT id, lease_token FROM backtest_jobs WHERE status = 'running'")
            running = await cur.fetchall()
        outcomes = [JobOutcome(lease=Lease(i, t), metrics={}, equity_curve=[], trades=[]) for i, t in running]
        _, claimed = await queue.complete_and_claim(outcomes, worker, 10)
        await queue.complete([outcome_for(job) for job in claimed])
        return await queue.counts_by_status()
    finally:
        await pool.close()


def _claim_fails_on_the_clash(url: str) -> None:
    async def claim() -> Any:
        pool = await open_pool(url, min_size=1, max_size=1)
        try:
            return await JobQueue(pool).claim(uuid.uuid4(), 1)
        finally:
            await pool.close()

    with pytest.raises(psycopg.errors.UniqueViolation):
        asyncio.run(claim())


def test_repair_queue_command_lets_claims_resume_and_loses_no_job(
    postgres_admin_url: str, migrated_template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database(postgres_admin_url, migrated_template) as url:
        _, jobs, dataset = asyncio.run(_clashing_queue(url))
        _claim_fails_on_the_clash(url)

        assert cli_main(["--database-url", url, "repair-queue"]) == 0
        assert "1 pending jobs given fresh keys" in capsys.readouterr().out

        assert asyncio.run(_claim_and_finish_everything(url)) == {"succeeded": 2}
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM datasets WHERE id = %s", (dataset,)).fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM job_results").fetchone() == (2,)


def test_repair_queue_changes_nothing_on_a_healthy_queue(
    postgres_admin_url: str, migrated_template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database(postgres_admin_url, migrated_template) as url:
        assert cli_main(["--database-url", url, "repair-queue"]) == 0
        assert "0 pending jobs given fresh keys, 0 owners" in capsys.readouterr().out


def test_upgrading_to_head_repairs_a_queue_left_clashing_by_earlier_releases(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        # Today's statements write columns 0009 lacks: make the clash at head, then go back to 0009.
        runner.upgrade(url)
        asyncio.run(_clashing_queue(url))
        runner.downgrade(url, "0009")
        _claim_fails_on_the_clash(url)

        runner.upgrade(url)

        assert asyncio.run(_claim_and_finish_everything(url)) == {"succeeded": 2}
