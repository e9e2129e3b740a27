"""Single submits of many owners enqueued in one statement, each on its own terms."""

import asyncio
import uuid

import psycopg

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import enqueue_each_params
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_finished_history
from backtest_testing.seed import seed_user


async def _owners(pool, n: int) -> list[tuple[uuid.UUID, QueuedJob]]:
    owners = []
    for _ in range(n):
        user = await seed_user(pool)
        owners.append((user, job_for(await seed_dataset(pool, user))))
    return owners


async def _fair_keys(pool) -> dict[uuid.UUID, int]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, fair_key FROM backtest_jobs WHERE status = 'pending'")
        return dict(await cur.fetchall())


async def test_jobs_of_several_owners_are_queued_with_their_options(queue: JobQueue, pool) -> None:
    (alice, alice_job), (bob, bob_job) = await _owners(pool, 2)
    submits = [
        SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job, priority=7, max_attempts=2, timeout_seconds=60),
        SingleSubmit(id=uuid.uuid4(), owner_id=bob, job=bob_job),
        SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job),
    ]

    outcomes = await queue.enqueue_each(submits)

    assert [(o.id, o.status) for o in outcomes] == [(s.id, "queued") for s in submits]
    first = await queue.get(submits[0].id)
    assert first is not None and first.owner_id == alice and first.status == "pending"
    assert (first.priority, first.max_attempts, first.timeout_seconds) == (7, 2, 60)
    assert first.config_hash == alice_job.config_hash


async def test_each_owner_gets_consecutive_fair_keys_from_the_queue_head(queue: JobQueue, pool) -> None:
    (alice, alice_job), (bob, bob_job) = await _owners(pool, 2)
    backlog = await queue.enqueue(alice, [alice_job] * 50)  # alice already waits with 50 jobs
    keys = await _fair_keys(pool)
    head = min(keys[job_id] for job_id in backlog)

    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=owner, job=job) for owner, job in [(alice, alice_job)] * 2]
    submits.append(SingleSubmit(id=uuid.uuid4(), owner_id=bob, job=bob_job))
    await queue.enqueue_each(submits)

    keys = await _fair_keys(pool)
    assert [keys[s.id] for s in submits[:2]] == [head + 50, head + 51]  # behind alice's own backlog
    assert keys[submits[2].id] == head  # bob's single job is claimed in the next round
    assert len(set(keys.values())) == len(keys) - 1  # only bob shares a key (the head's)


async def test_a_job_over_its_owners_pending_limit_is_refused_alone(queue: JobQueue, pool) -> None:
    (alice, alice_job), (bob, bob_job) = await _owners(pool, 2)
    await queue.enqueue(alice, [alice_job] * 2)
    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job, max_pending=3) for _ in range(3)]
    submits.insert(1, SingleSubmit(id=uuid.uuid4(), owner_id=bob, job=bob_job, max_pending=3))

    outcomes = await queue.enqueue_each(submits)

    assert [o.status for o in outcomes] == ["queued", "queued", "limited", "limited"]
    assert await queue.get(submits[2].id) is None and await queue.get(submits[3].id) is None
    assert await queue.counts_by_status() == {"pending": 4}


async def test_an_identical_finished_config_is_answered_from_the_earlier_result(queue: JobQueue, pool) -> None:
    [(alice, alice_job)] = await _owners(pool, 1)
    [first] = await queue.enqueue(alice, [alice_job])
    [claimed] = await queue.claim(uuid.uuid4(), 1)
    lease = Lease(claimed.id, claimed.lease_token)
    outcome = JobOutcome(lease=lease, metrics={"sharpe": 2.0}, equity_curve=[], trades=[])
    await queue.complete([outcome])

    again = SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job, max_pending=0)
    fresh = SingleSubmit(id=uuid.uuid4(), owner_id=alice, job=alice_job, reuse=False)
    outcomes = await queue.enqueue_each([again, fresh])

    assert [(o.status, o.reused_from) for o in outcomes] == [("reused", first), ("queued", None)]
    result = await queue.get_result(again.id)
    assert result is not None and result.metrics == {"sharpe": 2.0}


async def test_concurrent_batches_over_the_same_owners_neither_deadlock_nor_share_keys(queue: JobQueue, pool) -> None:
    owners = await _owners(pool, 12)

    async def batches(order: list[tuple[uuid.UUID, QueuedJob]]) -> None:
        for _ in range(15):
            await queue.enqueue_each([SingleSubmit(id=uuid.uuid4(), owner_id=o, job=j) for o, j in order])

    async with asyncio.timeout(60):
        await asyncio.gather(batches(owners), batches(owners[::-1]), batches(owners[3:] + owners[:3]))

    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), count(DISTINCT (owner_id, fair_key)) FROM backtest_jobs WHERE status = 'pending'"
        )
        assert await cur.fetchone() == (540, 540)


async def test_the_statement_probes_indexes_only_with_a_long_history(queue: JobQueue, pool, database_url: str) -> None:
    owners = await _owners(pool, 4)
    user, job = owners[0]
    await queue.enqueue(user, [job] * 100)
    await seed_finished_history(pool, user, job.config.dataset_id, 300_000)  # as after months of use
    submits = [SingleSubmit(id=uuid.uuid4(), owner_id=o, job=j, max_pending=1_000) for o, j in owners * 2]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("EXPLAIN " + queue_sql.ENQUEUE_EACH, enqueue_each_params(submits))
        plan = "\n".join(row[0] for row in await cur.fetchall())

    assert "Seq Scan on backtest_jobs" not in plan, plan
    assert "job_results_pkey" in plan, plan
