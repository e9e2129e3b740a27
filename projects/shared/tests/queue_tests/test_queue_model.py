"""The real queue statements, driven by Hypothesis, checked against a plain model after every step.

Users submit singles, concurrent singles and bundles at several priorities;
workers claim, complete, fail, heartbeat, release and lose their leases; the
reaper reaps; users cancel; operators delete datasets and users. After every
step each job's status, attempts and cancel flag must equal the model's, and
the structural invariants (``queue_audit``) must hold. No statement may raise.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test
from psycopg_pool import AsyncConnectionPool

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.lifecycle import JobStatus
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import PendingLimitExceededError
from backtest_shared.jobs.repository import QueueSettings
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from queue_tests.queue_audit import invariant_violations
from queue_tests.queue_audit import stored_jobs
from queue_tests.queue_model import QueueModel

T = TypeVar("T")

USERS = 3
WORKERS = 2
#: User 0 may run one job at a time; user 1 may have five waiting.
RUNNING_CAP = 1
PENDING_LIMIT = 5

priorities = st.sampled_from([0, 0, 0, 5])
attempts = st.integers(min_value=1, max_value=3)
user_index = st.integers(min_value=0, max_value=USERS - 1)
worker_index = st.integers(min_value=0, max_value=WORKERS - 1)

RESET = """
TRUNCATE users, api_keys, datasets, bundles, backtest_jobs, job_queue, job_results, job_finish_log, workers CASCADE
"""
DELETE_DATASET = """
DELETE FROM datasets WHERE id = %(id)s AND NOT EXISTS (SELECT 1 FROM backtest_jobs WHERE dataset_id = %(id)s)
RETURNING id
"""


class QueueMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    pool: AsyncConnectionPool[Any]

    def __init__(self) -> None:
        super().__init__()
        self.queue = JobQueue(
            self.pool,
            QueueSettings(lease_seconds=60.0, retry_backoff_base_seconds=600.0, retry_backoff_cap_seconds=3600.0),
        )
        self.clock = DatabaseClock(self.pool)
        self.run(self._sql(RESET))
        self.users: list[uuid.UUID] = []
        self.datasets: dict[uuid.UUID, Any] = {}
        for index in range(USERS):
            self._new_user(index)
        self.model = QueueModel(caps={self.users[0]: RUNNING_CAP})
        self.workers = [uuid.uuid4() for _ in range(WORKERS)]
        #: What each worker believes it holds: job -> lease token (stale after a reap).
        self.holding: dict[uuid.UUID, dict[uuid.UUID, int]] = {w: {} for w in self.workers}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def _sql(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, params or {})
            return await cur.fetchall() if cur.description else []

    def _new_user(self, index: int) -> None:
        limits: dict[int, dict[str, Any]] = {
            0: {"max_running_jobs": RUNNING_CAP},
            1: {"max_pending_jobs": PENDING_LIMIT},
        }
        user = self.run(seed_user(self.pool, **limits.get(index, {})))
        dataset = self.run(seed_dataset(self.pool, user, n_bars=100))
        if index < len(self.users):
            self.users[index] = user
        else:
            self.users.append(user)
        self.datasets[user] = dataset

    def _job(self, user: uuid.UUID) -> Any:
        # Identical configs: every submit here passes reuse=False, so each one runs.
        return job_for(self.datasets[user])

    def _max_pending(self, user: uuid.UUID) -> int | None:
        return PENDING_LIMIT if user == self.users[1] else None

    # -- submits -----------------------------------------------------------

    @rule(user=user_index, priority=priorities, max_attempts=attempts, n=st.integers(1, 3))
    def submit(self, user: int, priority: int, max_attempts: int, n: int) -> None:
        owner = self.users[user]
        limit = self._max_pending(owner)
        try:
            ids = self.run(
                self.queue.enqueue(
                    owner,
                    [self._job(owner) for _ in range(n)],
                    priority=priority,
                    max_attempts=max_attempts,
                    max_pending=limit,
                )
            )
        except PendingLimitExceededError:
            assert limit is not None and self.model.pending_count(owner) + n > limit
            return
        assert limit is None or self.model.pending_count(owner) + n <= limit
        self.model.submitted(ids, owner, priority, max_attempts)

    @rule(submits=st.lists(st.tuples(user_index, priorities), min_size=1, max_size=4))
    def submit_concurrently(self, submits: list[tuple[int, int]]) -> None:
        singles = [
            SingleSubmit(
                id=uuid.uuid4(),
                owner_id=self.users[u],
                job=self._job(self.users[u]),
                priority=p,
                max_pending=self._max_pending(self.users[u]),
                reuse=False,
            )
            for u, p in submits
        ]
        outcomes = self.run(self.queue.enqueue_each(singles))
        assert [o.id for o in outcomes] == [s.id for s in singles]
        admitted: dict[uuid.UUID, int] = {}
        for single, outcome in zip(singles, outcomes, strict=True):
            owner = single.owner_id
            room = (single.max_pending or 10**9) - self.model.pending_count(owner) - admitted.get(owner, 0)
            # Each owner's submits are admitted in order while they fit under the limit.
            expected = "queued" if room > 0 else "limited"
            assert outcome.status == expected, (outcome.status, expected)
            if expected == "queued":
                admitted[owner] = admitted.get(owner, 0) + 1
        for single, outcome in zip(singles, outcomes, strict=True):
            if outcome.status == "queued":
                self.model.submitted([single.id], single.owner_id, single.priority, single.max_attempts)

    @rule(user=user_index, priority=priorities, n=st.integers(1, 6))
    def submit_bundle(self, user: int, priority: int, n: int) -> None:
        owner = self.users[user]
        bundle = uuid.uuid4()
        limit = self._max_pending(owner)
        try:
            ids, _ = self.run(
                self.queue.create_bundle(
                    owner,
                    bundle,
                    [self._job(owner) for _ in range(n)],
                    name=None,
                    rank_by="sharpe",
                    request={},
                    priority=priority,
                    max_pending=limit,
                    reuse=False,
                )
            )
        except PendingLimitExceededError:
            assert limit is not None and self.model.pending_count(owner) + n > limit
            return
        self.model.submitted(ids, owner, priority, 3, bundle)

    # -- workers -----------------------------------------------------------

    def _claimed(self, worker: uuid.UUID, jobs: list[Any], limit: int) -> None:
        keys = {job_id: stored.fair_key for job_id, stored in self.run(stored_jobs(self.pool)).items()}
        self.model.check_claim([(job.id, job.attempt) for job in jobs], limit, keys)
        for job in jobs:
            self.model.claimed(job.id, worker, job.lease_token)
            self.holding[worker][job.id] = job.lease_token

    @rule(worker=worker_index, limit=st.integers(1, 4))
    def claim(self, worker: int, limit: int) -> None:
        worker_id = self.workers[worker]
        self._claimed(worker_id, self.run(self.queue.claim(worker_id, limit)), limit)

    @rule(worker=worker_index, limit=st.integers(1, 4), position=st.integers(0, 63))
    def claim_siblings(self, worker: int, limit: int, position: int) -> None:
        """More children of some bundle's job, as a worker batching a sweep claims them."""
        bundled = [i for i, job in self.model.jobs.items() if job.bundle is not None]
        if not bundled:
            return
        anchor_id = bundled[position % len(bundled)]
        anchor = self.model.jobs[anchor_id]
        like = ClaimedJob(
            id=anchor_id,
            lease_token=0,
            attempt=anchor.attempts,
            max_attempts=anchor.max_attempts,
            owner_id=anchor.owner,
            bundle_id=anchor.bundle,
            dataset_id=self.datasets[anchor.owner].id,
            config_json="{}",
            timeout_seconds=60,
            priority=anchor.priority,
        )
        worker_id = self.workers[worker]
        jobs = self.run(self.queue.claim_siblings(worker_id, like, limit))
        keys = {job_id: stored.fair_key for job_id, stored in self.run(stored_jobs(self.pool)).items()}
        self.model.check_sibling_claim(anchor_id, [(job.id, job.attempt) for job in jobs], limit, keys)
        for job in jobs:
            assert job.bundle_id == anchor.bundle and job.priority == anchor.priority
            self.model.claimed(job.id, worker_id, job.lease_token)
            self.holding[worker_id][job.id] = job.lease_token

    def _writes(self, worker_id: uuid.UUID, data: st.DataObject, most: int = 4) -> list[tuple[uuid.UUID, int]]:
        """Some of the jobs the worker believes it holds, which it now writes (and forgets).

        Drawn as positions, not from the held set itself: which jobs a claim took
        among equals is the database's choice, and draws must not depend on it.
        """
        positions = data.draw(st.lists(st.integers(0, 63), max_size=most))
        held = list(self.holding[worker_id].items())
        chosen = list(dict.fromkeys(held[p % len(held)] for p in positions)) if held else []
        for job_id, _ in chosen:
            del self.holding[worker_id][job_id]
        return chosen

    @rule(worker=worker_index, limit=st.integers(0, 3), data=st.data())
    def complete_and_claim(self, worker: int, limit: int, data: st.DataObject) -> None:
        worker_id = self.workers[worker]
        done = self._writes(worker_id, data)
        outcomes = [JobOutcome(lease=Lease(i, t), metrics={"sharpe": 1.0}, equity_curve=[], trades=[]) for i, t in done]
        expected = {i: self.model.jobs[i] for i, t in done if self.model.held(i, t)}
        finished, claimed = self.run(self.queue.complete_and_claim(outcomes, worker_id, limit))
        assert set(finished) == set(expected), "a completion reached a job its lease no longer held, or missed one"
        for job_id, status in finished.items():
            assert status == self.model.complete(job_id)
        self._claimed(worker_id, claimed, limit)

    @rule(worker=worker_index, retry=st.booleans(), data=st.data())
    def fail(self, worker: int, retry: bool, data: st.DataObject) -> None:
        worker_id = self.workers[worker]
        for job_id, token in self._writes(worker_id, data, most=1):
            status = self.run(self.queue.fail(Lease(job_id, token), "boom", retry=retry))
            if self.model.held(job_id, token):
                assert status == self.model.fail(job_id, retry)
            else:
                assert status is None, "a failure reached a job its lease no longer held"

    @rule(worker=worker_index)
    def heartbeat(self, worker: int) -> None:
        worker_id = self.workers[worker]
        leases = [Lease(i, t) for i, t in self.holding[worker_id].items()]
        reply = self.run(self.queue.heartbeat(worker_id, leases))
        assert reply.held == {lease.job_id for lease in leases if self.model.held(lease.job_id, lease.token)}
        assert reply.cancel_requested == {i for i in reply.held if self.model.jobs[i].cancel_requested}
        for job_id in reply.held:
            self.model.jobs[job_id].lease_expired = False
        self.holding[worker_id] = {i: t for i, t in self.holding[worker_id].items() if i in reply.held}

    @rule(worker=worker_index)
    def release_on_shutdown(self, worker: int) -> None:
        worker_id = self.workers[worker]
        leases = [Lease(i, t) for i, t in self.holding[worker_id].items()]
        self.holding[worker_id] = {}
        expected = {lease.job_id for lease in leases if self.model.held(lease.job_id, lease.token)}
        released = self.run(self.queue.release(leases))
        assert set(released) == expected
        for job_id, status in released.items():
            assert status == self.model.release(job_id)

    @rule(worker=worker_index)
    def lease_expires(self, worker: int) -> None:
        worker_id = self.workers[worker]
        self.run(self.clock.expire_leases(worker=worker_id))
        for job in self.model.jobs.values():
            if job.status is JobStatus.RUNNING and job.worker == worker_id:
                job.lease_expired = True

    @rule()
    def reap(self) -> None:
        reaped = self.run(self.queue.reap_expired())
        expected = {i for i, j in self.model.jobs.items() if j.status is JobStatus.RUNNING and j.lease_expired}
        assert set(reaped) == expected
        for job_id, status in reaped.items():
            assert status == self.model.reap(job_id)

    @rule()
    def time_passes(self) -> None:
        self.run(self.clock.end_backoffs())
        for job in self.model.jobs.values():
            job.runnable = True

    # -- users and operators -------------------------------------------------

    @precondition(lambda self: bool(self.model.jobs))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        jobs = list(self.model.jobs)
        job_id = jobs[data.draw(st.integers(0, 1023)) % len(jobs)]
        owner = self.model.jobs[job_id].owner
        reported = self.run(self.queue.cancel([job_id], owner_id=owner))
        expected = self.model.cancel(job_id)
        assert reported == ({} if expected is None else {job_id: expected})

    @precondition(lambda self: any(j.bundle for j in self.model.jobs.values()))
    @rule(data=st.data())
    def cancel_bundle(self, data: st.DataObject) -> None:
        bundles = list(dict.fromkeys(j.bundle for j in self.model.jobs.values() if j.bundle))
        bundle = bundles[data.draw(st.integers(0, 1023)) % len(bundles)]
        members = [i for i, j in self.model.jobs.items() if j.bundle == bundle]
        reported = self.run(self.queue.cancel_bundle(bundle))
        expected = {i: s for i in members if (s := self.model.cancel(i)) is not None}
        assert reported == expected

    @rule(user=user_index)
    def delete_dataset(self, user: int) -> None:
        owner = self.users[user]
        deleted = self.run(self._sql(DELETE_DATASET, {"id": self.datasets[owner].id}))
        assert bool(deleted) == (not self.model.of(owner, *JobStatus))
        if deleted:
            self.datasets[owner] = self.run(seed_dataset(self.pool, owner, n_bars=100))

    @rule(user=user_index)
    def delete_user(self, user: int) -> None:
        owner = self.users[user]
        self.run(self._sql("DELETE FROM users WHERE id = %(id)s", {"id": owner}))
        self.model.forget_owner(owner)
        if owner in self.model.caps:
            del self.model.caps[owner]
        self._new_user(user)
        if user == 0:
            self.model.caps[self.users[0]] = RUNNING_CAP

    # -- after every step ----------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        stored = self.run(stored_jobs(self.pool))
        assert set(stored) == set(self.model.jobs)
        for job_id, job in self.model.jobs.items():
            row = stored[job_id]
            assert (row.status, row.attempts, row.cancel_requested) == (
                job.status,
                job.attempts,
                job.cancel_requested,
            ), job_id
            if job.status is JobStatus.RUNNING:
                assert row.lease_token == job.token

    @invariant()
    def structural_invariants_hold(self) -> None:
        assert self.run(invariant_violations(self.pool)) == []


def test_the_queue_behaves_like_its_model_under_any_interleaving(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(open_pool(database_url, min_size=1, max_size=2))
    QueueMachine.loop = loop
    QueueMachine.pool = pool
    try:
        run_state_machine_as_test(
            QueueMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        loop.run_until_complete(pool.close())
        loop.close()
