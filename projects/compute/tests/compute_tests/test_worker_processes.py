"""Real worker processes against real PostgreSQL: kill -9, SIGTERM."""

import asyncio
import json
import os
import signal
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from psycopg_pool import AsyncConnectionPool

from backtest_compute.processes import BacktestProcess
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import all_final
from compute_tests.helpers import fetchall
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import start_worker_process
from compute_tests.helpers import status_counts
from compute_tests.helpers import wait_until


def events(log_path: Path, name: str) -> list[dict]:
    """The complete log records of one event: a SIGKILLed worker can leave its last line half-written."""
    text = log_path.read_text()
    lines = []
    for line in text[: text.rfind("\n") + 1].splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == name:
                lines.append(record)
    return lines


async def wait_started(log_path: Path, timeout: float = 30) -> None:
    async def started() -> bool:
        return bool(log_path.exists() and events(log_path, "worker.started"))

    try:
        await wait_until(started, timeout=timeout)
    except AssertionError:
        output = log_path.read_text() if log_path.exists() else "(no output)"
        raise AssertionError(f"the worker did not start:\n{output[-3000:]}") from None


async def test_killed_worker_jobs_are_reclaimed_and_every_job_succeeds_exactly_once(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    lease = 2.0
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=10_000)
    job_ids = await queue.enqueue(user, [job_for(dataset, slow_strategy(1))] * 500)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    victim, survivor = (start_worker_process(database_url, str(path), lease_seconds=lease) for path in logs)
    try:
        await asyncio.gather(*(wait_started(path) for path in logs))
        victim_id = events(logs[0], "worker.started")[0]["worker"]

        async def victim_busy() -> bool:
            counts = await status_counts(pool)
            [[held]] = await fetchall(
                pool,
                "SELECT count(*) FROM backtest_jobs WHERE status = 'running' AND worker_id = %(w)s",
                {"w": victim_id},
            )
            return counts.get("succeeded", 0) >= 100 and held > 0

        await wait_until(victim_busy, timeout=60, interval=0.01)
        children = psutil.Process(victim.pid).children()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        # A statement the victim had already sent still runs to its end on the server (a fenced,
        # valid write); wait for such in-flight writes, but not for its leases, to expire.
        await asyncio.sleep(0.3)
        orphaned = await fetchall(
            pool,
            "SELECT id, lease_expires_at FROM backtest_jobs WHERE status = 'running' AND worker_id = %(w)s",
            {"w": victim_id},
        )
        assert orphaned, "the victim held no jobs when it was killed"

        await wait_until(lambda: all_final(pool), timeout=120, interval=0.2)
        # The victim's backtest processes notice their parent is gone and exit.
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0

    assert await status_counts(pool) == {"succeeded": 500}
    [[results, distinct]] = await fetchall(pool, "SELECT count(*), count(DISTINCT job_id) FROM job_results")
    assert results == distinct == 500
    succeeded = [e["job_id"] for path in logs for e in events(path, "job.succeeded")]
    # No job was reported done twice. (The victim may die between a commit and its log line, so a
    # few of its last jobs can be missing from the logs; the database above is the record.)
    assert len(succeeded) == len(set(succeeded))
    assert set(succeeded) <= {str(j) for j in job_ids}
    assert len(succeeded) >= 500 - 2

    for job_id, lease_expired_at in orphaned:
        state = await queue.get(job_id)
        assert state is not None and state.status == "succeeded" and state.attempts == 2
        assert state.worker_id != victim_id
        # Re-claimed (started_at is set by the claim) only after the victim's lease ran out.
        assert state.started_at is not None and state.started_at >= lease_expired_at


async def test_sigterm_lets_running_jobs_finish_then_exits_zero_and_claims_nothing_more(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    job_ids = await queue.enqueue(user, [job_for(dataset, slow_strategy(8))] * 6)
    log = tmp_path / "worker.log"
    worker = start_worker_process(database_url, str(log), shutdown_grace=15, lease_seconds=3)
    try:
        await wait_started(log)

        async def two_running() -> bool:
            return (await status_counts(pool)).get("running", 0) == 2

        await wait_until(two_running, timeout=30, interval=0.02)
        running = {row[0] for row in await fetchall(pool, "SELECT id FROM backtest_jobs WHERE status = 'running'")}
        worker.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(worker.wait, 120)
    finally:
        if worker.poll() is None:
            worker.kill()

    assert exit_code == 0
    states = {job_id: await queue.get(job_id) for job_id in job_ids}
    for job_id, state in states.items():
        assert state is not None
        if job_id in running:
            assert state.status == "succeeded"
        else:
            assert state.status == "pending" and state.attempts == 0
    [[stopped]] = await fetchall(pool, "SELECT stopped_at FROM workers")
    assert stopped is not None


async def test_sigterm_after_the_grace_period_releases_running_jobs_without_burning_an_attempt(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    job_ids = await queue.enqueue(user, [job_for(dataset, slow_strategy(80))] * 2)
    log = tmp_path / "worker.log"
    worker = start_worker_process(database_url, str(log), shutdown_grace=0.5)
    try:
        await wait_started(log)

        async def both_running() -> bool:
            return (await status_counts(pool)).get("running", 0) == 2

        await wait_until(both_running, timeout=30, interval=0.02)
        worker.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(worker.wait, 120)
    finally:
        if worker.poll() is None:
            worker.kill()

    assert exit_code == 0  # the jobs were released, not waited for: they stay pending, attempts unspent
    for job_id in job_ids:
        state = await queue.get(job_id)
        assert state is not None and state.status == "pending" and state.attempts == 0
    assert len(events(log, "job.pending")) == 2


async def test_a_backtest_process_has_the_parquet_reader_loaded_once_ready(database_url: str) -> None:
    """Regression: every new backtest process paid over a second of pandas/pyarrow imports on its first job."""
    slot = BacktestProcess(0, database_url, 1 << 20, lambda job_id, fraction: None)
    await slot.start()
    try:
        assert slot.pid is not None
        libraries = {mapping.path for mapping in psutil.Process(slot.pid).memory_maps()}
        assert any("libparquet" in path for path in libraries), "the Parquet reader is not loaded"
        assert any("pandas/_libs" in path for path in libraries), "pandas is not loaded"
    finally:
        await slot.stop()
