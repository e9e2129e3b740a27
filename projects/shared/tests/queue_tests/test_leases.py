import uuid

from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_bundle
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user

#: The ``queue_settings`` fixture's: a 30 s lease, retried after 2 s, then 4 s, ...
LEASE = 30.0
FIRST_BACKOFF = 2.0


async def enqueue_one(queue: JobQueue, pool, **options) -> uuid.UUID:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    [job_id] = await queue.enqueue(user, [job_for(dataset)], **options)
    return job_id


async def test_completed_job_stores_its_result_once(queue: JobQueue, pool) -> None:
    job_id = await enqueue_one(queue, pool)
    [job] = await queue.claim(uuid.uuid4(), 1)

    assert await queue.complete([outcome_for(job)]) == {job_id: "succeeded"}
    assert await queue.complete([outcome_for(job)]) == {}

    state = await queue.get(job_id)
    result = await queue.get_result(job_id)
    assert state is not None and state.status == "succeeded" and state.progress == 1.0
    assert result is not None and result.metrics == {"sharpe": 1.0}


async def test_expired_lease_is_reaped_and_the_job_claimed_again(queue: JobQueue, pool, clock: DatabaseClock) -> None:
    job_id = await enqueue_one(queue, pool)
    [first] = await queue.claim(uuid.uuid4(), 1)
    await clock.advance(LEASE - 1)
    assert await queue.reap_expired() == {}
    await clock.advance(2)

    assert await queue.reap_expired() == {job_id: "pending"}
    state = await queue.get(job_id)
    assert state is not None and state.error is not None and "worker lost" in state.error
    assert await queue.claim(uuid.uuid4(), 1) == []  # the retry backoff
    await clock.advance(FIRST_BACKOFF + 1)
    [second] = await queue.claim(uuid.uuid4(), 1)

    assert second.id == job_id
    assert second.attempt == 2
    assert second.lease_token != first.lease_token


async def test_stale_worker_cannot_write_after_its_job_was_reclaimed(
    queue: JobQueue, pool, clock: DatabaseClock
) -> None:
    job_id = await enqueue_one(queue, pool)
    [stale] = await queue.claim(uuid.uuid4(), 1)
    await clock.advance(LEASE + 1)
    await queue.reap_expired()
    await clock.advance(FIRST_BACKOFF + 1)
    [fresh] = await queue.claim(uuid.uuid4(), 1)

    assert await queue.complete([outcome_for(stale, {"stale": True})]) == {}
    assert await queue.fail(Lease(stale.id, stale.lease_token), "late", retry=False) is None
    assert await queue.report_progress([(Lease(stale.id, stale.lease_token), 0.9)]) == set()
    assert await queue.release([Lease(stale.id, stale.lease_token)]) == {}
    assert (await queue.heartbeat(uuid.uuid4(), [Lease(stale.id, stale.lease_token)])).held == frozenset()

    assert await queue.complete([outcome_for(fresh)]) == {job_id: "succeeded"}
    result = await queue.get_result(job_id)
    assert result is not None and result.metrics == {"sharpe": 1.0}


async def test_heartbeat_keeps_a_lease_alive(queue: JobQueue, pool, clock: DatabaseClock) -> None:
    job_id = await enqueue_one(queue, pool)
    worker = uuid.uuid4()
    [job] = await queue.claim(worker, 1)

    for _ in range(4):  # twice the lease in all, each heartbeat within it
        await clock.advance(LEASE / 2)
        reply = await queue.heartbeat(worker, [Lease(job.id, job.lease_token)])
        assert reply.held == {job_id}

    assert await queue.reap_expired() == {}


async def test_failed_job_is_retried_with_backoff_until_its_attempts_run_out(
    queue: JobQueue, pool, clock: DatabaseClock
) -> None:
    job_id = await enqueue_one(queue, pool, max_attempts=2)

    [first] = await queue.claim(uuid.uuid4(), 1)
    assert await queue.fail(Lease(first.id, first.lease_token), "engine exploded", retry=True) == "pending"
    assert await queue.claim(uuid.uuid4(), 1) == []
    await clock.advance(FIRST_BACKOFF + 1)
    [second] = await queue.claim(uuid.uuid4(), 1)
    assert await queue.fail(Lease(second.id, second.lease_token), "engine exploded again", retry=True) == "failed"

    state = await queue.get(job_id)
    assert state is not None
    assert (state.status, state.attempts, state.error) == ("failed", 2, "engine exploded again")
    assert state.finished_at is not None


