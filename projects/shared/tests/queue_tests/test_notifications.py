"""The queue's notifications: sent after the change commits, with the ids listeners need.

Completion's finished notifications are tested with the leases (test_leases.py).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.notifier import JobNotifier
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


@asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[list[tuple[str, str]]]:
    """Collect (channel, payload) of every queue notification while the block runs."""
    received: list[tuple[str, str]] = []
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    for channel in (queue_sql.PENDING_CHANNEL, queue_sql.FINISHED_CHANNEL, queue_sql.CANCEL_CHANNEL):
        await conn.execute(f"LISTEN {channel}")

    async def collect() -> None:
        async for notify in conn.notifies():
            received.append((notify.channel, notify.payload))

    task = asyncio.create_task(collect())
    try:
        yield received
        await asyncio.sleep(0.2)  # let notifications sent at the end of the block arrive
    finally:
        task.cancel()
        await conn.close()


async def test_enqueue_wakes_listeners_and_the_job_is_claimable_when_they_wake(
    queue: JobQueue, pool, database_url: str
) -> None:
    user = await seed_user(pool)
    job = job_for(await seed_dataset(pool, user))
    claimed_on_wake: list[int] = []
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await conn.execute(f"LISTEN {queue_sql.PENDING_CHANNEL}")

    async def claim_when_woken() -> None:
        async for _ in conn.notifies():
            claimed_on_wake.append(len(await queue.claim(uuid.uuid4(), 10)))
            return

    waiter = asyncio.create_task(claim_when_woken())
    await queue.enqueue(user, [job])
    async with asyncio.timeout(5):
        await waiter
    await conn.close()

    assert claimed_on_wake == [1]


async def test_cancelling_tells_workers_of_running_jobs_and_waiters_of_pending_ones(
    queue: JobQueue, pool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    first, second = await queue.enqueue(user, [job_for(dataset)] * 2)
    [running] = await queue.claim(uuid.uuid4(), 1)
    pending = second if running.id == first else first

    async with listening(database_url) as received:
        await queue.cancel([first, second])

    assert (queue_sql.CANCEL_CHANNEL, str(running.id)) in received
    assert (queue_sql.FINISHED_CHANNEL, str(pending)) in received


async def test_requests_made_while_a_notification_is_being_sent_go_out_in_the_next_one(pool, database_url: str) -> None:
    notifier = JobNotifier(pool)
    async with listening(database_url) as received:
        await asyncio.gather(*(notifier.notify(finished=[f"job-{n}"]) for n in range(50)))

    finished = [payload for channel, payload in received if channel == queue_sql.FINISHED_CHANNEL]
    assert sorted(" ".join(finished).split()) == sorted(f"job-{n}" for n in range(50))
    assert len(finished) < 50  # coalesced, not one notification per request


async def test_finished_notifications_wait_for_the_batch_delay_and_travel_together(pool, database_url: str) -> None:
    notifier = JobNotifier(pool, batch_delay=60.0)
    async with listening(database_url) as received:
        for n in range(20):
            await notifier.notify(finished=[f"job-{n}"])
        await asyncio.sleep(0.2)
        held_back = list(received)
        await notifier.flush()

    assert held_back == []
    finished = [payload for channel, payload in received if channel == queue_sql.FINISHED_CHANNEL]
    assert finished == [" ".join(f"job-{n}" for n in range(20))]


async def test_a_pending_notification_is_never_delayed_and_takes_the_waiting_ones_along(
    pool, database_url: str
) -> None:
    notifier = JobNotifier(pool, batch_delay=60.0)
    async with listening(database_url) as received:
        await notifier.notify(finished=["job-1"])
        await notifier.notify(pending=True)

    assert sorted(received) == [(queue_sql.FINISHED_CHANNEL, "job-1"), (queue_sql.PENDING_CHANNEL, "")]


async def test_pending_notifications_go_at_once_after_a_quiet_spell_and_then_at_most_once_per_interval(
    pool, database_url: str
) -> None:
    notifier = JobNotifier(pool, pending_interval=60.0)
    async with listening(database_url) as received:
        await notifier.notify(pending=True)
        await asyncio.sleep(0.2)
        first = list(received)
        for _ in range(5):
            await notifier.notify(pending=True)
        await asyncio.sleep(0.2)
        held_back = received[len(first) :]
        await notifier.flush()

    assert first == [(queue_sql.PENDING_CHANNEL, "")]
    assert held_back == []
    assert received == [(queue_sql.PENDING_CHANNEL, "")] * 2
