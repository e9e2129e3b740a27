import asyncio
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from backtest_compute.worker import Worker
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import all_final
from compute_tests.helpers import fast_settings
from compute_tests.helpers import fetchall
from compute_tests.helpers import running_worker
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import status_counts
from compute_tests.helpers import wait_until


async def test_queued_jobs_all_succeed_with_their_results_stored_once(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=300)
    job_ids = await queue.enqueue(user, [job_for(dataset)] * 40)

    async with running_worker(fast_settings(database_url, concurrency=2)) as worker:
        await wait_until(lambda: all_final(pool), timeout=60)

    assert await status_counts(pool) == {"succeeded": 40}
    [[results, distinct]] = await fetchall(pool, "SELECT count(*), count(DISTINCT job_id) FROM job_results")
    assert results == distinct == 40
    result = await queue.get_result(job_ids[0])
    assert result is not None and "sharpe" in result.metrics and result.equity_curve
    assert worker.stats.finished == {"succeeded": 40}
    assert 1 <= worker.stats.max_busy <= 2


async def test_a_worker_holds_at_most_one_job_ahead_per_slot_and_runs_one_per_slot(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=20_000)
    await queue.enqueue(user, [job_for(dataset, slow_strategy(3))] * 12)
    samples: list[int] = []

    async with running_worker(fast_settings(database_url, concurrency=2)) as worker:

        async def sample() -> bool:
            [[running]] = await fetchall(
                pool,
                "SELECT count(*) FROM backtest_jobs WHERE status = 'running' AND worker_id = %(w)s",
                {"w": worker.worker_id},
            )
            samples.append(running)
            return await all_final(pool)

        await wait_until(sample, timeout=90, interval=0.02)

    # Short jobs are claimed one ahead per slot (slot_run), never more.
    assert 2 <= max(samples) <= 4
    assert worker.stats.max_busy == 2
    assert await status_counts(pool) == {"succeeded": 12}


async def test_worker_registers_itself_and_deregisters_on_clean_exit(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = fast_settings(database_url, concurrency=1)
    async with running_worker(settings) as worker:
        await asyncio.sleep(1.0)
        [[name, slots, stopped, pid, version]] = await fetchall(
            pool,
            "SELECT name, slots, stopped_at, pid, version FROM workers WHERE id = %(id)s",
            {"id": worker.worker_id},
        )
        assert (name, slots, stopped) == (settings.name, 1, None)
        assert pid > 0 and version
    [[stopped]] = await fetchall(pool, "SELECT stopped_at FROM workers WHERE id = %(id)s", {"id": worker.worker_id})
    assert stopped is not None


async def test_progress_of_a_long_backtest_is_written_while_it_runs(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=50_000)
    [job_id] = await queue.enqueue(user, [job_for(dataset, slow_strategy(40))])
    seen: list[float] = []

    async with running_worker(fast_settings(database_url, concurrency=1)):

        async def progressed() -> bool:
            state = await queue.get(job_id)
            assert state is not None
            if state.status == "running":
                seen.append(state.progress)
            return state.status == "succeeded"

        await wait_until(progressed, timeout=60, interval=0.1)

    assert any(0 < p < 1 for p in seen), seen


class _BrokenProgressWorker(Worker):
    async def _progress_loop(self) -> None:
        await asyncio.sleep(1.0)
        raise RuntimeError("boom")


class _DeafHeartbeatWorker(_BrokenProgressWorker):
    """Its heartbeat loop ignores the first cancellation, as a lost cancel looks from outside."""

    async def _heartbeat_loop(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(3600)


@pytest.mark.parametrize(
    "worker_class",
    [
        pytest.param(_BrokenProgressWorker, id="side-tasks-stop-when-cancelled"),
        # Regression, CI 2026-12-02: a worker stopping after a fatal error hung 30 s in
        # the gather of its cancelled side tasks, one of which outlived its cancel.
        pytest.param(_DeafHeartbeatWorker, id="regression-a-side-task-loses-its-first-cancel"),
    ],
)
async def test_worker_stops_with_a_nonzero_exit_when_one_of_its_tasks_dies_and_releases_its_jobs(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str, worker_class: type[Worker]
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    [job_id] = await queue.enqueue(user, [job_for(dataset, slow_strategy(80))])
    worker = worker_class(fast_settings(database_url, concurrency=1))

    async with asyncio.timeout(30):
        exit_code = await worker.run()

    assert exit_code == 1
    state = await queue.get(job_id)
    assert state is not None and state.status == "pending" and state.attempts == 0


class _StuckHeartbeatWorker(_BrokenProgressWorker):
    """Its heartbeat loop refuses every cancellation until the test lets it go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.let_go = asyncio.Event()

    async def _heartbeat_loop(self) -> None:
        while not self.let_go.is_set():
            try:
                await self.let_go.wait()
            except asyncio.CancelledError:
                pass


async def test_a_side_task_that_never_ends_is_logged_and_left_behind_so_the_worker_still_exits(
    pool: AsyncConnectionPool, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = _StuckHeartbeatWorker(fast_settings(database_url, concurrency=1))

    run = asyncio.create_task(worker.run())
    done, _ = await asyncio.wait({run}, timeout=30)
    worker.let_go.set()

    assert run in done, "the worker did not exit"
    assert run.result() == 1
    [stuck] = [r for r in caplog.records if r.getMessage() == "task.stuck"]
    assert stuck.fields["task"] == "heartbeat"  # type: ignore[attr-defined]
    assert any("_heartbeat_loop" in place for place in stuck.fields["awaiting"])  # type: ignore[attr-defined]
    [[stopped]] = await fetchall(pool, "SELECT stopped_at FROM workers WHERE id = %(id)s", {"id": worker.worker_id})
    assert stopped is not None
