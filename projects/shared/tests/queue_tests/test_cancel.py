import uuid

from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_bundle
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def test_cancelling_a_pending_job_makes_it_final_at_once(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    [job_id] = await queue.enqueue(user, [job_for(await seed_dataset(pool, user))])

    assert await queue.cancel([job_id]) == {job_id: "cancelled"}
    assert await queue.claim(uuid.uuid4(), 1) == []
    state = await queue.get(job_id)
    assert state is not None and state.finished_at is not None


async def test_cancelling_a_running_job_tells_its_worker_and_ends_it_cancelled(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    [job_id] = await queue.enqueue(user, [job_for(await seed_dataset(pool, user))])
    worker = uuid.uuid4()
    [job] = await queue.claim(worker, 1)
    lease = Lease(job.id, job.lease_token)

    assert await queue.cancel([job_id]) == {job_id: "running"}
    reply = await queue.heartbeat(worker, [lease])
    assert reply.cancel_requested == {job_id}

    assert await queue.complete([JobOutcome(lease=lease, metrics={}, equity_curve=[], trades=[])]) == {
        job_id: "cancelled"
    }
    assert await queue.get_result(job_id) is None


async def test_a_user_cannot_cancel_another_users_job(queue: JobQueue, pool) -> None:
    owner = await seed_user(pool)
    stranger = await seed_user(pool)
    [job_id] = await queue.enqueue(owner, [job_for(await seed_dataset(pool, owner))])

    assert await queue.cancel([job_id], owner_id=stranger) == {}
    assert (await queue.get(job_id)).status == "pending"  # type: ignore[union-attr]


async def test_cancelling_a_bundle_cancels_pending_and_flags_running_children(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    bundle_id = await seed_bundle(pool, user, 5)
    ids = await queue.enqueue(user, [job_for(dataset)] * 5, bundle_id=bundle_id)
    [running] = await queue.claim(uuid.uuid4(), 1)

    statuses = await queue.cancel_bundle(bundle_id)

    assert statuses[running.id] == "running"
    assert sorted(statuses.values()).count("cancelled") == 4
    assert set(statuses) == set(ids)
