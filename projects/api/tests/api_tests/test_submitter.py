"""Concurrent single submits share statements, yet each keeps its own outcome."""

import asyncio
import uuid
from collections.abc import Sequence

import psycopg
import pytest

from backtest_api.core.submitter import Submitter
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.models import SubmitOutcome
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


class _CountingQueue(JobQueue):
    def __init__(self, pool) -> None:
        super().__init__(pool)
        self.statements = 0

    async def enqueue_each(self, submits: Sequence[SingleSubmit]) -> list[SubmitOutcome]:
        self.statements += 1
        return await super().enqueue_each(submits)


async def test_a_burst_of_submits_from_many_users_takes_few_statements(pool) -> None:
    queue = _CountingQueue(pool)
    submitter = Submitter(queue)
    jobs = []
    for _ in range(10):
        user = await seed_user(pool)
        jobs.append((user, job_for(await seed_dataset(pool, user))))
    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=user, job=job) for user, job in jobs * 5]

    outcomes = await asyncio.gather(*(submitter.submit(s) for s in submits))

    assert [o.id for o in outcomes] == [s.id for s in submits]
    assert {o.status for o in outcomes} == {"queued"}
    assert await queue.counts_by_status() == {"pending": 50}
    assert queue.statements <= 2  # the first alone, the rest together


async def test_a_submit_naming_a_deleted_dataset_fails_alone(pool) -> None:
    submitter = Submitter(JobQueue(pool))
    user = await seed_user(pool)
    job = job_for(await seed_dataset(pool, user))
    gone = job_for(await seed_dataset(pool, user, seed=2))
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM datasets WHERE id = %s", (gone.config.dataset_id,))
    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=user, job=j) for j in [job, job, gone, job]]

    results = await asyncio.gather(*(submitter.submit(s) for s in submits), return_exceptions=True)

    assert isinstance(results[2], psycopg.errors.ForeignKeyViolation)
    assert [r.status for i, r in enumerate(results) if i != 2] == ["queued"] * 3  # type: ignore[union-attr]


async def test_a_submit_over_the_pending_limit_is_limited_and_others_are_not(pool) -> None:
    submitter = Submitter(JobQueue(pool))
    alice, bob = await seed_user(pool), await seed_user(pool)
    alice_job, bob_job = job_for(await seed_dataset(pool, alice)), job_for(await seed_dataset(pool, bob))
    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job, max_pending=2) for _ in range(4)]
    submits.append(SingleSubmit(id=uuid.uuid4(), owner_id=bob, job=bob_job, max_pending=2))

    outcomes = await asyncio.gather(*(submitter.submit(s) for s in submits))

    statuses = [o.status for o in outcomes]
    assert statuses.count("limited") == 2 and statuses[-1] == "queued"


@pytest.mark.parametrize("priority", [101, -101])
async def test_invalid_options_are_refused_before_the_batch(pool, priority: int) -> None:
    from backtest_shared.jobs.config import JobConfigError

    user = await seed_user(pool)
    job = job_for(await seed_dataset(pool, user))
    with pytest.raises(JobConfigError):
        await JobQueue(pool).enqueue_each([SingleSubmit(id=uuid.uuid4(), owner_id=user, job=job, priority=priority)])