async def test_non_retryable_failure_is_final_at_once(queue: JobQueue, pool) -> None:
    job_id = await enqueue_one(queue, pool, max_attempts=5)
    [job] = await queue.claim(uuid.uuid4(), 1)

    assert await queue.fail(Lease(job.id, job.lease_token), "timeout", retry=False) == "failed"
    assert (await queue.get(job_id)).error == "timeout"  # type: ignore[union-attr]


async def test_reaper_fails_a_job_whose_last_attempt_lost_its_worker(
    queue: JobQueue, pool, clock: DatabaseClock
) -> None:
    job_id = await enqueue_one(queue, pool, max_attempts=1)
    await queue.claim(uuid.uuid4(), 1)
    await clock.advance(LEASE + 1)

    assert await queue.reap_expired() == {job_id: "failed"}
    state = await queue.get(job_id)
    assert state is not None and state.error is not None
    assert state.error.startswith("worker lost")


async def test_released_job_goes_back_without_burning_an_attempt(queue: JobQueue, pool) -> None:
    job_id = await enqueue_one(queue, pool, max_attempts=1)
    [job] = await queue.claim(uuid.uuid4(), 1)

    assert await queue.release([Lease(job.id, job.lease_token)]) == {job_id: "pending"}
    [again] = await queue.claim(uuid.uuid4(), 1)

    assert again.id == job_id
    assert again.attempt == 1


async def test_progress_is_recorded_for_the_lease_holder(queue: JobQueue, pool) -> None:
    job_id = await enqueue_one(queue, pool)
    [job] = await queue.claim(uuid.uuid4(), 1)

    assert await queue.report_progress([(Lease(job.id, job.lease_token), 0.5)]) == {job_id}
    assert (await queue.get(job_id)).progress == 0.5  # type: ignore[union-attr]


async def test_complete_and_claim_finishes_held_jobs_and_claims_the_next_in_one_call(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    ids = await queue.enqueue(user, [job_for(dataset)] * 5)
    worker = uuid.uuid4()
    first = await queue.claim(worker, 2)

    finished, claimed = await queue.complete_and_claim([outcome_for(job) for job in first], worker, 3)

    assert finished == {job.id: "succeeded" for job in first}
    assert {job.id for job in claimed} == set(ids) - {job.id for job in first}
    assert [await queue.get_result(job.id) is not None for job in first] == [True, True]
    assert await queue.counts_by_status() == {"succeeded": 2, "running": 3}


async def test_complete_and_claim_is_fenced_like_complete(queue: JobQueue, pool, clock: DatabaseClock) -> None:
    job_id = await enqueue_one(queue, pool)
    [stale] = await queue.claim(uuid.uuid4(), 1)
    await clock.advance(LEASE + 1)
    await queue.reap_expired()

    finished, claimed = await queue.complete_and_claim([outcome_for(stale)], uuid.uuid4(), 1)

    assert finished == {}
    assert claimed == []  # the job is back in the queue but waiting out its retry backoff
    assert await queue.get_result(job_id) is None


async def test_completion_notifies_every_finished_job_and_its_bundle(queue: JobQueue, pool, database_url) -> None:
    import psycopg

    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    bundle_id = await seed_bundle(pool, user, 150)
    await queue.enqueue(user, [job_for(dataset)] * 150, bundle_id=bundle_id)
    jobs = await queue.claim(uuid.uuid4(), 150)
    listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await listener.execute("LISTEN backtest_jobs_finished")

    await queue.complete([outcome_for(job) for job in jobs])

    heard: set[str] = set()
    async for note in listener.notifies(timeout=2.0):
        heard.update(note.payload.split())
        if len(heard) == 151:
            break
    await listener.close()
    assert heard == {str(job.id) for job in jobs} | {str(bundle_id)}
