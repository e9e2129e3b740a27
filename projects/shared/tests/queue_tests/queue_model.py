"""A plain-Python model of the job lifecycle, for the model-based queue test.

The model knows what each statement must do to each job (from
``backtest_shared.jobs.lifecycle``) but nothing of keys, indexes or SQL. The
test applies every operation to both the database and the model and then
compares them; where the queue may choose (which jobs a claim takes), the model
checks that the choice was a legal one: runnable, in priority order, within
caps, and fair to a user who just arrived.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from backtest_shared.jobs.lifecycle import FINAL_STATUSES
from backtest_shared.jobs.lifecycle import JobStatus
from backtest_shared.jobs.lifecycle import Transition
from backtest_shared.jobs.lifecycle import allowed
from backtest_shared.jobs.lifecycle import may_retry


@dataclass
class ModelJob:
    owner: uuid.UUID
    priority: int
    max_attempts: int
    bundle: uuid.UUID | None = None
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    cancel_requested: bool = False
    token: int | None = None
    worker: uuid.UUID | None = None
    #: Claimable now: False while a retry's backoff runs (until time passes).
    runnable: bool = True
    lease_expired: bool = False


@dataclass
class Watch:
    """A user's first job, submitted with nothing of theirs queued: others' first
    attempts claimed ahead of it, per user (at most one each)."""

    job: uuid.UUID
    ahead: Counter[uuid.UUID] = field(default_factory=Counter)


class QueueModel:
    """What the queue's state must be after each operation."""

    def __init__(self, caps: dict[uuid.UUID, int]) -> None:
        self.jobs: dict[uuid.UUID, ModelJob] = {}
        self.caps = caps
        self.watches: dict[uuid.UUID, Watch] = {}

    # -- helpers ---------------------------------------------------------

    def move(self, job_id: uuid.UUID, to: JobStatus, by: Transition) -> None:
        job = self.jobs[job_id]
        assert allowed(job.status, to), f"{job.status} -> {to} is not a transition"
        job.status = to
        if to is not JobStatus.RUNNING:
            job.token = None
            job.worker = None
            job.lease_expired = False
        if to is JobStatus.PENDING and by is not Transition.SUBMIT:
            # A job back in the queue keeps its old place: fairness to newcomers
            # is then measured from a different head, so watches end here.
            self.watches.clear()
        if to in FINAL_STATUSES or to is JobStatus.RUNNING:
            self.watches.pop(job_id, None)

    def of(self, owner: uuid.UUID, *statuses: JobStatus) -> list[uuid.UUID]:
        return [i for i, j in self.jobs.items() if j.owner == owner and j.status in statuses]

    def pending_count(self, owner: uuid.UUID) -> int:
        return len(self.of(owner, JobStatus.PENDING))

    def running_count(self, owner: uuid.UUID) -> int:
        return len(self.of(owner, JobStatus.RUNNING))

    def runnable_pending(self) -> list[uuid.UUID]:
        return [i for i, j in self.jobs.items() if j.status is JobStatus.PENDING and j.runnable]

    # -- submits -----------------------------------------------------------

    def submitted(
        self, ids: list[uuid.UUID], owner: uuid.UUID, priority: int, max_attempts: int, bundle: uuid.UUID | None = None
    ) -> None:
        """Jobs entered the queue; a newcomer's first one is watched for fairness."""
        newcomer = not self.of(owner, JobStatus.PENDING, JobStatus.RUNNING)
        outranked = any(j.status is JobStatus.PENDING and j.priority > priority for j in self.jobs.values())
        for job_id in ids:
            self.jobs[job_id] = ModelJob(owner, priority, max_attempts, bundle)
        if ids and newcomer and not outranked:
            self.watches[ids[0]] = Watch(ids[0])

    # -- claims ------------------------------------------------------------

    def check_claim(self, claimed: list[tuple[uuid.UUID, int]], limit: int, keys: dict[uuid.UUID, int]) -> None:
        """Assert that a claim of ``claimed`` (id, attempt) was a legal choice, then apply it."""
        runnable = self.runnable_pending()
        ids = [job_id for job_id, _ in claimed]
        assert len(ids) <= limit
        for job_id, attempt in claimed:
            job = self.jobs.get(job_id)
            assert job is not None, f"claimed unknown job {job_id}"
            assert job_id in runnable, f"claimed job {job_id} was {job.status}, runnable={job.runnable}"
            assert attempt == job.attempts + 1
        capped_waiting = any(self.jobs[i].owner in self.caps for i in runnable)
        if not capped_waiting:
            assert len(ids) == min(limit, len(runnable)), "a claim left runnable jobs it had room for"
        if ids:
            lowest_taken = min(self.jobs[i].priority for i in ids)
            for job_id in runnable:
                job = self.jobs[job_id]
                if job_id not in ids and job.owner not in self.caps:
                    assert job.priority <= lowest_taken, "a claim passed over a higher-priority job"
        self._count_fairness(ids, keys)
        for job_id in ids:
            job = self.jobs[job_id]
            job.attempts += 1
        for owner, cap in self.caps.items():
            running_after = self.running_count(owner) + sum(1 for i in ids if self.jobs[i].owner == owner)
            assert running_after <= cap, f"owner {owner} runs {running_after} jobs, cap {cap}"

    def check_sibling_claim(
        self, anchor_id: uuid.UUID, claimed: list[tuple[uuid.UUID, int]], limit: int, keys: dict[uuid.UUID, int]
    ) -> None:
        """Assert that a sibling claim took exactly the jobs it must, then apply it.

        With one session there is nothing to skip, so the choice is exact: of the
        owner's next ``4 * limit`` runnable jobs in fair order, those of the
        anchor's bundle at its priority, as many as the limit and the owner's
        cap allow, and none while a job of higher priority waits.
        """
        anchor = self.jobs[anchor_id]
        runnable = self.runnable_pending()
        expected: list[uuid.UUID] = []
        if not any(self.jobs[i].priority > anchor.priority for i in runnable):
            window = sorted((i for i in runnable if self.jobs[i].owner == anchor.owner), key=keys.__getitem__)
            window = window[: 4 * limit]
            siblings = [
                i for i in window if self.jobs[i].bundle == anchor.bundle and self.jobs[i].priority == anchor.priority
            ]
            room = limit
            if anchor.owner in self.caps:
                room = min(room, max(self.caps[anchor.owner] - self.running_count(anchor.owner), 0))
            expected = siblings[:room]
        ids = [job_id for job_id, _ in claimed]
        assert sorted(ids, key=str) == sorted(expected, key=str), "a sibling claim took other jobs than it must"
        for job_id, attempt in claimed:
            job = self.jobs[job_id]
            assert attempt == job.attempts + 1
            job.attempts += 1

    def _count_fairness(self, ids: list[uuid.UUID], keys: dict[uuid.UUID, int]) -> None:
        for watch in list(self.watches.values()):
            watched = self.jobs[watch.job]
            for job_id in ids:
                job = self.jobs[job_id]
                if job_id == watch.job:
                    continue
                if job.owner == watched.owner:
                    # Its owner's own job went first (a higher priority): the
                    # watched job may then wait for its owner's cap, by design.
                    self.watches.pop(watch.job, None)
                    break
                same_round_behind = watch.job in ids and keys[job_id] >= keys[watch.job]
                if job.priority == watched.priority and job.attempts == 0 and not same_round_behind:
                    watch.ahead[job.owner] += 1
                    assert watch.ahead[job.owner] <= 1, (
                        f"user {job.owner} had {watch.ahead[job.owner]} jobs claimed before the first job of "
                        f"user {watched.owner}, who had nothing queued when submitting it"
                    )

    def claimed(self, job_id: uuid.UUID, worker: uuid.UUID, token: int) -> None:
        self.move(job_id, JobStatus.RUNNING, Transition.CLAIM)
        job = self.jobs[job_id]
        job.token = token
        job.worker = worker

    # -- a worker's writes -------------------------------------------------

    def held(self, job_id: uuid.UUID, token: int) -> bool:
        """Whether a write naming this lease still reaches the job."""
        job = self.jobs.get(job_id)
        return job is not None and job.status is JobStatus.RUNNING and job.token == token

    def complete(self, job_id: uuid.UUID) -> JobStatus:
        job = self.jobs[job_id]
        to = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
        self.move(job_id, to, Transition.COMPLETE)
        return to

    def fail(self, job_id: uuid.UUID, retry: bool) -> JobStatus:
        job = self.jobs[job_id]
        if job.cancel_requested:
            to = JobStatus.CANCELLED
        elif retry and may_retry(job.attempts, job.max_attempts):
            to = JobStatus.PENDING
        else:
            to = JobStatus.FAILED
        self.move(job_id, to, Transition.RETRY if to is JobStatus.PENDING else Transition.FAIL)
        job.runnable = to is not JobStatus.PENDING  # a retry waits out its backoff
        return to

    def release(self, job_id: uuid.UUID) -> JobStatus:
        job = self.jobs[job_id]
        to = JobStatus.CANCELLED if job.cancel_requested else JobStatus.PENDING
        job.attempts -= 1  # a release burns no attempt, whatever becomes of the job
        self.move(job_id, to, Transition.RELEASE)
        job.runnable = True
        return to

    def reap(self, job_id: uuid.UUID) -> JobStatus:
        job = self.jobs[job_id]
        if job.cancel_requested:
            to = JobStatus.CANCELLED
        elif may_retry(job.attempts, job.max_attempts):
            to = JobStatus.PENDING
        else:
            to = JobStatus.FAILED
        self.move(job_id, to, Transition.REAP)
        job.runnable = to is not JobStatus.PENDING
        return to

    # -- users' other actions ----------------------------------------------

    def cancel(self, job_id: uuid.UUID) -> JobStatus | None:
        """The status a cancel reports for the job (None: already final, not reported)."""
        job = self.jobs[job_id]
        if job.status in FINAL_STATUSES:
            return None
        job.cancel_requested = True
        if job.status is JobStatus.PENDING:
            self.move(job_id, JobStatus.CANCELLED, Transition.CANCEL)
        return job.status

    def forget_owner(self, owner: uuid.UUID) -> None:
        for job_id in [i for i, j in self.jobs.items() if j.owner == owner]:
            del self.jobs[job_id]
            self.watches.pop(job_id, None)
