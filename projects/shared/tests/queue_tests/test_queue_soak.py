"""Several processes hammer the queue with random operations; afterwards every invariant holds.

Each process is a worker that also submits (singles, concurrent singles,
bundles) and cancels for the same shared users, claims, completes, fails,
heartbeats, releases, lets its leases expire and reaps. No statement may raise,
and the audit afterwards finds nothing; draining what is left then finishes
every job exactly once.
"""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor

import msgspec

from backtest_shared.jobs.lifecycle import FINAL_STATUSES
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from queue_tests.queue_audit import invariant_violations
from queue_tests.queue_audit import stored_jobs
from queue_tests.queue_soak import soak

PROCESSES = 4
SECONDS = 8.0


async def test_random_operations_from_four_processes_break_no_invariant(
    queue: JobQueue, pool, database_url, clock: DatabaseClock
) -> None:
    users: list[tuple[str, str]] = []
    for index in range(5):
        owner = await seed_user(pool, max_running_jobs=2 if index == 0 else None)
        dataset = await seed_dataset(pool, owner, n_bars=100)
        users.append((str(owner), msgspec.json.encode(job_for(dataset).config.to_json_dict()).decode()))

    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=multiprocessing.get_context("spawn")) as executor:
        futures = [executor.submit(soak, database_url, users, SECONDS, seed) for seed in range(PROCESSES)]
        reports = [future.result(timeout=SECONDS + 120) for future in futures]

    assert [error for report in reports for error in report["errors"]] == []
    assert sum(report["ops"].get("claim", 0) for report in reports) > 0
    assert await invariant_violations(pool) == []

    # Whatever was left running or waiting still finishes, each job exactly once.
    await clock.expire_leases()
    await queue.reap_expired(limit=100_000)
    await clock.end_backoffs()
    worker = uuid.uuid4()
    while claimed := await queue.claim(worker, 500):
        await queue.complete(
            [JobOutcome(lease=Lease(j.id, j.lease_token), metrics={}, equity_curve=[], trades=[]) for j in claimed]
        )
    assert {job.status for job in (await stored_jobs(pool)).values()} <= FINAL_STATUSES
    assert await invariant_violations(pool) == []
