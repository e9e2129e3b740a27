"""Every transition the lifecycle declares, walked through the real statements; nothing else happens."""

from __future__ import annotations

import uuid

import pytest

from backtest_shared.jobs.lifecycle import TRANSITIONS
from backtest_shared.jobs.lifecycle import JobStatus
from backtest_shared.jobs.lifecycle import Transition
from backtest_shared.jobs.lifecycle import allowed
from backtest_shared.jobs.lifecycle import may_retry
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user

P, R, S, F, C = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


async def test_each_declared_transition_happens_through_its_statement(
    queue: JobQueue, pool, clock: DatabaseClock
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    walked: set[tuple[JobStatus | None, JobStatus, Transition]] = set()
    walked_leases: list[uuid.UUID] = []

    async def status(job_id: uuid.UUID) -> JobStatus:
        state = await queue.get(job_id)
        assert state is not None
        return JobStatus(state.status)

    async def running(*, max_attempts: int = 3, cancel: bool = False) -> Lease:
        # Ahead of every job handed back earlier: this claim must take this job.
        priority = len(walked_leases)
        [job_id] = await queue.enqueue(user, [job_for(dataset)], max_attempts=max_attempts, priority=priority)
        walked_leases.append(job_id)
        walked.add((None, P, Transition.SUBMIT))
        [job] = await queue.claim(uuid.uuid4(), 1)
        assert job.id == job_id
        walked.add((P, R, Transition.CLAIM))
        if cancel:
            assert await queue.cancel([job_id]) == {job_id: "running"}
        return Lease(job.id, job.lease_token)

    async def expect(lease: Lease, to: JobStatus, by: Transition) -> None:
        assert await status(lease.job_id) == to, (by, to)
        walked.add((R, to, by))

    lease = await running()
    await queue.complete([outcome_for(await _claimed(queue, lease))])
    await expect(lease, S, Transition.COMPLETE)
    lease = await running(cancel=True)
    await queue.complete([outcome_for(await _claimed(queue, lease))])
    await expect(lease, C, Transition.COMPLETE)

    lease = await running()
    assert await queue.fail(lease, "boom", retry=True) == "pending"
    await expect(lease, P, Transition.RETRY)
    lease = await running()
    assert await queue.fail(lease, "bad input", retry=False) == "failed"
    await expect(lease, F, Transition.FAIL)
    lease = await running(cancel=True)
    assert await queue.fail(lease, "boom", retry=True) == "cancelled"
    await expect(lease, C, Transition.FAIL)

    lease = await running()
    await queue.release([lease])
    await expect(lease, P, Transition.RELEASE)
    lease = await running(cancel=True)
    await queue.release([lease])
    await expect(lease, C, Transition.RELEASE)

    for max_attempts, cancel, to in ((3, False, P), (1, False, F), (3, True, C)):
        lease = await running(max_attempts=max_attempts, cancel=cancel)
        await clock.expire_leases(jobs=[lease.job_id])
        assert (await queue.reap_expired())[lease.job_id] == to
        await expect(lease, to, Transition.REAP)

    [waiting] = await queue.enqueue(user, [job_for(dataset)])
    await queue.cancel([waiting])
    assert await status(waiting) == C
    walked.add((P, C, Transition.CANCEL))

    finished = job_for(dataset)
    _, reused = await queue.enqueue_reusing(user, [finished])
    assert reused and await status(next(iter(reused))) == S
    walked.add((None, S, Transition.REUSE))

    declared = {(before, after, event) for (before, after), events in TRANSITIONS.items() for event in events}
    assert walked == declared


async def _claimed(queue: JobQueue, lease: Lease) -> ClaimedJob:
    """The claim behind ``lease``, as the worker holding it knows it."""
    state = await queue.get(lease.job_id)
    assert state is not None
    return ClaimedJob(
        id=state.id,
        lease_token=lease.token,
        attempt=state.attempts,
        max_attempts=state.max_attempts,
        owner_id=state.owner_id,
        bundle_id=None,
        dataset_id=state.dataset_id,
        config_json="{}",
        timeout_seconds=state.timeout_seconds,
    )


@pytest.mark.parametrize("status", list(JobStatus))
def test_no_job_leaves_a_final_state_and_every_status_is_reachable(status: JobStatus) -> None:
    assert any(after == status for (_, after) in TRANSITIONS)
    if status.is_final:
        assert not any(before == status for (before, _) in TRANSITIONS)
        assert not any(allowed(status, other) for other in JobStatus if other != status)


def test_attempts_are_retried_exactly_while_some_remain() -> None:
    assert [may_retry(attempts, 3) for attempts in range(5)] == [True, True, True, False, False]
